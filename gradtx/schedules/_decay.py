"""Smooth decays: factor with floor, exponential (three forms), inverse time, polynomial."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.schedules._base import (
    Schedule,
    as_float,
    boolean,
    integer,
    leaf_field,
    schedule_class,
    static_field,
)


@schedule_class
class factor(Schedule):
    r"""Factor decay with a floor: multiply by ``factor`` every step, never below ``floor``.

    .. math::

        \eta_k = \max(\eta_{floor},\ \eta_0 f^k)

    The "factor scheduler" of Dive into Deep Learning (Zhang et al., 2023, sec. 12.11).
    Difference from d2l's stateful ``FactorScheduler``: its n-th call (n from 1)
    returns :math:`\max(floor, \eta_0 f^n)`; here ``schedule(0) == init_value`` and
    ``schedule(n)`` is d2l's n-th call. No torch/optax class of its own (torch's
    ``LambdaLR`` with this lambda gives the same).

    Args:
      init_value: :math:`\eta_0`, a real number (a leaf).
      factor: the per-step factor :math:`f > 0` (a leaf).
      floor: :math:`\eta_{floor}`, the lower bound, ``>= 0`` (a leaf; default 0.0).

    Returns:
      A pytree schedule ``s(step) -> float32`` (the step's shape).

    Raises:
      TypeError: a float argument is not a real number.
      ValueError: a float argument is NaN or ``None``; ``factor <= 0``; ``floor < 0``.

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.factor(0.1, factor=0.5, floor=0.01)
      >>> [round(float(s(k)), 4) for k in (0, 1, 2, 5)]
      [0.1, 0.05, 0.025, 0.01]

    References:
      Zhang, Lipton, Li & Smola, *Dive into Deep Learning*, 2023, sec. 12.11.
    """

    init_value: Any
    factor: Any = leaf_field(_checks.positive)
    floor: Any = leaf_field(_checks.non_negative, default=0.0)

    def _value(self, step):
        return jnp.maximum(self.floor, self.init_value * jnp.power(self.factor, as_float(step)))


@schedule_class
class exponential_lr(Schedule):
    r"""Exponential decay per step (torch ``ExponentialLR``).

    .. math::

        \eta_k = \eta_0\,\gamma^k

    Same values as ``ExponentialLR(opt, gamma)`` with base lr ``init_value`` after ``k``
    calls to ``step()``; equal to ``optax.exponential_decay(init_value, 1, gamma)``.

    Args:
      init_value: :math:`\eta_0`, a real number (a leaf).
      gamma: the per-step factor :math:`\gamma > 0` (a leaf).

    Returns:
      A pytree schedule ``s(step) -> float32`` (the step's shape).

    Raises:
      TypeError: ``init_value`` or ``gamma`` is not a real number.
      ValueError: either is NaN or ``None``; ``gamma <= 0``.

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.exponential_lr(0.1, gamma=0.9)
      >>> [round(float(s(k)), 4) for k in (0, 5, 10)]
      [0.1, 0.059, 0.0349]

    References:
      Goodfellow, Bengio & Courville, *Deep Learning* (2016), sec. 8.3.1; torch
      ``torch.optim.lr_scheduler.ExponentialLR``.
    """

    init_value: Any
    gamma: Any = leaf_field(_checks.positive)

    def _value(self, step):
        return self.init_value * jnp.power(self.gamma, as_float(step))


@schedule_class
class exponential_decay(Schedule):
    r"""Exponential decay, optionally delayed, stepwise and bounded (optax ``exponential_decay``).

    With :math:`p_k = (k - b)/T` (``floor``-ed with ``staircase=True``):

    .. math::

        \eta_k = \begin{cases} \eta_0 & k \le b \\ \eta_0\,r^{p_k} & k > b \end{cases}

    With ``end_value`` the value is clipped at it: a lower bound when
    ``decay_rate < 1``, an upper bound otherwise. Same values as
    ``optax.exponential_decay`` with the same arguments (at steps ``>= 0``; negative steps
    are clamped to 0). Differences from optax: bad arguments raise ``ValueError`` (optax
    silently returns a constant schedule for ``transition_steps <= 0`` or
    ``decay_rate == 0``, and treats a negative ``transition_begin`` as 0). TensorFlow's
    ``tf.train.exponential_decay`` form. torch's ``StepLR(opt, T, r)`` is the case
    ``staircase=True, transition_begin=0`` (see :class:`step_lr`).

    Args:
      init_value: :math:`\eta_0`, a real number (a leaf).
      transition_steps: positive int :math:`T` (static), the steps per factor ``r``.
      decay_rate: :math:`r > 0` (a leaf).
      transition_begin: non-negative int :math:`b` (static), the steps held at
        ``init_value`` first; default 0.
      staircase: bool (static; default ``False``): decay in discrete jumps every
        ``transition_steps``.
      end_value: optional bound, a real number (a leaf) or ``None`` (default; no bound,
        and no leaf: ``None`` is static structure).

    Returns:
      A pytree schedule ``s(step) -> float32`` (the step's shape).

    Raises:
      TypeError: ``init_value``, ``decay_rate`` or ``end_value`` is not a real number.
      ValueError: ``init_value`` or ``decay_rate`` is NaN or ``None``;
        ``decay_rate <= 0``; ``transition_steps`` is not an integer ``>= 1`` or
        ``transition_begin`` not one ``>= 0``; ``staircase`` is not a bool.

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.exponential_decay(0.1, transition_steps=5, decay_rate=0.5)
      >>> [round(float(s(k)), 4) for k in (0, 5, 10)]
      [0.1, 0.05, 0.025]
      >>> s = schedules.exponential_decay(
      ...     0.1, 5, 0.5, staircase=True, end_value=0.02)
      >>> [round(float(s(k)), 4) for k in (0, 4, 5, 10, 20)]
      [0.1, 0.1, 0.05, 0.025, 0.02]

    Source:
      optax ``exponential_decay`` (``optax/schedules/_schedule.py``).
    """

    init_value: Any
    transition_steps: int = static_field(check=integer())
    decay_rate: Any = leaf_field(_checks.positive)
    transition_begin: int = static_field(default=0, check=integer(minimum=0))
    staircase: bool = static_field(default=False, check=boolean)
    end_value: Any = None

    def _value(self, step):
        decreased = step - self.transition_begin
        p = decreased / self.transition_steps
        if self.staircase:
            p = jnp.floor(p)
        value = jnp.where(
            decreased <= 0, self.init_value, self.init_value * jnp.power(self.decay_rate, p)
        )
        if self.end_value is not None:
            value = jnp.where(
                self.decay_rate < 1.0,
                jnp.maximum(value, self.end_value),
                jnp.minimum(value, self.end_value),
            )
        return value


@schedule_class
class exp_decay(Schedule):
    r"""Continuous exponential decay at rate :math:`\kappa`.

    .. math::

        \eta_k = \eta_0\,e^{-\kappa k}

    The classic textbook form (e.g. Dive into Deep Learning, sec. 12.11). Equal to
    :class:`exponential_lr` with :math:`\gamma = e^{-\kappa}`; no torch/optax class of
    its own (``optax.exponential_decay(init_value, 1, exp(-k))`` and torch's
    ``ExponentialLR(opt, exp(-k))`` give the same values up to rounding).

    Args:
      init_value: :math:`\eta_0`, a real number (a leaf).
      k: the rate :math:`\kappa \ge 0` per step (a leaf).

    Returns:
      A pytree schedule ``s(step) -> float32`` (the step's shape).

    Raises:
      TypeError: ``init_value`` or ``k`` is not a real number.
      ValueError: either is NaN or ``None``; ``k < 0``.

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.exp_decay(0.1, k=0.1)
      >>> [round(float(s(k)), 4) for k in (0, 5, 10)]
      [0.1, 0.0607, 0.0368]

    References:
      Zhang, Lipton, Li & Smola, *Dive into Deep Learning*, 2023, sec. 12.11.
    """

    init_value: Any
    k: Any = leaf_field(_checks.non_negative)

    def _value(self, step):
        return self.init_value * jnp.exp(-self.k * as_float(step))


@schedule_class
class inverse_time(Schedule):
    r"""Inverse-time decay: :math:`\eta_0/(1 + \gamma k)^p`.

    .. math::

        \eta_k = \eta_0\,(1 + \gamma k)^{-p}

    ``power=1`` is :math:`\eta_0/(1+\gamma k)`, the Robbins-Monro rate; ``power=0.5``
    the :math:`1/\sqrt{t}` rate of online convex optimisation (Zinkevich, 2003; Robbins
    & Monro, 1951, for the :math:`1/t` rate). No torch/optax class of its own (torch's
    ``LambdaLR`` with this lambda gives the same).

    Args:
      init_value: :math:`\eta_0`, a real number (a leaf).
      gamma: :math:`\gamma \ge 0` per step (a leaf).
      power: :math:`p \ge 0` (a leaf; default 1.0).

    Returns:
      A pytree schedule ``s(step) -> float32`` (the step's shape).

    Raises:
      TypeError: a float argument is not a real number.
      ValueError: a float argument is NaN or ``None``; ``gamma < 0`` or ``power < 0``.

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.inverse_time(0.1, gamma=0.1)
      >>> [round(float(s(k)), 4) for k in (0, 5, 10)]
      [0.1, 0.0667, 0.05]

    References:
      Robbins & Monro, "A Stochastic Approximation Method", 1951; Zinkevich, "Online
      Convex Programming and Generalized Infinitesimal Gradient Ascent", ICML 2003.
    """

    init_value: Any
    gamma: Any = leaf_field(_checks.non_negative)
    power: Any = leaf_field(_checks.non_negative, default=1.0)

    def _value(self, step):
        return self.init_value * jnp.power(1.0 + self.gamma * as_float(step), -self.power)


def _polynomial(init, end, power, step, steps: int, begin: int):
    count = jnp.clip(step - begin, 0, steps)
    # (T - count) / T, not 1 - count / T: XLA turns "/ T" into "* (1/T)", and
    # 1 - T * (1/T) can be -1e-7, whose non-integer power is NaN (optax's form does that).
    frac = (steps - count) / steps
    return (init - end) * (frac**power) + end


@schedule_class
class polynomial(Schedule):
    r"""Polynomial decay from ``init_value`` to ``end_value`` (optax ``polynomial_schedule``).

    .. math::

        \eta_k = (\eta_0 - \eta_{end})\,\Big(\frac{T - \min(k', T)}{T}\Big)^p + \eta_{end},
        \qquad k' = \max(k - b, 0)

    Same values as ``optax.polynomial_schedule``. torch's ``PolynomialLR(opt,
    total_iters=T, power=p)`` is the case ``end_value=0, transition_begin=0``:
    :math:`\eta_0 (1 - \min(k, T)/T)^p` (same values, by formula). Differences from
    optax: ``transition_steps <= 0`` or a negative ``transition_begin`` raise
    ``ValueError`` (optax falls back silently; :func:`gradtx.schedules.polynomial_schedule`
    keeps optax's fallbacks), and the fraction is computed as :math:`(T - k')/T`, so a
    non-integer ``power`` gives ``end_value`` at the end under ``jit`` where optax's
    ``1 - k'/T`` can give NaN. The "poly" policy of Chen et al., DeepLab (2017).

    Args:
      init_value: :math:`\eta_0`, the value up to step ``transition_begin`` (a leaf).
      end_value: :math:`\eta_{end}`, the value from step ``transition_begin +
        transition_steps`` on (a leaf).
      power: :math:`p > 0` (a leaf).
      transition_steps: positive int :math:`T` (static).
      transition_begin: non-negative int :math:`b` (static), default 0.

    Returns:
      A pytree schedule ``s(step) -> float32`` (the step's shape); ``horizon`` is
      ``transition_begin + transition_steps``, ``base_value`` the larger of
      ``init_value`` and ``end_value``.

    Raises:
      TypeError: a float argument is not a real number.
      ValueError: a float argument is NaN or ``None``; ``power <= 0``;
        ``transition_steps`` is not an integer ``>= 1`` or ``transition_begin`` not one
        ``>= 0``.

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.polynomial(0.1, 0.0, power=2.0, transition_steps=10)
      >>> [round(float(s(k)), 4) for k in (0, 5, 10)]
      [0.1, 0.025, 0.0]

    References:
      Chen et al., "DeepLab: Semantic Image Segmentation with Deep Convolutional Nets,
      Atrous Convolution, and Fully Connected CRFs", TPAMI 2017; optax
      ``polynomial_schedule``.
    """

    init_value: Any
    end_value: Any
    power: Any = leaf_field(_checks.positive)
    transition_steps: int = static_field(check=integer())
    transition_begin: int = static_field(default=0, check=integer(minimum=0))

    @property
    def horizon(self) -> int:
        return self.transition_begin + self.transition_steps

    @property
    def base_value(self) -> jax.Array:
        """The larger end (a ramp up to ``end_value`` is a warmup to it)."""
        return jnp.maximum(
            jnp.asarray(self.init_value, jnp.float32), jnp.asarray(self.end_value, jnp.float32)
        )

    def _value(self, step):
        return _polynomial(
            self.init_value,
            self.end_value,
            self.power,
            step,
            self.transition_steps,
            self.transition_begin,
        )


@schedule_class
class linear(Schedule):
    r"""Linear transition from ``init_value`` to ``end_value`` (optax ``linear_schedule``).

    :class:`polynomial` with ``power=1``:

    .. math::

        \eta_k = \eta_0 + (\eta_{end}-\eta_0)\,\min(k', T)/T, \qquad k' = \max(k - b, 0)

    Same values as ``optax.linear_schedule``. torch's ``LinearLR(opt, start_factor,
    end_factor, total_iters)`` with base lr :math:`\eta` is
    ``linear(start_factor * eta, end_factor * eta, total_iters)`` (by formula).
    Differences from optax: as :class:`polynomial` (``transition_steps <= 0`` or a
    negative ``transition_begin`` raise ``ValueError``;
    :func:`gradtx.schedules.linear_schedule` keeps optax's fallbacks).

    Args:
      init_value: :math:`\eta_0`, the value up to step ``transition_begin`` (a leaf).
      end_value: :math:`\eta_{end}`, the value from step ``transition_begin +
        transition_steps`` on (a leaf).
      transition_steps: positive int :math:`T` (static).
      transition_begin: non-negative int :math:`b` (static), default 0.

    Returns:
      A pytree schedule ``s(step) -> float32`` (the step's shape); ``horizon`` is
      ``transition_begin + transition_steps``, ``base_value`` the larger of
      ``init_value`` and ``end_value``.

    Raises:
      TypeError: ``init_value`` or ``end_value`` is not a real number.
      ValueError: either is NaN or ``None``; ``transition_steps`` is not an integer
        ``>= 1`` or ``transition_begin`` not one ``>= 0``.

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.linear(0.0, 0.1, transition_steps=10)
      >>> [round(float(s(k)), 4) for k in (0, 5, 10, 15)]
      [0.0, 0.05, 0.1, 0.1]
    """

    init_value: Any
    end_value: Any
    transition_steps: int = static_field(check=integer())
    transition_begin: int = static_field(default=0, check=integer(minimum=0))

    @property
    def horizon(self) -> int:
        return self.transition_begin + self.transition_steps

    @property
    def base_value(self) -> jax.Array:
        """The larger end (a ramp up to ``end_value`` is a warmup to it)."""
        return jnp.maximum(
            jnp.asarray(self.init_value, jnp.float32), jnp.asarray(self.end_value, jnp.float32)
        )

    def _value(self, step):
        return _polynomial(
            self.init_value, self.end_value, 1, step, self.transition_steps, self.transition_begin
        )
