"""Optimistic gradient: the gradient extrapolated by the change since the last step."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation
from gradtx.tree._core import MOMENT, check_updates, compute_dtype, map_outputs, state_like


class ScaleByOptimisticGradientState(NamedTuple):
    is_initial_step: jax.Array  # shape=(), dtype=bool: no update made yet
    previous_gradient: Any  # g_{t-1}, like params (dtype: the state policy, docs/dtypes.md)


def scale_by_optimistic_gradient(alpha: float = 1.0, beta: float = 1.0) -> GradientTransformation:
    r"""The generalised optimistic gradient.

    .. math::
        u_t = (\alpha + \beta)\, g_t - \beta\, g_{t-1},\qquad g_0 := g_1

    (at the first update the previous gradient is the current one, so
    :math:`u_1 = \alpha g_1`, as in optax). ``alpha = beta = 1`` is optimistic
    gradient descent, :math:`2 g_t - g_{t-1}`.

    Args:
        alpha: the gradient's coefficient (default 1.0, >= 0).
        beta: the "optimism", the coefficient of the gradient's change (default 1.0,
            >= 0).

    Returns:
        A :class:`gradtx.GradientTransformation` with state
        :class:`ScaleByOptimisticGradientState` (optax's fields).

    Raises:
        ValueError: a negative ``alpha`` or ``beta``.

    References: Mokhtari, Ozdaglar & Pattathil, *A Unified Analysis of Extra-gradient
    and Optimistic Gradient Methods for Saddle Point Problems*, AISTATS 2020;
    Daskalakis et al., *Training GANs with Optimism*, ICLR 2018.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_optimistic_gradient()
        >>> state = tx.init(jnp.zeros(1))
        >>> u, state = tx.update(jnp.array([1.0]), state)
        >>> u, state = tx.update(jnp.array([3.0]), state)
        >>> float(u[0])  # 2 * 3 - 1
        5.0
    """
    _checks.non_negative("alpha", alpha)
    _checks.non_negative("beta", beta)

    def init_fn(params):
        return ScaleByOptimisticGradientState(
            is_initial_step=jnp.array(True), previous_gradient=state_like(params, MOMENT)
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.previous_gradient)

        def one(g, prev):
            dt = compute_dtype(g, prev)  # at least float32: 2 g overflows float16 sooner
            before = jnp.where(state.is_initial_step, g.astype(dt), prev.astype(dt))
            u = (alpha + beta) * g.astype(dt) - beta * before
            return u.astype(g.dtype), g.astype(prev.dtype)

        trees = (updates, state.previous_gradient)
        out = map_outputs(one, *trees)
        return out[0], ScaleByOptimisticGradientState(
            is_initial_step=jnp.array(False), previous_gradient=out[1]
        )

    return GradientTransformation(init_fn, update_fn)


__all__ = ["ScaleByOptimisticGradientState", "scale_by_optimistic_gradient"]
