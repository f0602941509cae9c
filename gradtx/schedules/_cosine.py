"""Cosine schedules: torch's CosineAnnealingLR and SGDR, optax's cosine decays."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx.schedules._base import (
    _INT32_MAX,
    Schedule,
    as_float,
    check_int,
    schedule_class,
    static_field,
)


def _half_cosine(frac):
    """``(1 + cos(pi * frac)) / 2``: 1 at ``frac = 0``, 0 at ``frac = 1``."""
    return 0.5 * (1 + jnp.cos(jnp.pi * frac))


@schedule_class
class cosine_annealing(Schedule):
    r"""Cosine annealing (torch ``CosineAnnealingLR``, Loshchilov & Hutter, 2017):
    :math:`\eta_k = \eta_{min} + (\eta_0 - \eta_{min})\,\tfrac12(1 + \cos(\pi k / T_{max}))`.

    torch's closed form, evaluated for every ``k``: like torch, the cosine *continues
    past* ``T_max`` (the value climbs back to ``init_value`` at ``2 T_max``, period
    ``2 T_max``). For a value that stays at the floor after ``T_max`` use
    :class:`cosine_decay` (optax's ``cosine_decay_schedule``): for ``k <= T_max``,
    ``cosine_annealing(a, T, m) == cosine_decay(a, T, alpha=m / a)``.

    Args:
      init_value: :math:`\eta_0` (torch's base lr).
      T_max: positive int, the half period (static).
      eta_min: the minimum value (default 0.0).

    Example::

        s = cosine_annealing(0.1, T_max=100, eta_min=1e-4)
    """

    init_value: Any
    T_max: int = static_field()
    eta_min: Any = 0.0

    def _normalize(self) -> None:
        _checks.check_range("init_value", self.init_value)
        self._set("T_max", check_int("T_max", self.T_max))
        _checks.check_range("eta_min", self.eta_min)

    @property
    def horizon(self) -> int:
        return self.T_max

    def _value(self, step):
        return self.eta_min + (self.init_value - self.eta_min) * _half_cosine(
            as_float(step) / self.T_max
        )


@schedule_class
class cosine_decay(Schedule):
    r"""Cosine decay held flat after ``decay_steps`` (optax ``cosine_decay_schedule``):
    :math:`\eta_k = \eta_0\,[(1-\alpha)\,c_k^{e} + \alpha]`,
    :math:`c_k = \tfrac12(1+\cos(\pi \min(k, T)/T))`.

    Same values as ``optax.cosine_decay_schedule`` (tested). Unlike torch's
    ``CosineAnnealingLR`` (:class:`cosine_annealing`), the value stays at
    ``alpha * init_value`` for ``k >= decay_steps``.

    Args:
      init_value: :math:`\eta_0`.
      decay_steps: positive int :math:`T` (static).
      alpha: the final value as a fraction of ``init_value`` (default 0.0).
      exponent: :math:`e` (default 1.0).

    Example::

        s = cosine_decay(0.1, decay_steps=1000, alpha=0.01)
    """

    init_value: Any
    decay_steps: int = static_field()
    alpha: Any = 0.0
    exponent: Any = 1.0

    def _normalize(self) -> None:
        _checks.check_range("init_value", self.init_value)
        self._set("decay_steps", check_int("decay_steps", self.decay_steps))
        _checks.check_range("alpha", self.alpha)
        _checks.positive("exponent", self.exponent)

    @property
    def horizon(self) -> int:
        return self.decay_steps

    def _value(self, step):
        count = jnp.minimum(as_float(step), float(self.decay_steps))
        cosine = _half_cosine(count / float(self.decay_steps))
        return self.init_value * ((1 - self.alpha) * cosine**self.exponent + self.alpha)


@schedule_class
class warmup_cosine_decay(Schedule):
    r"""Linear warmup then cosine decay (optax ``warmup_cosine_decay_schedule``).

    For :math:`k < W`: :math:`\eta_k = \eta_{init} + (\eta_{peak} - \eta_{init})\,k/W`;
    for :math:`k \ge W`: ``cosine_decay(peak_value, decay_steps - warmup_steps,
    alpha=end_value / peak_value, exponent)(k - W)``. ``decay_steps`` *includes* the
    warmup (optax's convention). Same values as optax's (tested). Raises
    ``ValueError`` when the warmup is not shorter than the schedule.

    Example::

        s = warmup_cosine_decay(0.0, 0.1, warmup_steps=100, decay_steps=1000)
    """

    init_value: Any
    peak_value: Any
    warmup_steps: int = static_field()
    decay_steps: int = static_field()
    end_value: Any = 0.0
    exponent: Any = 1.0

    def _normalize(self) -> None:
        _checks.check_range("init_value", self.init_value)
        _checks.check_range("peak_value", self.peak_value)
        self._set("warmup_steps", check_int("warmup_steps", self.warmup_steps, minimum=0))
        self._set("decay_steps", check_int("decay_steps", self.decay_steps))
        if self.warmup_steps >= self.decay_steps:
            raise ValueError(
                f"warmup_steps must be < decay_steps (the schedule's length, warmup "
                f"included), got warmup_steps={self.warmup_steps}, "
                f"decay_steps={self.decay_steps}"
            )
        _checks.check_range("end_value", self.end_value)
        _checks.positive("exponent", self.exponent)

    @property
    def horizon(self) -> int:
        return self.decay_steps

    @property
    def base_value(self) -> jax.Array:
        """``peak_value``, the lr the warmup reaches."""
        return jnp.asarray(self.peak_value, jnp.float32)

    def _value(self, step):
        w = self.warmup_steps
        if w > 0:
            count = jnp.clip(step, 0, w)
            ramp = (self.init_value - self.peak_value) * (1 - count / w) + self.peak_value
        else:
            ramp = self.init_value
        peak_is_zero = self.peak_value == 0.0
        alpha = jnp.where(
            peak_is_zero, 0.0, self.end_value / jnp.where(peak_is_zero, 1.0, self.peak_value)
        )
        decay = self.decay_steps - w
        count = jnp.minimum(as_float(step - w), float(decay))
        cosine = _half_cosine(count / float(decay))
        tail = self.peak_value * ((1 - alpha) * cosine**self.exponent + alpha)
        return jnp.where(step < w, ramp, tail)


def _cycle_starts(T_0: int, T_mult: int) -> np.ndarray:
    """The first step of each SGDR cycle, ``T_0 (T_mult^n - 1)/(T_mult - 1)``, up to
    int32's range (exact integer arithmetic)."""
    starts, length, start = [], T_0, 0
    while start <= _INT32_MAX:
        starts.append(start)
        start += length
        length *= T_mult
    return np.asarray(starts, np.int64)


@schedule_class
class cosine_warm_restarts(Schedule):
    r"""Cosine annealing with warm restarts (SGDR; torch ``CosineAnnealingWarmRestarts``):
    :math:`\eta_k = \eta_{min} + (\eta_0 - \eta_{min})\,\tfrac12(1 + \cos(\pi T_{cur}/T_i))`.

    Cycle ``i`` lasts :math:`T_i = T_0 T_{mult}^i` steps; :math:`T_{cur}` counts the
    steps since the last restart, so ``k = T_0`` is the first restart (value back to
    ``init_value``). Same values as torch's scheduler stepped ``k`` times without an
    ``epoch`` argument (by formula). Note: torch's explicit-epoch path
    (``step(epoch)``) finds the cycle with a float ``log``, which misses some restarts
    by one step (e.g. ``T_mult=3``, the first step of cycles 5 and 10 gets ``eta_min``);
    we compute the cycle exactly, as torch's ``step()`` recursion does. optax's
    ``sgdr_schedule`` takes a list of cycles instead.

    Args:
      init_value: :math:`\eta_0`.
      T_0: positive int, the first cycle's length (static).
      T_mult: positive int, the growth factor of the cycle length (static).
      eta_min: the minimum value (default 0.0).

    Example::

        s = cosine_warm_restarts(0.1, T_0=10, T_mult=2)   # restarts at 10, 30, 70, ...
    """

    init_value: Any
    T_0: int = static_field()
    T_mult: int = static_field(default=1)
    eta_min: Any = 0.0

    def _normalize(self) -> None:
        _checks.check_range("init_value", self.init_value)
        self._set("T_0", check_int("T_0", self.T_0))
        self._set("T_mult", check_int("T_mult", self.T_mult))
        _checks.check_range("eta_min", self.eta_min)

    def _value(self, step):
        if self.T_mult == 1:
            t_cur = as_float(step % self.T_0)
            t_i = float(self.T_0)
        else:
            starts = _cycle_starts(self.T_0, self.T_mult)
            lengths = self.T_0 * np.power(float(self.T_mult), np.arange(len(starts)))
            cycle = jnp.searchsorted(jnp.asarray(starts, jnp.int32), step, side="right") - 1
            t_cur = as_float(step - jnp.asarray(starts, jnp.int32)[cycle])
            t_i = jnp.asarray(lengths, jnp.float32)[cycle]
        return self.eta_min + (self.init_value - self.eta_min) * _half_cosine(t_cur / t_i)
