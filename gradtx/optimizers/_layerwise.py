"""Layer-wise (per-block) optimisers: LARS, LAMB and Fromage, each a chain of the trust
ratio of :func:`gradtx.scale_by_trust_ratio` with the classic building blocks.

Signatures, defaults, numbers and state trees equal optax's aliases of the same names
(tested to rtol 1e-5; the state trees have optax's nesting and field names, so
checkpoints move both ways). As in optax, a float ``weight_decay`` keeps no state, a
schedule keeps a step count, and a mask wraps the link's state in ``inner_state``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import EmptyState, GradientTransformation, ScalarOrSchedule, chain
from gradtx.transforms import (
    WeightDecayState,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_trust_ratio,
    trace,
)
from gradtx.transforms._masking import MaskedState
from gradtx.transforms._modifiers import _full_mask
from gradtx.tree._core import check_same_tree, check_updates, safe_increment, zero_count

MaskOrFn = Any | Callable[[Any], Any] | None


# The state of a masked link is gradtx's MaskedState, optax's class name and fields (a
# checkpoint's tree and the state's type names both match optax.lars / optax.lamb);
# MaskedLinkState is its former name, kept as an alias.
MaskedLinkState = MaskedState


def _masked(inner: GradientTransformation, mask: Any) -> GradientTransformation:
    """``inner`` on the leaves where ``mask`` is True; other leaves pass through.

    Only for links that act leaf by leaf (the trust ratio, weight decay): ``inner`` runs
    on the whole tree and the mask selects, which is what ``optax.masked`` gives for them.
    """

    def init_fn(params):
        return MaskedLinkState(inner_state=inner.init(params))

    def update_fn(updates, state, params=None, **extra_args):
        new, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
        full = _full_mask(mask, updates if params is None else params)

        def pick(m, n, o):
            if m is True:
                return n
            if m is False:
                return o
            return jnp.where(m, n, o)

        return jax.tree.map(pick, full, new, updates), MaskedLinkState(inner_state)

    return GradientTransformation(init_fn, update_fn)


def _decayed_weights(weight_decay: ScalarOrSchedule, mask: MaskOrFn) -> GradientTransformation:
    """``u + lambda_t p`` with optax's state tree (EmptyState for a number, a count for
    a schedule, wrapped in ``inner_state`` when masked). ``lambda`` may be negative
    (Fromage's shrinkage ``1/sqrt(1 + lr^2) - 1``)."""

    def init_fn(params):
        del params
        return WeightDecayState(count=zero_count()) if callable(weight_decay) else EmptyState()

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError("weight decay needs the params: call update(updates, state, params)")
        check_updates(updates)
        check_same_tree(updates, params, against="params")
        if callable(weight_decay):
            wd, state = weight_decay(state.count), WeightDecayState(safe_increment(state.count))
        elif isinstance(weight_decay, (int, float)) and weight_decay == 0.0:
            return updates, state
        else:
            wd = weight_decay
        return jax.tree.map(
            lambda g, p: g + jnp.asarray(wd, g.dtype) * p.astype(g.dtype), updates, params
        ), state

    tx = GradientTransformation(init_fn, update_fn)
    return tx if mask is None else _masked(tx, mask)


def _check_weight_decay(weight_decay: Any) -> None:
    if not callable(weight_decay):
        _checks.non_negative("weight_decay", weight_decay)


def lamb(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-6,
    eps_root: float = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""LAMB: Adam's step plus decoupled weight decay, rescaled per block by the trust
    ratio.

    .. math::
        r_t = \frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{root}} + \epsilon} + \lambda p_{t-1},
        \qquad
        p_t = p_{t-1} - \eta_t \frac{\lVert p_{t-1} \rVert}{\lVert r_t \rVert} r_t

    per block (leaf), with Adam's bias-corrected moments (:func:`gradtx.scale_by_adam`)
    and the trust ratio of :func:`gradtx.scale_by_trust_ratio` (1 where either norm is
    0). Chain: ``scale_by_adam, add_decayed_weights(weight_decay, mask),
    scale_by_trust_ratio, scale_by_learning_rate``, as optax's ``lamb``.

    Args:
        learning_rate: ``eta``, a float or a schedule of the step count.
        b1: first-moment decay (default 0.9), in ``[0, 1)``.
        b2: second-moment decay (default 0.999), in ``[0, 1)``.
        eps: added outside the square root (default 1e-6, the paper's).
        eps_root: added inside the square root (default 0.0).
        weight_decay: ``lambda`` (default 0.0), a float ``>= 0`` or a schedule.
        mask: a tree of booleans like the params (or a prefix, or a function of the
            params returning one): weight decay only where True. Default None: all.

    Returns:
        A :class:`gradtx.GradientTransformation`; its ``update`` needs the params.

    Raises:
        ValueError: a hyperparameter out of range (negative ``learning_rate``,
            ``weight_decay`` or ``eps``, ``b1``/``b2`` outside ``[0, 1)``).

    Reference: You et al., *Large Batch Optimization for Deep Learning: Training BERT in
    76 minutes*, ICLR 2020.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.lamb(0.1, weight_decay=0.01)
        >>> params = {"w": jnp.array([3.0, 4.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([1.0, -1.0])}, state, params)
        >>> params = gradtx.apply_updates(params, updates)
        >>> bool(params["w"][0] < 3.0)
        True
    """
    _checks.learning_rate("learning_rate", learning_rate)
    _check_weight_decay(weight_decay)
    return chain(
        scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root),
        _decayed_weights(weight_decay, mask),
        scale_by_trust_ratio(),
        scale_by_learning_rate(learning_rate),
    )


def lars(
    learning_rate: ScalarOrSchedule,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn = True,
    trust_coefficient: float = 0.001,
    eps: float = 0.0,
    trust_ratio_mask: MaskOrFn = True,
    momentum: float = 0.9,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""LARS: SGD with momentum whose step is rescaled per block (layer) by the trust
    ratio.

    .. math::
        d_t = g_t + \lambda p_{t-1},\quad
        s_t = -\eta_t \frac{c \lVert p_{t-1} \rVert}{\lVert d_t \rVert + \epsilon} d_t,\quad
        v_t = s_t + \mu v_{t-1},\quad p_t = p_{t-1} + v_t

    per block (leaf) with ``c`` the ``trust_coefficient`` (the ratio is 1 where either
    norm is 0); Nesterov: ``p_t = p_{t-1} + s_t + \mu v_t``. Chain, as optax's ``lars``:
    ``add_decayed_weights(weight_decay, weight_decay_mask)``, the trust ratio masked by
    ``trust_ratio_mask`` (commonly False for biases and norms), the learning rate, then
    :func:`gradtx.trace` (momentum on the scaled step).

    Args:
        learning_rate: ``eta``, a float or a schedule of the step count.
        weight_decay: ``lambda`` (default 0.0), a float ``>= 0`` or a schedule.
        weight_decay_mask: where to apply weight decay (default True: everywhere); a
            tree of booleans like the params, a prefix of one, or a function of the params.
        trust_coefficient: ``c`` (default 0.001, the paper's), ``>= 0``.
        eps: added to the denominator of the trust ratio (default 0.0), ``>= 0``.
        trust_ratio_mask: where to apply the trust ratio (default True), as
            ``weight_decay_mask``.
        momentum: ``mu`` (default 0.9), in ``[0, 1)``.
        nesterov: Nesterov momentum (default False).

    Returns:
        A :class:`gradtx.GradientTransformation`; its ``update`` needs the params.

    Raises:
        ValueError: a hyperparameter out of range.

    Reference: You, Gitman & Ginsburg, *Large Batch Training of Convolutional Networks*,
    arXiv:1708.03888, 2017.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.lars(1.0, weight_decay=1e-4)
        >>> params = {"w": jnp.array([3.0, 4.0]), "b": jnp.zeros(2)}
        >>> state = opt.init(params)
        >>> grads = {"w": jnp.array([1.0, 0.0]), "b": jnp.ones(2)}
        >>> updates, state = opt.update(grads, state, params)
        >>> round(float(updates["w"][0]), 6)  # -lr * 0.001 * 5 / ||g + wd p|| * (g + wd p)
        -0.005
    """
    _checks.learning_rate("learning_rate", learning_rate)
    _check_weight_decay(weight_decay)
    _checks.decay_rate("momentum", momentum)
    return chain(
        _decayed_weights(weight_decay, weight_decay_mask),
        _masked(
            scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps), trust_ratio_mask
        ),
        scale_by_learning_rate(learning_rate),
        trace(momentum, nesterov),
    )


def fromage(learning_rate: ScalarOrSchedule, min_norm: float = 1e-6) -> GradientTransformation:
    r"""Fromage (Frobenius matched gradient descent): a step of relative size ``eta`` in
    each block, then a shrinkage that keeps the parameter norms from growing.

    .. math::
        p_t = \frac{1}{\sqrt{1 + \eta_t^2}} \Big(p_{t-1} - \eta_t
        \frac{\max(\lVert p_{t-1}\rVert, n)}{\max(\lVert g_t\rVert, n)} g_t\Big)

    per block (leaf), ``n`` = ``min_norm``. Chain, as optax's ``fromage``:
    ``scale_by_trust_ratio(min_norm)``, the learning rate ``eta / sqrt(1 + eta^2)``,
    and decayed weights with the factor ``1/sqrt(1 + eta^2) - 1``.

    Args:
        learning_rate: ``eta``, a float or a schedule of the step count (the paper
            suggests 0.01).
        min_norm: the floor of both norms (default 1e-6), ``>= 0``.

    Returns:
        A :class:`gradtx.GradientTransformation`; its ``update`` needs the params.

    Raises:
        ValueError: a negative ``learning_rate`` or ``min_norm``.

    Reference: Bernstein et al., *On the distance between two neural networks and the
    stability of learning*, NeurIPS 2020.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.fromage(0.01)
        >>> params = {"w": jnp.array([3.0, 4.0])}
        >>> updates, _ = opt.update({"w": jnp.array([1.0, 0.0])}, opt.init(params), params)
        >>> [round(x, 5) for x in updates["w"].tolist()]
        [-0.05015, -0.0002]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    if callable(learning_rate):

        def mult(count):
            return 1 / (1 + learning_rate(count) ** 2) ** 0.5

        step = scale_by_learning_rate(lambda c: mult(c) * learning_rate(c))
        shrink = _decayed_weights(lambda c: mult(c) - 1, None)
    else:
        m = 1 / (1 + learning_rate**2) ** 0.5
        step, shrink = scale_by_learning_rate(learning_rate * m), _decayed_weights(m - 1, None)
    return chain(scale_by_trust_ratio(min_norm), step, shrink)


__all__ = ["MaskedLinkState", "fromage", "lamb", "lars"]
