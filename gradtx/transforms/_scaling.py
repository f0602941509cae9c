"""Scaling by a constant, a learning rate or a schedule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx._base import EmptyState, GradientTransformation, ScalarOrSchedule, identity, with_spec
from gradtx._tree import check_updates, safe_increment, zero_count


class ScaleByScheduleState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32: the number of updates so far


def _times(updates: Any, factor: Any) -> Any:
    return jax.tree.map(lambda g: jnp.asarray(factor, dtype=g.dtype) * g, updates)


def scale(step_size: float | jax.Array) -> GradientTransformation:
    """Multiplies every update by a constant: ``u_t = step_size * g_t``.

    The sign is kept: ``scale(-lr)`` is a gradient-descent step. Same as ``optax.scale``.
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
    """Multiplies the updates by ``step_size_fn(t)``: ``u_t = s(t) * g_t``, ``t = 0, 1, ...``.

    ``step_size_fn`` is optax's parameter name (a schedule: a gradtx schedule or any
    function of the step).

    ``t`` counts the updates made so far (the k-th update uses ``schedule(k)``, k from
    0), saturating at ``2**31 - 1``. Same as ``optax.scale_by_schedule``.
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
    """Scales by the negative learning rate: ``u_t = -lr(t) * g_t``.

    ``learning_rate`` is a float (``>= 0``) or a schedule (a callable of the step, such
    as any :mod:`gradtx.schedules` object). ``None`` is the identity. With
    ``flip_sign=False`` the sign is kept. Same as ``optax.scale_by_learning_rate``.
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
