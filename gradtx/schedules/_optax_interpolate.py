"""optax's interpolating schedule names: ``piecewise_interpolate_schedule`` and the
one-cycle schedules (``cosine_onecycle_schedule``, ``linear_onecycle_schedule``), with optax
0.2.8's numbers at every integer step, negative steps included (0 before step 0, as
optax). Re-exported by :mod:`gradtx.schedules._optax_names` with the other optax names.

Source: optax 0.2.8, ``optax/schedules/_schedule.py`` (the formulas are re-derived here;
the NumPy references in ``tests/reference/optax_schedules_ref.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx.schedules._base import (
    Schedule,
    _format,
    as_float,
    choice,
    leaf_field,
    schedule_class,
    static_field,
)

__all__ = [
    "cosine_onecycle_schedule",
    "linear_onecycle_schedule",
    "piecewise_interpolate_schedule",
]


def _fraction(name: str, value: Any) -> float:
    """A static fraction in [0, 1] (``pct_start``/``pct_final``)."""
    _checks.check_number(name, value)
    v = _checks._concrete(value)
    if v is None:
        raise TypeError(
            f"{name} must be a concrete number (it sets static boundaries), got {value!r}"
        )
    if math.isnan(v) or not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return v


def _interpolate(kind: str, start, end, pct):
    if kind == "linear":
        return (end - start) * pct + start
    return end + (start - end) / 2.0 * (jnp.cos(jnp.pi * pct) + 1)


def _piecewise_interpolate(kind: str, init_value, boundaries: Sequence[int], scales, step):
    """optax's piecewise interpolation at any step (0 before step 0, as optax)."""
    bounds = (0, *boundaries)
    values = [init_value]
    for s in scales:
        values.append(values[-1] * s)
    k = as_float(step)
    out = jnp.zeros(jnp.shape(step), jnp.float32)
    for i in range(len(bounds) - 1):
        lo, hi = bounds[i], bounds[i + 1]
        pct = (k - lo) / max(hi - lo, 1)
        inside = (step >= lo) & (step < hi)
        out = out + jnp.where(inside, _interpolate(kind, values[i], values[i + 1], pct), 0.0)
    return out + jnp.where(step >= bounds[-1], values[-1], 0.0)


@schedule_class
class piecewise_interpolate_schedule(Schedule):
    r"""Piecewise interpolation between accumulated scales (optax
    ``piecewise_interpolate_schedule``).

    With boundaries :math:`0 = b_0 < b_1 < \dots < b_n` and values
    :math:`v_0 = \eta_0`, :math:`v_i = v_{i-1} s_i`, the value on
    :math:`b_{i} \le k < b_{i+1}` interpolates from :math:`v_i` to :math:`v_{i+1}` with
    :math:`p = (k - b_i)/\max(b_{i+1} - b_i, 1)`: linear :math:`v_i + (v_{i+1} - v_i)p`
    or cosine :math:`v_{i+1} + (v_i - v_{i+1})(1 + \cos \pi p)/2`; :math:`v_n` from
    :math:`b_n` on, and 0 at negative steps (as optax).

    Args:
      interpolate_type: ``"linear"`` or ``"cosine"`` (static).
      init_value: :math:`\eta_0`.
      boundaries_and_scales: ``{step: scale}`` with non-negative int steps (static) and
        scales ``>= 0`` (leaves); ``None`` or ``{}`` is the constant ``init_value`` from
        step 0.

    Returns:
      The schedule (leaves ``init_value`` and the scales in step order).

    Raises:
      ValueError: an unknown ``interpolate_type``, a negative scale or boundary.

    Example:
      >>> import gradtx
      >>> s = gradtx.piecewise_interpolate_schedule("linear", 1.0, {4: 0.1, 8: 0.01})
      >>> [round(float(s(k)), 6) for k in (0, 2, 4, 6, 8, 10)]
      [1.0, 0.55, 0.1, 0.0505, 0.001, 0.001]
    """

    interpolate_type: str = static_field(check=choice("linear", "cosine"))
    init_value: Any
    boundaries: tuple[int, ...] = static_field()
    scales: tuple[Any, ...]

    def __init__(
        self,
        interpolate_type: str,
        init_value: Any,
        boundaries_and_scales: dict[int, float] | None = None,
    ):
        if not isinstance(boundaries_and_scales, dict | type(None)):
            raise ValueError(
                f"boundaries_and_scales must be a dict {{step: scale}}, got "
                f"{boundaries_and_scales!r}"
            )
        items = dict(boundaries_and_scales or {})
        for b in items:
            if isinstance(b, bool) or not isinstance(b, int | np.integer) or b < 0:
                raise ValueError(
                    f"boundaries_and_scales keys must be non-negative int steps, got {b!r}"
                )
        keys = sorted(int(b) for b in items)
        self._set("interpolate_type", interpolate_type)
        self._set("init_value", init_value)
        self._set("boundaries", tuple(keys))
        self._set("scales", tuple(items[b] for b in keys))
        self.__post_init__()

    _clamp_negative_steps = False

    def _normalize(self) -> None:
        for b, s in zip(self.boundaries, self.scales, strict=True):
            _checks.non_negative(f"boundaries_and_scales[{b}]", s)

    @property
    def horizon(self) -> int | None:
        return self.boundaries[-1] if self.boundaries else None

    def _value(self, step):
        return _piecewise_interpolate(
            self.interpolate_type, self.init_value, self.boundaries, self.scales, step
        )

    def __repr__(self) -> str:
        pairs = ", ".join(
            f"{b}: {_format(s)}" for b, s in zip(self.boundaries, self.scales, strict=True)
        )
        return (
            f"piecewise_interpolate_schedule(interpolate_type={self.interpolate_type!r}, "
            f"init_value={_format(self.init_value)}, boundaries_and_scales={{{pairs}}})"
        )


