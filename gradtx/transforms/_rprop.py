"""Rprop: per-parameter step sizes adapted by the sign agreement of successive
gradients (the gradient's magnitude is not used)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation
from gradtx.tree._core import MOMENT, check_updates, compute_dtype, map_outputs, state_like


class ScaleByRpropState(NamedTuple):
    step_sizes: Any  # per-parameter step size, like params (dtype: the state policy)
    prev_updates: Any  # the last step, step_size * sign(g) (0 after a sign change)


def scale_by_rprop(
    learning_rate: float,
    eta_minus: float = 0.5,
    eta_plus: float = 1.2,
    min_step_size: float = 1e-6,
    max_step_size: float = 50.0,
    *,
    lagged: bool = True,
) -> GradientTransformation:
    r"""Rprop's step (iRprop-, the variant torch implements), before the sign flip.

    .. math::
        s_t = g_t\, d_{t-1},\qquad
        \eta_t = \begin{cases}
          \mathrm{clip}(\eta^+ \eta_{t-1}, \eta_{min}, \eta_{max}) & s_t > 0 \\
          \mathrm{clip}(\eta^- \eta_{t-1}, \eta_{min}, \eta_{max}) & s_t < 0 \\
          \eta_{t-1} & s_t = 0
        \end{cases},\qquad
        d_t = \begin{cases} 0 & s_t < 0 \\ \eta_t\,\mathrm{sign}(g_t) & \text{else}
        \end{cases}

    with :math:`\eta_0` = ``learning_rate`` and :math:`d_0 = 0`. With ``lagged=True``
    (the default, optax 0.2.8's numbers) the output is
    :math:`u_t = d_{t-1}` where :math:`s_t \ge 0` and 0 elsewhere: optax returns the
    *previous* step (so its first update is 0). ``lagged=False`` returns
    :math:`u_t = d_t`, torch's ``Rprop`` (which also clips :math:`\eta_t` when
    :math:`s_t = 0`; the two differ only if ``learning_rate`` is outside
    ``[min_step_size, max_step_size]``). The state is the same either way.

    Args:
        learning_rate: the initial step size :math:`\eta_0` (a float > 0; no schedule).
        eta_minus: factor after a sign change, in ``(0, 1]`` (default 0.5).
        eta_plus: factor after a sign agreement, ``>= 1`` (default 1.2).
        min_step_size, max_step_size: bounds of :math:`\eta_t` (defaults 1e-6, 50).
        lagged: keyword-only; True (default) is optax's output, False torch's.

    Returns:
        A :class:`gradtx.GradientTransformation` with state :class:`ScaleByRpropState`
        (optax's fields).

    Raises:
        ValueError: a non-positive ``learning_rate``, ``eta_minus`` outside ``(0, 1]``,
            ``eta_plus < 1``, a negative ``min_step_size`` or
            ``max_step_size < min_step_size``.
        TypeError: a schedule for ``learning_rate``.

    References: Riedmiller & Braun, *A direct adaptive method for faster
    backpropagation learning: the RPROP algorithm*, ICNN 1993; Igel & Huesken,
    *Improving the Rprop learning algorithm*, 2000.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_rprop(0.1, lagged=False)
        >>> state = tx.init(jnp.zeros(2))
        >>> u, state = tx.update(jnp.array([3.0, -1.0]), state)
        >>> u, state = tx.update(jnp.array([2.0, 1.0]), state)
        >>> [round(float(v), 3) for v in u]  # agreement: 0.12; sign change: no step
        [0.12, 0.0]
    """
    if callable(learning_rate):
        raise TypeError(
            f"learning_rate must be a number (Rprop's initial step size), got {learning_rate!r}"
        )
    _checks.positive("learning_rate", learning_rate)
    _checks.check_range("eta_minus", eta_minus, 0.0, 1.0, low_open=True)
    _checks.check_range("eta_plus", eta_plus, 1.0)
    _checks.non_negative("min_step_size", min_step_size)
    _checks.check_range("max_step_size", max_step_size, _checks._concrete(min_step_size))

    def init_fn(params):
        # both follow the state dtype policy (float32 for float16 params: float16 holds
        # min_step_size = 1e-6 only as a subnormal, with 4 significant bits)
        return ScaleByRpropState(
            step_sizes=state_like(params, MOMENT, value=learning_rate),
            prev_updates=state_like(params, MOMENT),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.step_sizes)

        def one(g, step, prev):
            dt = compute_dtype(g, step, prev)
            # the sign of g * prev, without its product (which can underflow to 0 or
            # overflow in a narrow dtype)
            s = jnp.sign(g.astype(dt)) * jnp.sign(prev.astype(dt))
            grown = jnp.clip(
                step.astype(dt) * jnp.where(s > 0, eta_plus, eta_minus),
                min_step_size,
                max_step_size,
            )
            new_step = jnp.where(s == 0, step.astype(dt), grown)
            d = jnp.where(s < 0, 0.0, new_step * jnp.sign(g.astype(dt)))
            new_step, d = new_step.astype(step.dtype), d.astype(prev.dtype)
            u = jnp.where(s < 0, 0.0, prev) if lagged else d
            return u.astype(g.dtype), new_step, d

        trees = (updates, state.step_sizes, state.prev_updates)
        out = map_outputs(one, *trees)
        return out[0], ScaleByRpropState(step_sizes=out[1], prev_updates=out[2])

    return GradientTransformation(init_fn, update_fn)


__all__ = ["ScaleByRpropState", "scale_by_rprop"]
