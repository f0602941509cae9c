"""Momentum: the heavy-ball trace and Nesterov's variant."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx._base import GradientTransformation, with_spec
from gradtx._tree import cast, check_updates, compute_dtype, map_outputs, zeros_like


class TraceState(NamedTuple):
    trace: Any  # like params (dtype accumulator_dtype or the params')


def trace(
    decay: float | jax.Array, nesterov: bool = False, accumulator_dtype: Any | None = None
) -> GradientTransformation:
    r"""Momentum (Polyak 1964) or Nesterov momentum (Sutskever et al. 2013).

    .. math::
        v_t = g_t + \beta v_{t-1}, \qquad
        u_t = v_t \ \text{(heavy ball)} \quad\text{or}\quad u_t = g_t + \beta v_t
        \ \text{(Nesterov)}

    with ``v_0 = 0``. This is torch's SGD ``momentum``/``nesterov`` convention (no
    dampening) and optax's ``trace``; chained before ``scale_by_learning_rate(lr)`` it
    gives ``p -= lr * u_t``.

    Args:
      decay: ``beta`` in ``[0, 1)``.
      nesterov: use Nesterov's look-ahead form.
      accumulator_dtype: dtype of the trace (default: the parameters').

    References: Polyak, *Some methods of speeding up the convergence of iteration
    methods*, 1964; Sutskever et al., *On the importance of initialization and momentum
    in deep learning*, ICML 2013.
    """
    _checks.decay_rate("decay", decay)
    accumulator_dtype = None if accumulator_dtype is None else jnp.dtype(accumulator_dtype)

    def init_fn(params):
        return TraceState(trace=zeros_like(params, accumulator_dtype))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.trace)

        def one(g, t):
            v = g.astype(compute_dtype(g, t)) + decay * t.astype(compute_dtype(g, t))
            u = g + decay * v if nesterov else v
            return u.astype(g.dtype), v.astype(t.dtype)

        new_updates, new_trace = map_outputs(one, updates, state.trace) or (updates, state.trace)
        return new_updates, TraceState(trace=cast(new_trace, accumulator_dtype))

    return with_spec(
        GradientTransformation(init_fn, update_fn), "trace", decay=decay, nesterov=nesterov,
        accumulator_dtype=accumulator_dtype
    )
