"""Adan: adaptive Nesterov momentum (moments of the gradient, of its change, and of the
Nesterov-extrapolated gradient's square)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation
from gradtx.tree._core import (
    MOMENT,
    SQUARED,
    bias_correction,
    check_updates,
    compute_dtype,
    ema,
    map_outputs,
    safe_increment,
    state_like,
    zero_count,
)


class ScaleByAdanState(NamedTuple):
    m: Any  # EMA of the gradient, like params (dtype: the state policy, docs/dtypes.md)
    v: Any  # EMA of the gradient's change g_t - g_{t-1}, like params
    n: Any  # EMA of (g_t + (1-b2)(g_t - g_{t-1}))^2, like params
    g: Any  # the previous gradient g_{t-1}, like params
    t: jax.Array  # shape=(), dtype=int32: updates made so far (optax's name)


def scale_by_adan(
    b1: float = 0.98,
    b2: float = 0.92,
    b3: float = 0.99,
    eps: float = 1e-8,
    eps_root: float = 0.0,
) -> GradientTransformation:
    r"""Adan's scaling.

    .. math::
        \Delta_t = g_t - g_{t-1}\ (\Delta_1 = 0),\quad
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) \Delta_t,

    .. math::
        n_t = \beta_3 n_{t-1} + (1-\beta_3)\big(g_t + (1-\beta_2)\Delta_t\big)^2,\quad
        u_t = \frac{\hat m_t + (1-\beta_2)\hat v_t}{\sqrt{\hat n_t + \epsilon_{root}} + \epsilon}

    with each average bias-corrected (:math:`\hat x_t = x_t/(1-\beta^t)`), as optax
    implements it (the paper's decays are :math:`1-\beta` in this notation, and its
    code bias-corrects the same way).

    Args:
        b1: decay of the gradient's EMA (default 0.98).
        b2: decay of the gradient change's EMA (default 0.92).
        b3: decay of the squared term's EMA (default 0.99).
        eps: added to the root (default 1e-8).
        eps_root: added inside the root (default 0; the alias :func:`gradtx.adan`
            uses 1e-8, as optax).

    Returns:
        A :class:`gradtx.GradientTransformation` with state :class:`ScaleByAdanState`
        (optax's fields and order: ``m, v, n, g, t``).

    Raises:
        ValueError: a decay outside ``[0, 1)`` or a negative epsilon.

    Reference: Xie et al., *Adan: Adaptive Nesterov Momentum Algorithm for Faster
    Optimizing Deep Models*, IEEE TPAMI 2024 (arXiv:2208.06677, Algorithm 1).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_adan()
        >>> u, state = tx.update(jnp.array([2.0, -0.5]), tx.init(jnp.zeros(2)))
        >>> [round(float(v), 3) for v in u]  # the first step is sign(g)
        [1.0, -1.0]
    """
    for name, b in (("b1", b1), ("b2", b2), ("b3", b3)):
        _checks.decay_rate(name, b)
    _checks.non_negative("eps", eps)
    _checks.non_negative("eps_root", eps_root)

    def init_fn(params):
        # four buffers, not one shared: a donated state must not hold one buffer twice. All
        # four follow the state dtype policy (float32 for float16 params): the previous
        # gradient is stored exactly, and g_t - g_{t-1} is formed in float32 anyway.
        return ScaleByAdanState(m=state_like(params, MOMENT), v=state_like(params, MOMENT),
                                n=state_like(params, SQUARED), g=state_like(params, MOMENT),
                                t=zero_count())

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.g)
        t = safe_increment(state.t)
        c1, c2, c3 = (bias_correction(b, t) for b in (b1, b2, b3))

        def one(g, m, v, n, g_prev):
            dt = compute_dtype(g, m)
            g32 = g.astype(dt)
            diff = jnp.where(state.t == 0, 0.0, g32 - g_prev.astype(dt))
            m_new, v_new = ema(g32, m, b1, 1), ema(diff, v, b2, 1)
            n_new = ema(g32 + (1 - b2) * diff, n, b3, 2)
            u = (m_new / c1 + (1 - b2) * v_new / c2) / (jnp.sqrt(n_new / c3 + eps_root) + eps)
            return (
                u.astype(g.dtype),
                m_new.astype(m.dtype),
                v_new.astype(v.dtype),
                n_new.astype(n.dtype),
                g.astype(g_prev.dtype),
            )

        trees = (updates, state.m, state.v, state.n, state.g)
        out = map_outputs(one, *trees)
        return out[0], ScaleByAdanState(m=out[1], v=out[2], n=out[3], g=out[4], t=t)

    return GradientTransformation(init_fn, update_fn)


__all__ = ["ScaleByAdanState", "scale_by_adan"]
