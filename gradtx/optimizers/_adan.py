"""Adan (adaptive Nesterov momentum)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain
from gradtx.transforms import add_decayed_weights, scale_by_adan, scale_by_learning_rate


def adan(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.98,
    b2: float = 0.92,
    b3: float = 0.99,
    eps: float = 1e-8,
    eps_root: float = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    r"""Adan: :math:`p_t = p_{t-1} - \alpha_t (u_t + \lambda p_{t-1})` with

    .. math::
        u_t = \frac{\hat m_t + (1-\beta_2)\hat v_t}{\sqrt{\hat n_t + \epsilon_{root}}
        + \epsilon}

    from :func:`gradtx.scale_by_adan`, and decoupled weight decay (optax's chain
    ``scale_by_adan -> add_decayed_weights -> scale_by_learning_rate``). The paper's
    proximal decay :math:`p_t = (p_{t-1} - \alpha u_t)/(1 + \lambda\alpha)` is not
    offered; it equals this one to first order in :math:`\lambda\alpha`.

    Args:
        learning_rate: a float (>= 0) or a schedule of the step.
        b1, b2, b3: decays of the gradient's, its change's and the squared term's
            averages (defaults 0.98, 0.92, 0.99).
        eps, eps_root: added outside / inside the root (defaults 1e-8, 1e-8).
        weight_decay: decoupled weight decay, a float or schedule (default 0).
        mask: a tree of booleans (or a function of the params): where decay applies.

    Returns:
        A :class:`gradtx.GradientTransformation`; ``update`` needs the params.

    Raises:
        ValueError: a negative ``learning_rate``/epsilon/``weight_decay`` or a decay
            outside ``[0, 1)``.

    Reference: Xie et al., *Adan: Adaptive Nesterov Momentum Algorithm for Faster
    Optimizing Deep Models*, IEEE TPAMI 2024 (arXiv:2208.06677).

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> opt = gradtx.adan(0.1)
        >>> params = jnp.array([1.0, -2.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(jax.grad(lambda x: jnp.sum(x**2))(params), state, params)
        >>> [round(float(v), 3) for v in gradtx.apply_updates(params, updates)]
        [0.9, -1.9]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(
        scale_by_adan(b1, b2, b3, eps, eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


__all__ = ["adan"]
