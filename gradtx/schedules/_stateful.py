"""optax's stateful-schedule protocol (``optax.schedules.StatefulSchedule``) and its
wrapper of a plain schedule (``optax.schedules.WrappedSchedule``), same names, methods and
state tree. gradtx's own schedules are stateless pytrees evaluated at the step count."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax

from gradtx.schedules._inject_state import WrappedScheduleState
from gradtx.tree._core import safe_increment, zero_count


@runtime_checkable
class StatefulSchedule(Protocol):
    """A schedule that carries its own state (optax's protocol): ``init() -> state``,
    ``update(state, **extra_args) -> state`` once per optimiser step, and
    ``__call__(state, **extra_args) -> value`` (the value for the current step).

    Example:
        >>> import gradtx
        >>> isinstance(gradtx.schedules.WrappedSchedule(lambda k: 0.1), \
gradtx.schedules.StatefulSchedule)
        True
    """

    def init(self) -> Any:
        """The initial state."""

    def update(self, state: Any, **extra_args: Any) -> Any:
        """The state after one more step."""

    def __call__(self, state: Any, **extra_args: Any) -> jax.typing.ArrayLike:
        """The value at ``state``."""


class WrappedSchedule:
    r"""A stateless schedule ``f(count)`` as a :class:`StatefulSchedule`: its state is
    ``WrappedScheduleState(count)`` (``count = 0`` after ``init``, ``+1`` per
    ``update``, saturating at the int32 maximum) and its value is ``f(count)``. Same as
    ``optax.schedules.WrappedSchedule`` (state tree included).

    Args:
        schedule_fn: any schedule ``count -> value`` (a gradtx schedule, an optax one,
            a plain function).

    Example:
        >>> import gradtx
        >>> s = gradtx.schedules.WrappedSchedule(gradtx.schedules.linear_schedule(1.0, 0.0, 4))
        >>> state = s.init()
        >>> state = s.update(s.update(state))
        >>> int(state.count), float(s(state))
        (2, 0.5)
    """

    def __init__(self, schedule_fn: Any) -> None:
        if not callable(schedule_fn):
            raise TypeError(f"schedule_fn must be callable, got {schedule_fn!r}")
        self.schedule_fn = schedule_fn

    def init(self) -> WrappedScheduleState:
        return WrappedScheduleState(count=zero_count())

    def update(self, state: WrappedScheduleState, **extra_args: Any) -> WrappedScheduleState:
        del extra_args
        return WrappedScheduleState(count=safe_increment(state.count))

    def __call__(self, state: WrappedScheduleState, **extra_args: Any) -> jax.typing.ArrayLike:
        del extra_args
        return self.schedule_fn(state.count)


__all__ = ["StatefulSchedule", "WrappedSchedule"]