def _transition_steps(name: str, steps: Any) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {steps!r}")
    if steps <= 0:
        raise ValueError(f"{name} must be a positive integer, got {steps!r}")
    return int(steps)


@schedule_class
class cosine_onecycle_schedule(Schedule):
    r"""The one-cycle policy with cosine phases (optax ``cosine_onecycle_schedule``).

    :func:`piecewise_interpolate_schedule` ``("cosine", P / d, {int(p T): d,
    T: 1 / (d f)})``: from :math:`P/d` up to :math:`P` at step ``int(pct_start * T)``,
    then down to :math:`P/(d f)` at step :math:`T`; 0 at negative steps (as optax).
    Unlike torch's ``OneCycleLR`` (:class:`~gradtx.schedules.one_cycle`), the phase
    boundary is ``int(pct_start * transition_steps)``.

    Args:
      transition_steps: :math:`T`, a positive int (static).
      peak_value: :math:`P`, the maximum (a leaf).
      pct_start: fraction of the cycle spent increasing (static, in [0, 1], default 0.3).
      div_factor: :math:`d`, the initial value is :math:`P/d` (default 25.0).
      final_div_factor: :math:`f`, the final value is :math:`P/(d f)` (default 1e4).

    Returns:
      The schedule (leaves ``peak_value, div_factor, final_div_factor``).

    Raises:
      ValueError: ``transition_steps <= 0`` (as optax), ``pct_start`` outside [0, 1], a
      non-positive factor. TypeError: a non-integer ``transition_steps``.

    Source: Smith & Topin, "Super-Convergence" (2017).

    Example:
      >>> import gradtx
      >>> s = gradtx.cosine_onecycle_schedule(10, peak_value=1.0, pct_start=0.5)
      >>> [round(float(s(k)), 4) for k in (0, 5, 10)]
      [0.04, 1.0, 0.0]
    """

    transition_steps: int = static_field(check=_transition_steps)
    peak_value: Any = leaf_field(_checks.non_negative)
    pct_start: float = static_field(default=0.3, check=_fraction)
    div_factor: Any = leaf_field(_checks.positive, default=25.0)
    final_div_factor: Any = leaf_field(_checks.positive, default=1e4)

    _clamp_negative_steps = False

    @property
    def horizon(self) -> int:
        return self.transition_steps

    def _value(self, step):
        steps = self.transition_steps
        bas = {int(self.pct_start * steps): self.div_factor}
        bas[steps] = 1.0 / (self.div_factor * self.final_div_factor)
        keys = sorted(bas)
        return _piecewise_interpolate(
            "cosine", self.peak_value / self.div_factor, keys, [bas[b] for b in keys], step
        )


@schedule_class
class linear_onecycle_schedule(Schedule):
    r"""The one-cycle policy with three linear phases (optax ``linear_onecycle_schedule``).

    :func:`piecewise_interpolate_schedule` ``("linear", P / d, {int(p_s T): d,
    int(p_f T): 1 / d, T: 1 / f})``: :math:`P/d \to P` until ``int(pct_start * T)``,
    back to :math:`P/d` at ``int(pct_final * T)``, then to :math:`P/(d f)` at :math:`T`;
    0 at negative steps (as optax).

    Args:
      transition_steps: :math:`T`, a positive int (static).
      peak_value: :math:`P` (a leaf).
      pct_start: end of the rise as a fraction of ``T`` (static, default 0.3).
      pct_final: end of the fall back to :math:`P/d` (static, default 0.85).
      div_factor: :math:`d` (default 25.0).
      final_div_factor: :math:`f` (default 1e4).

    Returns:
      The schedule (leaves ``peak_value, div_factor, final_div_factor``).

    Raises:
      ValueError: ``transition_steps <= 0`` (as optax), a fraction outside [0, 1], a
      non-positive factor. TypeError: a non-integer ``transition_steps``.

    Source: Smith & Topin, "Super-Convergence" (2017).

    Example:
      >>> import gradtx
      >>> s = gradtx.linear_onecycle_schedule(20, peak_value=1.0, pct_start=0.25,
      ...                                     pct_final=0.5)
      >>> [round(float(s(k)), 4) for k in (0, 5, 10, 20)]
      [0.04, 1.0, 0.04, 0.0]
    """

    transition_steps: int = static_field(check=_transition_steps)
    peak_value: Any = leaf_field(_checks.non_negative)
    pct_start: float = static_field(default=0.3, check=_fraction)
    pct_final: float = static_field(default=0.85, check=_fraction)
    div_factor: Any = leaf_field(_checks.positive, default=25.0)
    final_div_factor: Any = leaf_field(_checks.positive, default=1e4)

    _clamp_negative_steps = False

    @property
    def horizon(self) -> int:
        return self.transition_steps

    def _value(self, step):
        steps = self.transition_steps
        bas = {int(self.pct_start * steps): self.div_factor}
        bas[int(self.pct_final * steps)] = 1.0 / self.div_factor
        bas[steps] = 1.0 / self.final_div_factor
        keys = sorted(bas)
        return _piecewise_interpolate(
            "linear", self.peak_value / self.div_factor, keys, [bas[b] for b in keys], step
        )
