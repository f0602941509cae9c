"""Scaling by a constant, a learning rate or a schedule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import EmptyState, GradientTransformation, ScalarOrSchedule, identity, with_spec
from gradtx.tree._core import check_updates, safe_increment, zero_count


class ScaleByScheduleState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32: the number of updates so far


def _times(updates: Any, factor: Any) -> Any:
    return jax.tree.map(lambda g: jnp.asarray(factor, dtype=g.dtype) * g, updates)


def scale(step_size: float | jax.Array) -> GradientTransformation:
    r"""Multiplies every update by a constant.

    .. math::

        u_t = s\, g_t

    The sign is kept: ``scale(-lr)`` is a gradient-descent step. Stateless (state
    ``EmptyState()``). Same as ``optax.scale``.

    Args:
        step_size: the factor :math:`s`, a real number or a scalar JAX array (cast to
            each update leaf's dtype). No default.

    Returns:
        A :class:`gradtx.GradientTransformation` with state ``EmptyState()``; each update
        leaf keeps its dtype.

    Raises:
        TypeError: ``step_size`` is a bool or not a real number.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale(-0.1)
        >>> u, _ = tx.update(jnp.array([1.0, -2.0]), tx.init(jnp.zeros(2)))
        >>> [round(x, 4) for x in u.tolist()]
        [-0.1, 0.2]
    """
    _checks.check_number("step_size", step_size)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates)
        return _times(updates, step_size), state

    return with_spec(
        GradientTransformation(lambda params: EmptyState(), update_fn), "scale",
        step_size=step_size
    )


def scale_by_schedule(step_size_fn: Callable[[jax.Array], Any]) -> GradientTransformation:
    r"""Multiplies the updates by a schedule of the step count.

    .. math::

        u_t = s(t)\, g_t, \qquad t = 0, 1, 2, \ldots

    ``t`` counts the updates made so far (the k-th update uses ``schedule(k)``, k from
    0), saturating at ``2**31 - 1``. Same as ``optax.scale_by_schedule``.

    Args:
        step_size_fn: the schedule :math:`s` (optax's parameter name): a gradtx schedule
            or any function of the step (an int32 scalar array) returning a scalar. No
            default.

    Returns:
        A :class:`gradtx.GradientTransformation` with state ``ScaleByScheduleState``
        (``count``: int32 scalar, the updates made so far, as optax's).

    Raises:
        TypeError: ``step_size_fn`` is not callable.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_schedule(lambda t: 1.0 / (t + 1))
        >>> state = tx.init(jnp.zeros(1))
        >>> for _ in range(3):
        ...     u, state = tx.update(jnp.array([6.0]), state)
        ...     print(round(u.tolist()[0], 4))
        6.0
        3.0
        2.0
    """
    schedule = step_size_fn
    if not callable(schedule):
        raise TypeError(
            f"step_size_fn must be callable (a function of the step), got {schedule!r}"
        )

    def init_fn(params):
        del params
        return ScaleByScheduleState(count=zero_count())

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates)
        updates = _times(updates, schedule(state.count))
        return updates, ScaleByScheduleState(count=safe_increment(state.count))

    return with_spec(
        GradientTransformation(init_fn, update_fn), "scale_by_schedule", schedule=schedule
    )


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule | None = None, *, flip_sign: bool = True
) -> GradientTransformation:
    r"""Scales by the negative learning rate (a descent step).

    .. math::

        u_t = -\alpha_t\, g_t \quad (\texttt{flip\_sign=True}), \qquad
        u_t = \alpha_t\, g_t \quad (\texttt{flip\_sign=False})

    with :math:`\alpha_t` the number ``learning_rate`` or the schedule's value at step
    ``t = 0, 1, ...``. ``None`` is the identity (as in optax; gradtx's optimisers reject
    ``None`` instead, see :mod:`gradtx.optimizers`). Same as
    ``optax.scale_by_learning_rate``.

    Args:
        learning_rate: a float ``>= 0`` and finite, a scalar array, or a schedule (a
            callable of the step, such as any :mod:`gradtx.schedules` object); default
            ``None`` (identity).
        flip_sign: keyword-only, default ``True``: multiply by :math:`-\alpha_t`; with
            ``False`` the sign is kept.

    Returns:
        A :class:`gradtx.GradientTransformation`: :func:`scale` (state ``EmptyState()``)
        for a number, :func:`scale_by_schedule` (state ``ScaleByScheduleState``) for a
        schedule, :func:`identity` for ``None`` (optax's state trees).

    Raises:
        ValueError: a negative, NaN or infinite ``learning_rate``.
        TypeError: a non-scalar array or a non-number ``learning_rate``.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_learning_rate(0.1)
        >>> u, _ = tx.update(jnp.array([1.0, -2.0]), tx.init(jnp.zeros(2)))
        >>> [round(x, 4) for x in u.tolist()]
        [-0.1, 0.2]
    """
    if learning_rate is None:
        return identity()
    _checks.learning_rate("learning_rate", learning_rate)
    m = -1 if flip_sign else 1
    if callable(learning_rate):
        tx = scale_by_schedule(lambda count: m * learning_rate(count))
    else:
        tx = scale(m * learning_rate)
    return with_spec(
        tx, "scale_by_learning_rate", learning_rate=learning_rate, flip_sign=flip_sign
    )
