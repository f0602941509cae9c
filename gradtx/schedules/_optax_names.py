"""optax's schedule names as gradtx pytree schedules, with optax 0.2.8's numbers.

Each name takes optax's arguments (same names, order and defaults) and returns a
:class:`~gradtx.schedules.Schedule`: a pytree whose float hyperparameters are leaves (a new
value goes through a compiled function without recompiling; ``jax.vmap`` and ``jax.grad``
work over them) and whose step counts are static.

Values equal optax's at *every* integer step, negative steps included: where a gradtx
kind clamps a negative step to 0 and optax does not (``cosine_decay_schedule``,
``join_schedules``, ``warmup_cosine_decay_schedule``, ``piecewise_interpolate_schedule``
and the one-cycle schedules), the optax-named kind evaluates the raw step as optax does.
Where the math and the negative-step values are the same, the optax name returns the
existing gradtx kind (``linear_schedule`` returns a :class:`~gradtx.schedules.linear`).

Documented optax fallbacks are kept: ``transition_steps <= 0`` gives a constant schedule
(``polynomial_schedule``, ``linear_schedule``, ``warmup_constant_schedule`` and the decay
part of ``warmup_exponential_decay_schedule``) and a negative ``transition_begin`` counts
as 0. Bad arguments that optax would turn into NaN or a crash later (a string, a NaN, a
negative scale, an unknown ``interpolate_type``) raise ``ValueError``/``TypeError`` naming
the parameter at construction. ``exponential_decay`` is gradtx's existing kind of that
name (it raises ``ValueError`` for ``transition_steps <= 0`` and ``decay_rate == 0``,
where optax silently returns a constant).

Source: optax 0.2.8, ``optax/schedules/_schedule.py`` and ``_join.py`` (the formulas are
re-derived here; the NumPy references in ``tests/reference/optax_schedules_ref.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from gradtx import _checks
from gradtx.schedules._base import (
    Schedule,
    schedule_class,
)
from gradtx.schedules._combine import join
from gradtx.schedules._cosine import cosine_decay, warmup_cosine_decay
from gradtx.schedules._decay import exponential_decay, linear, polynomial
from gradtx.schedules._optax_interpolate import (
    cosine_onecycle_schedule,
    linear_onecycle_schedule,
    piecewise_interpolate_schedule,
)
from gradtx.schedules._steps import constant, piecewise_constant

__all__ = [
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "join_schedules",
    "linear_onecycle_schedule",
    "linear_schedule",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polynomial_schedule",
    "sgdr_schedule",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
]


def _int_arg(name: str, value: Any) -> int:
    """A step count as a Python int; ``TypeError`` naming ``name`` otherwise (any sign:
    the callers apply optax's fallbacks for non-positive values)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        if isinstance(value, float | np.floating) and float(value).is_integer():
            return int(value)
        raise TypeError(f"{name} must be an integer, got {value!r}")
    return int(value)


def constant_schedule(value: Any) -> Schedule:
    r"""A constant schedule (optax ``constant_schedule``): :math:`\eta_k = v`.

    Args:
      value: the value :math:`v`, a real number (a leaf).

    Returns:
      A :class:`~gradtx.schedules.constant` (``float32`` values; optax returns ``value``
      itself).

    Raises:
      TypeError: ``value`` is not a real number. ValueError: it is NaN.

    Example:
      >>> import gradtx
      >>> float(gradtx.constant_schedule(5.0)(100))
      5.0
    """
    return constant(value)


def polynomial_schedule(
    init_value: Any,
    end_value: Any,
    power: Any,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    r"""Polynomial transition (optax ``polynomial_schedule``):
    :math:`\eta_k = (I - E)\,(1 - c_k/T)^P + E`, :math:`c_k = \mathrm{clip}(k - B, 0, T)`.

    Args:
      init_value: :math:`I`, the value up to step ``transition_begin``.
      end_value: :math:`E`, the value from step ``transition_begin + transition_steps``.
      power: :math:`P > 0`.
      transition_steps: :math:`T` (int, static). ``T <= 0`` gives the constant
        ``init_value`` (optax's documented fallback).
      transition_begin: :math:`B` (int, static, default 0); a negative value counts as 0.

    Returns:
      A :class:`~gradtx.schedules.polynomial` (or :class:`~gradtx.schedules.constant`).

    Raises:
      TypeError: a step count is not an integer or a value is not a real number.
      ValueError: a value is NaN or ``power <= 0``.

    Example:
      >>> import gradtx
      >>> s = gradtx.polynomial_schedule(1.0, 0.01, power=2, transition_steps=100)
      >>> round(float(s(50)), 4)
      0.2575
    """
    transition_steps = _int_arg("transition_steps", transition_steps)
    transition_begin = max(_int_arg("transition_begin", transition_begin), 0)
    if transition_steps <= 0:
        _checks.check_range("end_value", end_value)
        return constant(init_value)
    return polynomial(init_value, end_value, power, transition_steps, transition_begin)


def linear_schedule(
    init_value: Any,
    end_value: Any,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    r"""Linear transition (optax ``linear_schedule``): :func:`polynomial_schedule` with
    ``power=1``, :math:`\eta_k = I + (E - I)\,\mathrm{clip}(k - B, 0, T)/T`.

    Args:
      init_value: :math:`I`.
      end_value: :math:`E`.
      transition_steps: :math:`T` (int, static); ``T <= 0`` gives the constant
        ``init_value``.
      transition_begin: :math:`B` (int, static, default 0); negative counts as 0.

    Returns:
      A :class:`~gradtx.schedules.linear` (or :class:`~gradtx.schedules.constant`).

    Raises:
      TypeError, ValueError: as :func:`polynomial_schedule`.

    Example:
      >>> import gradtx
      >>> s = gradtx.linear_schedule(1.0, 0.0, transition_steps=10, transition_begin=5)
      >>> [round(float(s(k)), 2) for k in (0, 5, 10, 15, 20)]
      [1.0, 1.0, 0.5, 0.0, 0.0]
    """
    transition_steps = _int_arg("transition_steps", transition_steps)
    transition_begin = max(_int_arg("transition_begin", transition_begin), 0)
    if transition_steps <= 0:
        _checks.check_range("end_value", end_value)
        return constant(init_value)
    return linear(init_value, end_value, transition_steps, transition_begin)


def warmup_constant_schedule(init_value: Any, peak_value: Any, warmup_steps: int) -> Schedule:
    r"""Linear warmup then constant (optax ``warmup_constant_schedule``):
    ``linear_schedule(init_value, peak_value, warmup_steps)``.

    Args:
      init_value: the value at step 0.
      peak_value: the value from step ``warmup_steps`` on.
      warmup_steps: int (static); ``<= 0`` gives the constant ``init_value`` (as optax).

    Returns:
      A :class:`~gradtx.schedules.linear` (or :class:`~gradtx.schedules.constant`).

    Raises:
      TypeError, ValueError: as :func:`linear_schedule`, naming ``transition_steps`` for
      ``warmup_steps``.

    Example:
      >>> import gradtx
      >>> s = gradtx.warmup_constant_schedule(0.0, 1.0, warmup_steps=4)
      >>> [float(s(k)) for k in (0, 2, 4, 100)]
      [0.0, 0.5, 1.0, 1.0]
    """
    return linear_schedule(init_value, peak_value, _int_arg("warmup_steps", warmup_steps))


@schedule_class
class piecewise_constant_schedule(piecewise_constant):
    r"""Piecewise constant with scaled jumps (optax ``piecewise_constant_schedule``):
    :math:`\eta_k = \eta_0 \prod_{b_i \le k} s_i`.

    :class:`~gradtx.schedules.piecewise_constant` with optax's values at negative steps
    (``init_value``, also when a boundary is 0).

    Args:
      init_value: :math:`\eta_0`.
      boundaries_and_scales: ``{step: scale}``; from ``step`` on the value is multiplied
        by ``scale >= 0``. Steps are static non-negative ints, scales are leaves.

    Returns:
      The schedule (leaves ``init_value`` and the scales in step order).

    Raises:
      ValueError: a negative scale or boundary, or a non-dict argument.

    Example:
      >>> import gradtx
      >>> s = gradtx.piecewise_constant_schedule(1.0, {100: 0.1, 200: 0.01})
      >>> [round(float(s(k)), 6) for k in (50, 150, 250)]
      [1.0, 0.1, 0.001]
    """

    __init__ = piecewise_constant.__init__
    _clamp_negative_steps = False


@schedule_class
class cosine_decay_schedule(cosine_decay):
    r"""Cosine decay (optax ``cosine_decay_schedule``):
    :math:`\eta_k = I\,[(1-\alpha)\,c_k^{p} + \alpha]`,
    :math:`c_k = \tfrac12(1 + \cos(\pi \min(k, T)/T))`.

    :class:`~gradtx.schedules.cosine_decay` with optax's values at negative steps too
    (optax does not clamp them: :math:`\eta_{-k} = \eta_k` for :math:`0 < k \le T`).

    Args:
      init_value: :math:`I`.
      decay_steps: :math:`T`, a positive int (static).
      alpha: the final multiplier :math:`\alpha` (default 0.0).
      exponent: :math:`p > 0` (default 1.0).

    Returns:
      The schedule (a pytree; leaves ``init_value, alpha, exponent``).

    Raises:
      ValueError: ``decay_steps <= 0`` (as optax), a NaN value or ``exponent <= 0``.

    Source: Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts"
    (ICLR 2017).

    Example:
      >>> import gradtx
      >>> s = gradtx.cosine_decay_schedule(1.0, decay_steps=10, alpha=0.1)
      >>> [round(float(s(k)), 4) for k in (0, 5, 10, 20)]
      [1.0, 0.55, 0.1, 0.1]
    """

    _clamp_negative_steps = False


@schedule_class
class warmup_cosine_decay_schedule(warmup_cosine_decay):
    r"""Linear warmup then cosine decay (optax ``warmup_cosine_decay_schedule``).

    For :math:`k < W`: :math:`\eta_k = I + (P - I)\,\mathrm{clip}(k, 0, W)/W`; for
    :math:`k \ge W`: ``cosine_decay_schedule(P, D - W, alpha=E / P, exponent)(k - W)``
    (``alpha = 0`` when ``P == 0``). ``decay_steps`` includes the warmup. Values at
    negative steps are optax's (``init_value``).

    Args:
      init_value: :math:`I`, the value at step 0.
      peak_value: :math:`P`, the value at step ``warmup_steps``.
      warmup_steps: :math:`W`, a non-negative int (static).
      decay_steps: :math:`D > W`, the schedule's length, warmup included (static).
      end_value: :math:`E`, the final value (default 0.0).
      exponent: the cosine's exponent (default 1.0).

    Returns:
      The schedule (leaves ``init_value, peak_value, end_value, exponent``).

    Raises:
      ValueError: ``warmup_steps >= decay_steps`` (optax raises too, from the cosine
      part), a negative ``warmup_steps`` or a NaN value.

    Example:
      >>> import gradtx
      >>> s = gradtx.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=2, decay_steps=12)
      >>> [round(float(s(k)), 3) for k in (0, 1, 2, 7, 12)]
      [0.0, 0.5, 1.0, 0.5, 0.0]
    """

    _clamp_negative_steps = False


@schedule_class
class join_schedules(join):
    r"""Schedules in sequence (optax ``join_schedules``): ``schedules[0](k)`` for
    :math:`k < b_0`, then ``schedules[i](k - b_{i-1})`` for :math:`b_{i-1} \le k < b_i`.

    :class:`~gradtx.schedules.join` with optax's values at negative steps
    (``schedules[0]`` gets the negative step; a gradtx kind that clamps still clamps).

    Args:
      schedules: ``n >= 1`` schedules (gradtx schedules are nested leaves; a plain
        callable such as an optax schedule is wrapped as a static function; a float is a
        constant).
      boundaries: ``n - 1`` strictly increasing non-negative ints (static).

    Returns:
      The joined schedule (its leaves are the schedules' leaves).

    Raises:
      ValueError: wrong number of boundaries, non-increasing or negative boundaries.

    Example:
      >>> import gradtx
      >>> s = gradtx.join_schedules(
      ...     [gradtx.constant_schedule(1.0), gradtx.constant_schedule(0.5)], [3])
      >>> [float(s(k)) for k in (0, 2, 3, 9)]
      [1.0, 1.0, 0.5, 0.5]
    """

    _clamp_negative_steps = False


def warmup_exponential_decay_schedule(
    init_value: Any,
    peak_value: Any,
    warmup_steps: int,
    transition_steps: int,
    decay_rate: Any,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: Any | None = None,
) -> Schedule:
    r"""Linear warmup then exponential decay (optax ``warmup_exponential_decay_schedule``):
    ``join_schedules([linear_schedule(I, P, W), exponential_decay(P, T, r, B, staircase,
    end_value)], [W])``, with exponential decay
    :math:`P\,r^{(k - W - B)/T}` (floored exponent with ``staircase``).

    Args:
      init_value: :math:`I`, the value at step 0.
      peak_value: :math:`P`, the value at the end of the warmup.
      warmup_steps: :math:`W` (int, static); ``<= 0`` means no warmup.
      transition_steps: :math:`T` (int, static); ``<= 0`` holds ``peak_value`` (optax).
      decay_rate: :math:`r`; ``0`` holds ``peak_value`` (optax), negative raises.
      transition_begin: :math:`B` (int, static, default 0); negative counts as 0.
      staircase: decay in jumps every ``transition_steps`` (static, default False).
      end_value: optional bound (lower when ``r < 1``, else upper).

    Returns:
      A :class:`join_schedules` of a linear warmup and a
      :class:`~gradtx.schedules.exponential_decay`.

    Raises:
      TypeError: a step count is not an integer. ValueError: a NaN or negative rate.

    Example:
      >>> import gradtx
      >>> s = gradtx.warmup_exponential_decay_schedule(0.0, 1.0, 2, 1, 0.5)
      >>> [float(s(k)) for k in (0, 1, 2, 3, 4)]
      [0.0, 0.5, 1.0, 0.5, 0.25]
    """
    warmup_steps = _int_arg("warmup_steps", warmup_steps)
    transition_steps = _int_arg("transition_steps", transition_steps)
    transition_begin = max(_int_arg("transition_begin", transition_begin), 0)
    _checks.non_negative("decay_rate", decay_rate)
    if _checks._concrete(decay_rate) == 0.0 or transition_steps <= 0:
        decay: Schedule = constant(peak_value)
    else:
        decay = exponential_decay(
            peak_value, transition_steps, decay_rate, transition_begin, staircase, end_value
        )
    warm = linear_schedule(init_value, peak_value, warmup_steps)
    return join_schedules([warm, decay], [max(warmup_steps, 0)])


def sgdr_schedule(cosine_kwargs: Iterable[Mapping[str, Any]]) -> Schedule:
    r"""SGD with warm restarts (optax ``sgdr_schedule``): the
    :class:`warmup_cosine_decay_schedule` cycles ``cosine_kwargs[i]`` joined one after the
    other, cycle ``i`` starting at :math:`\sum_{j<i} D_j` (its ``decay_steps``).

    Args:
      cosine_kwargs: one dict of :class:`warmup_cosine_decay_schedule` arguments per cycle
        (``init_value``, ``peak_value``, ``warmup_steps``, ``decay_steps``, optional
        ``end_value``, ``exponent``).

    Returns:
      A :class:`join_schedules` of the cycles.

    Raises:
      ValueError: no cycles, or a cycle's arguments are invalid. TypeError: a cycle is
      not a mapping or lacks ``decay_steps``.

    Source: Loshchilov & Hutter, "SGDR" (ICLR 2017).

    Example:
      >>> import gradtx
      >>> cycle = dict(init_value=0.0, peak_value=1.0, warmup_steps=1, decay_steps=5)
      >>> s = gradtx.sgdr_schedule([cycle, cycle])
      >>> [round(float(s(k)), 3) for k in (0, 1, 5, 6)]
      [0.0, 1.0, 0.0, 1.0]
    """
    schedules, boundaries, step = [], [], 0
    for i, kwargs in enumerate(cosine_kwargs):
        if not isinstance(kwargs, Mapping) or "decay_steps" not in kwargs:
            raise TypeError(
                f"cosine_kwargs[{i}] must be a dict of warmup_cosine_decay_schedule "
                f"arguments with decay_steps, got {kwargs!r}"
            )
        schedules.append(warmup_cosine_decay_schedule(**kwargs))
        step += _int_arg(f"cosine_kwargs[{i}]['decay_steps']", kwargs["decay_steps"])
        boundaries.append(step)
    if not schedules:
        raise ValueError("cosine_kwargs must hold at least one cycle, got none")
    return join_schedules(schedules, boundaries[:-1])
