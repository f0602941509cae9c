"""Piecewise-constant schedules: constant, StepLR, MultiStepLR, boundaries-and-scales."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from gradtx import _checks
from gradtx.schedules._base import (
    Schedule,
    _format,
    increasing,
    integer,
    leaf_field,
    schedule_class,
    static_field,
)


@schedule_class
class constant(Schedule):
    r"""A constant value at every step.

    .. math::

        \eta_k = \eta

    Same values as ``optax.constant_schedule(value)`` (which returns the raw value; we
    return a ``float32`` array; :func:`gradtx.schedules.constant_schedule` is this
    class under optax's name) and torch's unscheduled learning rate.

    Args:
      value: :math:`\eta`, a real number (a leaf, so it can be swapped without
        recompiling).

    Returns:
      A pytree schedule ``s(step) -> float32`` (the step's shape).

    Raises:
      TypeError: ``value`` is not a real number.
      ValueError: ``value`` is NaN or ``None``.

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.constant(0.1)
      >>> [round(float(s(k)), 4) for k in (0, 5, 10)]
      [0.1, 0.1, 0.1]
    """

    value: Any

    def _value(self, step):
        return self.value


@schedule_class
class step_lr(Schedule):
    r"""Step decay (torch ``StepLR``): multiply by ``gamma`` every ``step_size`` steps.

    .. math::

        \eta_k = \eta_0\,\gamma^{\lfloor k / s\rfloor}

    The value is multiplied by ``gamma`` every ``step_size`` steps, first at
    ``k = step_size``. Same values as ``torch.optim.lr_scheduler.StepLR(opt,
    step_size, gamma)`` after ``k`` calls to ``scheduler.step()`` with base lr
    ``init_value``. optax has no direct counterpart (``exponential_decay(init_value,
    step_size, gamma, staircase=True)`` gives the same values). The classic "divide by
    10 every few epochs" of Krizhevsky et al. (2012) and He et al. (2016).

    Args:
      init_value: :math:`\eta_0`, the value for steps ``0 .. step_size - 1`` (a leaf).
      step_size: positive int :math:`s`, the period of the decay (static).
      gamma: :math:`\gamma`, the multiplicative factor, ``>= 0`` (a leaf; default 0.1).

    Returns:
      A pytree schedule ``s(step) -> float32`` (the step's shape).

    Raises:
      TypeError: ``init_value`` or ``gamma`` is not a real number.
      ValueError: either is NaN or ``None``; ``gamma < 0``; ``step_size`` is not an
        integer ``>= 1``.

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.step_lr(0.1, step_size=5)  # 0.1 for k < 5, 0.01 for k < 10, ...
      >>> [round(float(s(k)), 4) for k in (0, 4, 5, 10)]
      [0.1, 0.1, 0.01, 0.001]

    References:
      torch ``torch.optim.lr_scheduler.StepLR``; Krizhevsky, Sutskever & Hinton,
      "ImageNet Classification with Deep Convolutional Neural Networks", NeurIPS 2012.
    """

    init_value: Any
    step_size: int = static_field(check=integer())
    gamma: Any = leaf_field(_checks.non_negative, default=0.1)

    def _value(self, step):
        exponent = (step // self.step_size).astype(jnp.float32)
        return self.init_value * jnp.power(self.gamma, exponent)


@schedule_class
class multistep_lr(Schedule):
    r"""Multi-step decay (torch ``MultiStepLR``): multiply by ``gamma`` at each milestone.

    .. math::

        \eta_k = \eta_0\,\gamma^{\#\{i:\ m_i \le k\}}

    The value is multiplied by ``gamma`` at each milestone (``k = m_i`` is the first
    step with the lower value). Same values as ``MultiStepLR(opt, milestones, gamma)``
    after ``k`` calls to ``scheduler.step()`` with base lr ``init_value``. Differences
    from torch: milestones must be strictly increasing (torch accepts repeats, counting
    gamma once per repeat); use :class:`piecewise_constant` for per-boundary factors
    (optax's ``piecewise_constant_schedule`` with every scale ``gamma`` gives the same
    values). He et al., "Deep Residual Learning" (2016) divide by 10 at two milestones.

    Args:
      init_value: :math:`\eta_0`, a real number (a leaf).
      milestones: a non-empty sequence of strictly increasing non-negative ints
        :math:`m_i` (static).
      gamma: :math:`\gamma`, the multiplicative factor, ``>= 0`` (a leaf; default 0.1).

    Returns:
      A pytree schedule ``s(step) -> float32`` (the step's shape).

    Raises:
      TypeError: ``init_value`` or ``gamma`` is not a real number.
      ValueError: either is NaN or ``None``; ``gamma < 0``; ``milestones`` is not a
        sequence of integers ``>= 0``, is empty or not strictly increasing.

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.multistep_lr(0.1, milestones=(3, 8))  # 0.01 from 3, 0.001 from 8
      >>> [round(float(s(k)), 4) for k in (0, 3, 8, 10)]
      [0.1, 0.01, 0.001, 0.001]

    References:
      torch ``torch.optim.lr_scheduler.MultiStepLR``; He, Zhang, Ren & Sun, "Deep
      Residual Learning for Image Recognition", CVPR 2016.
    """

    init_value: Any
    milestones: tuple[int, ...] = static_field(check=increasing())
    gamma: Any = leaf_field(_checks.non_negative, default=0.1)

    def _normalize(self) -> None:
        if not self.milestones:
            raise ValueError("milestones must hold at least one step, got ()")

    def _value(self, step):
        passed = sum((step >= m).astype(jnp.float32) for m in self.milestones)
        return self.init_value * jnp.power(self.gamma, passed)


@schedule_class
class piecewise_constant(Schedule):
    r"""Piecewise constant, scaled at boundaries (optax ``piecewise_constant_schedule``).

    .. math::

        \eta_k = \eta_0 \prod_{i:\ b_i \le k} s_i

    ``boundaries_and_scales`` is a dict ``{boundary_step: scale}``; from step ``b_i``
    on, the value is multiplied by ``s_i``. Same values as optax's. The boundaries are
    static, the scales are leaves (``tree_leaves`` gives ``[init_value, *scales]``,
    in boundary order). Differences from optax: the boundaries must be non-negative ints
    and the scales non-negative (optax also rejects negative scales). torch's
    ``MultiStepLR`` is the case of equal scales (:class:`multistep_lr`).

    Args:
      init_value: :math:`\eta_0`, the value before the first boundary (a leaf).
      boundaries_and_scales: a dict ``{b_i: s_i}`` of non-negative int steps (static)
        to non-negative real scales (leaves), or ``None`` (default; a constant).

    Returns:
      A pytree schedule ``s(step) -> float32`` (the step's shape).

    Raises:
      TypeError: ``init_value`` or a scale is not a real number.
      ValueError: ``boundaries_and_scales`` is not a dict (or ``None``); a boundary is not
        an integer ``>= 0``; a scale is negative or NaN; ``init_value`` is NaN or ``None``.

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.piecewise_constant(1.0, {3: 0.1, 8: 0.5})  # 0.1 from 3, 0.05 from 8
      >>> [round(float(s(k)), 4) for k in (0, 3, 8, 10)]
      [1.0, 0.1, 0.05, 0.05]

    Source:
      optax ``piecewise_constant_schedule`` (``optax/schedules/_schedule.py``).
    """

    init_value: Any
    boundaries: tuple[int, ...] = static_field(check=increasing())
    scales: tuple[Any, ...]

    def __init__(self, init_value: Any, boundaries_and_scales: dict[int, Any] | None = None):
        if not isinstance(boundaries_and_scales, dict | type(None)):
            raise ValueError(
                f"boundaries_and_scales must be a dict {{step: scale}}, got "
                f"{boundaries_and_scales!r}"
            )
        items = dict(boundaries_and_scales or {})
        try:
            keys = sorted(items)
        except TypeError:  # mixed key types: reported by check_increasing below
            keys = list(items)
        self._set("init_value", init_value)
        self._set("boundaries", tuple(keys))
        self._set("scales", tuple(items[b] for b in keys))
        self.__post_init__()

    def _normalize(self) -> None:
        for b, s in zip(self.boundaries, self.scales, strict=True):
            _checks.non_negative(f"boundaries_and_scales[{b}]", s)

    def _value(self, step):
        value = self.init_value
        for boundary, scale in zip(self.boundaries, self.scales, strict=True):
            value = jnp.where(step < boundary, value, value * scale)
        return value

    def __repr__(self) -> str:
        pairs = ", ".join(
            f"{b}: {_format(s)}" for b, s in zip(self.boundaries, self.scales, strict=True)
        )
        return (
            f"{type(self).__name__}(init_value={_format(self.init_value)}, "
            f"boundaries_and_scales={{{pairs}}})"
        )
