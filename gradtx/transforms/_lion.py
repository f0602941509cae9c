"""Lion: the sign of an interpolation between the momentum and the gradient."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation, with_spec
from gradtx.tree._core import (
    MOMENT,
    check_updates,
    compute_dtype,
    ema,
    map_outputs,
    safe_increment,
    state_like,
    zero_count,
)

_LION_MODES = ("hard", "smooth", "refined")


class ScaleByLionState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32: updates made so far
    mu: Any  # momentum m_t, like params (dtype: mu_dtype or the state policy)


def scale_by_lion(
    b1: float = 0.9,
    b2: float = 0.99,
    mu_dtype: Any | None = None,
    *,
    mode: Literal["hard", "smooth", "refined"] = "hard",
    smooth_beta: float = 1.0,
) -> GradientTransformation:
    r"""Lion's scaling: the sign of an interpolation of the momentum and the gradient.

    .. math::
        c_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad u_t = \mathrm{sign}(c_t),\qquad
        m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t

    ``mode="smooth"`` replaces the sign by :math:`\tanh(\beta_s c_t)`
    (``smooth_beta``); ``mode="refined"`` keeps :math:`c_t` where
    :math:`|c_t| < 1` and its sign elsewhere (optax's variants).

    Args:
        b1: interpolation weight of the momentum in :math:`c_t`, in ``[0, 1)``
            (default 0.9).
        b2: decay of the momentum :math:`m_t`, in ``[0, 1)`` (default 0.99).
        mu_dtype: storage dtype of the momentum (default ``None``: the state dtype policy,
            docs/dtypes.md: the params' dtype, float32 for float16 params).
        mode: ``"hard"`` (default), ``"smooth"`` or ``"refined"``.
        smooth_beta: the tanh's slope for ``mode="smooth"`` (default 1.0, > 0).

    Returns:
        A :class:`gradtx.GradientTransformation` whose state is
        :class:`ScaleByLionState` (optax's field names).

    Raises:
        ValueError: ``b1``/``b2`` outside ``[0, 1)``, an unknown ``mode`` or a
            non-positive ``smooth_beta``.

    Defaults equal optax's ``scale_by_lion`` and the paper's.

    Reference: Chen et al., *Symbolic Discovery of Optimization Algorithms*, NeurIPS 2023.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_lion()
        >>> u, state = tx.update(jnp.array([0.5, -2.0, 0.0]), tx.init(jnp.zeros(3)))
        >>> u
        Array([ 1., -1.,  0.], dtype=float32)
    """
    _checks.decay_rate("b1", b1)
    _checks.decay_rate("b2", b2)
    if mode not in _LION_MODES:
        raise ValueError(f"mode must be one of {_LION_MODES}, got {mode!r}")
    _checks.positive("smooth_beta", smooth_beta)
    mu_dtype = _checks.state_dtype("mu_dtype", mu_dtype)

    def direction(c):
        if mode == "hard":
            return jnp.sign(c)
        if mode == "smooth":
            return jnp.tanh(smooth_beta * c)
        return jnp.where(jnp.abs(c) < 1.0, c, jnp.sign(c))

    def init_fn(params):
        return ScaleByLionState(count=zero_count(), mu=state_like(params, MOMENT, mu_dtype))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.mu)

        def one(g, m):
            dt = compute_dtype(g, m)
            c = (1 - b1) * g.astype(dt) + b1 * m.astype(dt)
            return direction(c).astype(g.dtype), ema(g, m, b2, 1).astype(m.dtype)

        out = map_outputs(one, updates, state.mu)
        return out[0], ScaleByLionState(count=safe_increment(state.count), mu=out[1])

    return with_spec(
        GradientTransformation(init_fn, update_fn), "scale_by_lion", b1=b1, b2=b2,
        mu_dtype=mu_dtype, mode=mode, smooth_beta=smooth_beta
    )


__all__ = ["ScaleByLionState", "scale_by_lion"]
