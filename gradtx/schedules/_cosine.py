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
    integer,
    leaf_field,
    schedule_class,
    static_field,
)


def _half_cosine(frac):
    """``(1 + cos(pi * frac)) / 2``: 1 at ``frac = 0``, 0 at ``frac = 1``."""
    return 0.5 * (1 + jnp.cos(jnp.pi * frac))


@schedule_class
class cosine_annealing(Schedule):
    r"""Cosine annealing (torch ``CosineAnnealingLR``).

    .. math::

        \eta_k = \eta_{min} + (\eta_0 - \eta_{min})\,\tfrac12\big(1 + \cos(\pi k / T_{max})\big)

    torch's closed form, evaluated for every ``k``: like torch, the cosine *continues
    past* ``T_max`` (the value climbs back to ``init_value`` at ``2 T_max``, period
    ``2 T_max``). For a value that stays at the floor after ``T_max`` use
    :class:`cosine_decay` (optax's ``cosine_decay_schedule``): for ``k <= T_max``,
    ``cosine_annealing(a, T, m) == cosine_decay(a, T, alpha=m / a)``.

    Args:
      init_value: :math:`\eta_0` (torch's base lr), a real number (a leaf).
      T_max: positive int, the half period in steps (static).
      eta_min: :math:`\eta_{min}`, the minimum value, a real number (a leaf; default 0.0).

    Returns:
      A pytree schedule ``s(step) -> float32`` (the step's shape); ``horizon`` is
      ``T_max``.

    Raises:
      TypeError: ``init_value`` or ``eta_min`` is not a real number.
      ValueError: ``init_value`` or ``eta_min`` is NaN or ``None``; ``T_max`` is not an
        integer ``>= 1``.

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.cosine_annealing(0.1, T_max=10, eta_min=0.01)
      >>> [round(float(s(k)), 4) for k in (0, 5, 10, 15, 20)]
      [0.1, 0.055, 0.01, 0.055, 0.1]

    References:
      Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts",
      ICLR 2017; torch ``torch.optim.lr_scheduler.CosineAnnealingLR``.
    """

    init_value: Any
    T_max: int = static_field(check=integer())
    eta_min: Any = 0.0

    @property
    def horizon(self) -> int:
        return self.T_max

    def _value(self, step):
        return self.eta_min + (self.init_value - self.eta_min) * _half_cosine(
            as_float(step) / self.T_max
        )


