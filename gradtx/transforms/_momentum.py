"""Momentum: the heavy-ball trace and Nesterov's variant."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation, with_spec
from gradtx.tree._core import MOMENT, check_updates, compute_dtype, map_outputs, state_like


class TraceState(NamedTuple):
    trace: Any  # like params (dtype: accumulator_dtype or the state policy, docs/dtypes.md)


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
      decay: ``beta`` in ``[0, 1)`` (a float or a scalar array); no default.
      nesterov: use Nesterov's look-ahead form (default ``False``).
      accumulator_dtype: storage dtype of the trace. Default ``None``: the state dtype
        policy (docs/dtypes.md): the parameters' dtype, but float32 for float16 parameters,
        whose range (65504) a momentum sum ``g / (1 - beta)`` leaves for ``|g| > 6550``.
        A real dtype for a complex parameter means the complex dtype of that precision.

    Returns:
      The :class:`gradtx.GradientTransformation`, with state ``TraceState`` (``trace``:
      :math:`v_t`, a tree like the params, as optax's). Its updates are in the wider
      of the gradient's and the trace's dtype (as in optax), so a momentum step of
      float16 parameters, held in float32, does not overflow before the learning rate
      scales it;
      :func:`gradtx.apply_updates` casts the sum back to the parameters' dtype.

    Raises:
      ValueError: ``decay`` outside ``[0, 1)``.
      TypeError: ``accumulator_dtype`` is not a floating dtype.

    References: Polyak, *Some methods of speeding up the convergence of iteration
    methods*, 1964; Sutskever et al., *On the importance of initialization and momentum
    in deep learning*, ICML 2013.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.trace(0.9)
        >>> state = tx.init(jnp.zeros(2))
        >>> for _ in range(2):  # v_1 = g, v_2 = g + 0.9 g
        ...     u, state = tx.update(jnp.array([1.0, -2.0]), state)
        >>> [round(x, 4) for x in u.tolist()]
        [1.9, -3.8]
        >>> tx = gradtx.trace(0.9, nesterov=True)
        >>> u, _ = tx.update(jnp.array([1.0, -2.0]), tx.init(jnp.zeros(2)))
        >>> [round(x, 4) for x in u.tolist()]  # g + 0.9 v_1
        [1.9, -3.8]
    """
    _checks.decay_rate("decay", decay)
    accumulator_dtype = _checks.state_dtype("accumulator_dtype", accumulator_dtype)

    def init_fn(params):
        return TraceState(trace=state_like(params, MOMENT, accumulator_dtype))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.trace)

        def one(g, t):
            dt = compute_dtype(g, t)
            v = g.astype(dt) + decay * t.astype(dt)
            u = g.astype(dt) + decay * v if nesterov else v
            return u.astype(jnp.promote_types(g.dtype, t.dtype)), v.astype(t.dtype)

        new_updates, new_trace = map_outputs(one, updates, state.trace)
        return new_updates, TraceState(trace=new_trace)

    return with_spec(
        GradientTransformation(init_fn, update_fn), "trace", decay=decay, nesterov=nesterov,
        accumulator_dtype=accumulator_dtype
    )
