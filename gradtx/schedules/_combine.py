"""Combinators: linear warmup around any schedule, and joining schedules at boundaries."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from gradtx.schedules._base import (
    Schedule,
    as_float,
    as_schedule,
    boolean,
    increasing,
    integer,
    nested_field,
    schedule_class,
    static_field,
)


@schedule_class
class warmup(Schedule):
    r"""Linear warmup wrapped around any schedule :math:`s`.

    Default (``overlap=False``, the schedule is *shifted*), with :math:`W` =
    ``warmup_steps``:

    .. math::

        \eta_k = \begin{cases}
          \eta_{start} + (s(0) - \eta_{start})\,k/W & k < W \\
          s(k - W) & k \ge W
        \end{cases}

    The warmup adds ``W`` steps in front of ``s``; this is
    ``optax.join_schedules([linear_schedule(start, s(0), W), s], [W])`` (tested) and
    torch's ``SequentialLR([LinearLR(start_factor=start/s(0), total_iters=W), S],
    milestones=[W])`` (by formula).

    ``overlap=True`` (torch's ``ChainedScheduler([LinearLR(opt, start_factor=f0,
    total_iters=W), S])``, :math:`f_0 = \eta_{start}/s(0)`): the warmup eats into
    the schedule,

    .. math::

        \eta_k = s(k)\,\big(f_0 + (1 - f_0)\min(k, W)/W\big);

    then ``warmup_steps`` may not exceed the schedule's length (``horizon``) where it has
    one. If :math:`s(0) = 0`, :math:`f_0 = 0`.

    Args:
      schedule: any gradtx schedule (its leaves become leaves of the warmup), a
        plain callable (static, wrapped in :class:`from_function`) or a float (a
        :class:`constant`).
      warmup_steps: non-negative int :math:`W` (static); 0 is no warmup.
      start_value: :math:`\eta_{start}`, the value at step 0, a real number (a leaf;
        default 0.0).
      overlap: bool (static, default ``False``): shift the schedule by ``W`` steps
        (``False``) or scale its first ``W`` steps (``True``), see above.

    Returns:
      A pytree schedule ``s(step) -> float32`` (the step's shape). Its ``horizon`` is the
      wrapped schedule's plus ``W`` (``overlap=False``) or the wrapped schedule's
      (``overlap=True``); its ``base_value`` is the wrapped schedule's.

    Raises:
      TypeError: ``schedule`` is not a schedule, callable or real number, or
        ``start_value`` is not a real number.
      ValueError: ``warmup_steps`` is not an integer ``>= 0``; ``start_value`` is NaN or
        ``None``; ``overlap`` is not a bool; ``overlap=True`` with ``warmup_steps``
        longer than the schedule's ``horizon``.

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.warmup(schedules.cosine_decay(0.1, decay_steps=10), warmup_steps=5)
      >>> [round(float(s(k)), 4) for k in (0, 2, 5, 10, 15)]
      [0.0, 0.04, 0.1, 0.05, 0.0]
      >>> s.horizon
      15
      >>> s = schedules.warmup(schedules.cosine_decay(0.1, decay_steps=10), 5, overlap=True)
      >>> [round(float(s(k)), 4) for k in (0, 2, 5, 10)]
      [0.0, 0.0362, 0.05, 0.0]

    References:
      Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017
      (gradual warmup).
    """

    schedule: Any = nested_field(check=as_schedule)
    warmup_steps: int = static_field(check=integer(minimum=0))
    start_value: Any = 0.0
    overlap: bool = static_field(default=False, check=boolean)

    def _normalize(self) -> None:
        length = self.schedule.horizon
        if self.overlap and length is not None and self.warmup_steps > length:
            raise ValueError(
                f"warmup_steps={self.warmup_steps} is longer than the schedule it warms up "
                f"(horizon={length}) with overlap=True"
            )

    @property
    def horizon(self) -> int | None:
        length = self.schedule.horizon
        if length is None or self.overlap:
            return length
        return length + self.warmup_steps

    @property
    def base_value(self) -> jax.Array:
        """The warmed-up schedule's base value (not the ``start_value`` it ramps from)."""
        return self.schedule.base_value

    def _value(self, step):
        w = self.warmup_steps
        if w == 0:
            return self.schedule(step)
        frac = as_float(jnp.minimum(step, w)) / w
        first = self.schedule(0)
        if self.overlap:
            zero = first == 0.0
            f0 = jnp.where(zero, 0.0, self.start_value / jnp.where(zero, 1.0, first))
            return self.schedule(step) * (f0 + (1 - f0) * frac)
        ramp = self.start_value + (first - self.start_value) * frac
        return jnp.where(step < w, ramp, self.schedule(step - w))


def _schedule_sequence(name: str, value: Any) -> tuple[Schedule, ...]:
    if isinstance(value, Schedule) or not isinstance(value, Sequence):
        raise ValueError(f"{name} must be a sequence of schedules, got {value!r}")
    if len(value) == 0:
        raise ValueError(f"{name} must hold at least one schedule, got []")
    return tuple(as_schedule(f"{name}[{i}]", s) for i, s in enumerate(value))


@schedule_class
class join(Schedule):
    r"""Schedules in sequence, each from its boundary on (optax ``join_schedules``).

    With boundaries :math:`b_0 < b_1 < \dots < b_{n-2}` and :math:`b_{-1} = 0`:

    .. math::

        \eta_k = s_i(k - b_{i-1}) \quad \text{for } b_{i-1} \le k < b_i,

    ``schedules[0]`` until ``boundaries[0]``, then ``schedules[i]`` evaluated at
    ``k - boundaries[i-1]``. Boundaries are absolute steps; each later schedule sees the
    steps since its own boundary (it starts from its step 0). Same values as
    ``optax.join_schedules`` at steps ``>= 0`` (tested; negative steps are clamped to 0
    here, :func:`gradtx.schedules.join_schedules` keeps optax's values there too);
    torch's ``SequentialLR(opt, schedulers, milestones)`` has the same convention (by
    formula). The schedules' leaves are the join's leaves; the boundaries are static.

    Args:
      schedules: a sequence of ``n >= 1`` schedules (plain callables and floats are
        wrapped as in :class:`warmup`).
      boundaries: ``n - 1`` strictly increasing non-negative ints (static), the absolute
        steps at which the next schedule starts.

    Returns:
      A pytree schedule ``s(step) -> float32`` (the step's shape). Its ``horizon`` is the
      last boundary plus the last schedule's ``horizon`` (``None`` if that has none);
      its ``base_value`` is the largest of the schedules' (the peak of a warmup then a
      decay).

    Raises:
      TypeError: an element of ``schedules`` is not a schedule, callable or real number.
      ValueError: ``schedules`` is not a sequence or is empty; ``boundaries`` are not
        strictly increasing integers ``>= 0``, or not ``len(schedules) - 1`` of them.

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.join(
      ...     [schedules.linear(0.0, 0.1, 5), schedules.cosine_decay(0.1, 10)], boundaries=[5])
      >>> [round(float(s(k)), 4) for k in (0, 2, 5, 10, 15)]
      [0.0, 0.04, 0.1, 0.05, 0.0]
    """

    schedules: tuple[Schedule, ...] = nested_field(check=_schedule_sequence)
    boundaries: tuple[int, ...] = static_field(check=increasing())

    def _normalize(self) -> None:
        if len(self.boundaries) != len(self.schedules) - 1:
            raise ValueError(
                f"boundaries must hold len(schedules) - 1 = {len(self.schedules) - 1} steps, "
                f"got {len(self.boundaries)}: {list(self.boundaries)}"
            )

    @property
    def horizon(self) -> int | None:
        length = self.schedules[-1].horizon
        if length is None:
            return None
        return length + (self.boundaries[-1] if self.boundaries else 0)

    @property
    def base_value(self) -> jax.Array:
        """The largest base value of the joined schedules (a warmup ramp then a decay:
        the peak)."""
        return functools.reduce(jnp.maximum, [s.base_value for s in self.schedules])

    def _value(self, step):
        out = self.schedules[0](step)
        for boundary, schedule in zip(self.boundaries, self.schedules[1:], strict=True):
            out = jnp.where(step < boundary, out, schedule(step - boundary))
        return out
