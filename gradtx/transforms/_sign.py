"""The sign of the update (signSGD) and the un-debiased moving average that Signum
takes the sign of."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import EmptyState, GradientTransformation
from gradtx.tree._core import (
    MOMENT,
    check_updates,
    ema,
    map_outputs,
    safe_increment,
    state_like,
    zero_count,
)


def scale_by_sign() -> GradientTransformation:
    r"""The element-wise sign of the update: :math:`u_t = \mathrm{sign}(g_t)` (0 at 0).

    Args:
        (none)

    Returns:
        A stateless :class:`gradtx.GradientTransformation` (state ``EmptyState()``,
        as optax's ``scale_by_sign``).

    Raises:
        TypeError: at ``update``, for a non-float gradient leaf.

    Reference: Bernstein et al., *signSGD: Compressed Optimisation for Non-Convex
    Problems*, ICML 2018.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_sign()
        >>> u, _ = tx.update(jnp.array([0.3, -2.0, 0.0]), tx.init(None))
        >>> [float(v) for v in u]
        [1.0, -1.0, 0.0]
    """

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates)
        # per part for a complex leaf (the real split's signs), as every elementwise rule
        signs = map_outputs(lambda g: (jnp.sign(g),), updates)
        return (signs[0] if signs else updates), state

    return GradientTransformation(lambda params: EmptyState(), update_fn)


class EmaState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32: updates made so far
    ema: Any  # the moving average m_t, like params (accumulator_dtype or the state policy)


def ema_no_debias(decay: float, accumulator_dtype: Any | None = None) -> GradientTransformation:
    """``m_t = decay m_{t-1} + (1-decay) g_t``, ``u_t = m_t``: optax's
    ``ema(decay, debias=False, accumulator_dtype)`` with its state (``EmaState``)."""
    _checks.decay_rate("beta", decay)
    acc = _checks.state_dtype("accumulator_dtype", accumulator_dtype)

    def init_fn(params):
        return EmaState(count=zero_count(), ema=state_like(params, MOMENT, acc))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.ema)

        def one(g, m):
            m_new = ema(g, m, decay, 1)
            return m_new.astype(g.dtype), m_new.astype(m.dtype)

        out = map_outputs(one, updates, state.ema)
        return out[0], EmaState(count=safe_increment(state.count), ema=out[1])

    return GradientTransformation(init_fn, update_fn)


__all__ = ["EmaState", "ema_no_debias", "scale_by_sign"]