@schedule_class
class cosine_decay(Schedule):
    r"""Cosine decay held flat after ``decay_steps`` (optax ``cosine_decay_schedule``).

    .. math::

        \eta_k = \eta_0\,\big[(1-\alpha)\,c_k^{e} + \alpha\big], \qquad
        c_k = \tfrac12\big(1+\cos(\pi \min(k, T)/T)\big)

    Same values as ``optax.cosine_decay_schedule(init_value, decay_steps, alpha,
    exponent)`` at steps ``>= 0`` (tested; negative steps are clamped to 0 here,
    :func:`gradtx.schedules.cosine_decay_schedule` keeps optax's values there too).
    Unlike torch's ``CosineAnnealingLR`` (:class:`cosine_annealing`), the value stays at
    ``alpha * init_value`` for ``k >= decay_steps``.

    Args:
      init_value: :math:`\eta_0`, a real number (a leaf).
      decay_steps: positive int :math:`T` (static).
      alpha: :math:`\alpha`, the final value as a fraction of ``init_value``, a real
        number (a leaf; default 0.0).
      exponent: :math:`e > 0` (a leaf; default 1.0).

    Returns:
      A pytree schedule ``s(step) -> float32`` (the step's shape); ``horizon`` is
      ``decay_steps``.

    Raises:
      TypeError: a float argument is not a real number.
      ValueError: a float argument is NaN or ``None``; ``exponent <= 0``;
        ``decay_steps`` is not an integer ``>= 1``.

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.cosine_decay(0.1, decay_steps=10, alpha=0.1)
      >>> [round(float(s(k)), 4) for k in (0, 5, 10, 20)]
      [0.1, 0.055, 0.01, 0.01]

    References:
      Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts",
      ICLR 2017; optax ``cosine_decay_schedule``.
    """

    init_value: Any
    decay_steps: int = static_field(check=integer())
    alpha: Any = 0.0
    exponent: Any = leaf_field(_checks.positive, default=1.0)

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

    With :math:`W` = ``warmup_steps``, :math:`T` = ``decay_steps`` and
    :math:`\alpha = \eta_{end}/\eta_{peak}` (0 when :math:`\eta_{peak} = 0`):

    .. math::

        \eta_k = \begin{cases}
          \eta_{init} + (\eta_{peak} - \eta_{init})\,k/W & k < W \\
          \eta_{peak}\big[(1-\alpha)\,c_k^{e} + \alpha\big] & k \ge W
        \end{cases}, \qquad
        c_k = \tfrac12\Big(1+\cos\big(\pi \tfrac{\min(k - W,\, T - W)}{T - W}\big)\Big)

    i.e. ``cosine_decay(peak_value, decay_steps - warmup_steps,
    alpha=end_value / peak_value, exponent)(k - W)`` after the warmup. ``decay_steps``
    *includes* the warmup (optax's convention). Same values as
    ``optax.warmup_cosine_decay_schedule`` at steps ``>= 0`` (tested; negative steps are
    clamped to 0 here, :func:`gradtx.schedules.warmup_cosine_decay_schedule` keeps
    optax's values there too). torch has no single class for it: for ``exponent=1``
    and ``0 < init_value <= peak_value``, ``SequentialLR([LinearLR(start_factor=
    init_value / peak_value, total_iters=W), CosineAnnealingLR(T_max=T - W,
    eta_min=end_value)], milestones=[W])`` with base lr ``peak_value`` gives the same
    values for ``k <= decay_steps`` (by formula; torch's cosine climbs back after).

    Args:
      init_value: :math:`\eta_{init}`, the value at step 0, a real number (a leaf).
      peak_value: :math:`\eta_{peak}`, the value at the end of the warmup (a leaf).
      warmup_steps: non-negative int :math:`W` (static); 0 starts at the peak.
      decay_steps: positive int :math:`T > W` (static), the schedule's length, warmup
        included.
      end_value: :math:`\eta_{end}`, the value from step :math:`T` on (a leaf; default
        0.0).
      exponent: :math:`e > 0` (a leaf; default 1.0).

    Returns:
      A pytree schedule ``s(step) -> float32`` (the step's shape); ``horizon`` is
      ``decay_steps``, ``base_value`` is ``peak_value``.

    Raises:
      TypeError: a float argument is not a real number.
      ValueError: a float argument is NaN or ``None``; ``exponent <= 0``;
        ``warmup_steps`` is not an integer ``>= 0`` or ``decay_steps`` not one ``>= 1``;
        ``warmup_steps >= decay_steps`` (the warmup is not shorter than the schedule).

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.warmup_cosine_decay(0.0, 0.1, warmup_steps=5, decay_steps=15)
      >>> [round(float(s(k)), 4) for k in (0, 2, 5, 10, 15)]
      [0.0, 0.04, 0.1, 0.05, 0.0]

    References:
      Goyal et al., "Accurate, Large Minibatch SGD", 2017 (warmup); Loshchilov & Hutter,
      "SGDR", ICLR 2017 (cosine); optax ``warmup_cosine_decay_schedule``.
    """

    init_value: Any
    peak_value: Any
    warmup_steps: int = static_field(check=integer(minimum=0))
    decay_steps: int = static_field(check=integer())
    end_value: Any = 0.0
    exponent: Any = leaf_field(_checks.positive, default=1.0)

    def _normalize(self) -> None:
        if self.warmup_steps >= self.decay_steps:
            raise ValueError(
                f"warmup_steps must be < decay_steps (the schedule's length, warmup "
                f"included), got warmup_steps={self.warmup_steps}, "
                f"decay_steps={self.decay_steps}"
            )

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
    r"""Cosine annealing with warm restarts (SGDR; torch ``CosineAnnealingWarmRestarts``).

    .. math::

        \eta_k = \eta_{min} + (\eta_0 - \eta_{min})\,\tfrac12\big(1 + \cos(\pi T_{cur}/T_i)\big)

    Cycle ``i`` lasts :math:`T_i = T_0 T_{mult}^i` steps; :math:`T_{cur}` counts the
    steps since the last restart, so ``k = T_0`` is the first restart (value back to
    ``init_value``). Same values as torch's scheduler stepped ``k`` times without an
    ``epoch`` argument (by formula). Note: torch's explicit-epoch path
    (``step(epoch)``) finds the cycle with a float ``log``, which misses some restarts
    by one step (e.g. ``T_mult=3``, the first step of cycles 5 and 10 gets ``eta_min``);
    we compute the cycle exactly, as torch's ``step()`` recursion does. optax's
    ``sgdr_schedule`` takes a list of cycles instead
    (:func:`gradtx.schedules.sgdr_schedule`).

    Args:
      init_value: :math:`\eta_0`, the value at each restart, a real number (a leaf).
      T_0: positive int, the first cycle's length in steps (static).
      T_mult: positive int, the growth factor of the cycle length (static; default 1,
        cycles of equal length).
      eta_min: :math:`\eta_{min}`, the minimum value, a real number (a leaf; default
        0.0).

    Returns:
      A pytree schedule ``s(step) -> float32`` (the step's shape); it has no ``horizon``
      (it restarts forever).

    Raises:
      TypeError: ``init_value`` or ``eta_min`` is not a real number.
      ValueError: ``init_value`` or ``eta_min`` is NaN or ``None``; ``T_0`` or
        ``T_mult`` is not an integer ``>= 1``.

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.cosine_warm_restarts(0.1, T_0=10, T_mult=2)  # restarts at 10, 30, 70
      >>> [round(float(s(k)), 4) for k in (0, 5, 10, 20, 30)]
      [0.1, 0.05, 0.1, 0.05, 0.1]

    References:
      Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts",
      ICLR 2017; torch ``CosineAnnealingWarmRestarts``.
    """

    init_value: Any
    T_0: int = static_field(check=integer())
    T_mult: int = static_field(default=1, check=integer())
    eta_min: Any = 0.0

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
