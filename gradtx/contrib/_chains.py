"""What the constructors of the Adam-like contrib optimisers (ACProp, AdEMAMix, simplified
AdEMAMix, GaLore, Sophia) share: the argument check of an Adam-like scaling and optax's
alias chain "scaling, decoupled weight decay, learning rate"."""

from __future__ import annotations

from typing import Any

from gradtx import _checks
from gradtx.base import GradientTransformation, chain
from gradtx.transforms._adam import _check_moments
from gradtx.transforms._modifiers import add_decayed_weights
from gradtx.transforms._scaling import scale_by_learning_rate


def check_adam_like(name: str, b1: Any, b2: Any, eps: Any, eps_root: Any) -> None:
    """Adam's checks (``b1``, ``b2`` in ``[0, 1)``, ``eps``, ``eps_root >= 0``) and a
    ``ValueError`` naming ``name`` when ``eps = eps_root = 0`` (a zero denominator)."""
    _check_moments(b1, b2, eps, eps_root)
    _checks.nonzero_denominator(name, eps=eps, eps_root=eps_root)


def decoupled_decay_chain(
    scaling: GradientTransformation, learning_rate: Any, weight_decay: Any, mask: Any
) -> GradientTransformation:
    r"""``chain(scaling, add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate))``: :math:`-\eta_t (s_t + \lambda p_{t-1})`,
    the weight decay decoupled from the scaling and multiplied by the learning rate (the
    state tree ``(scaling state, weight-decay state, lr state)``, as optax's aliases).
    Checks ``learning_rate``."""
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(
        scaling,
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
