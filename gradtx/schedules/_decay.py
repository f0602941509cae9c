"""Smooth decays: factor with floor, exponential (three forms), inverse time, polynomial."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.schedules._base import Schedule, as_float, check_int, schedule_class, static_field


@schedule_class
class factor(Schedule):
    r"""Factor decay with a floor: :math:`\eta_k = \max(\eta_{floor}, \eta_0 f^k)`.

    The "factor scheduler" of Dive into Deep Learning (Zhang et al., 2023, sec. 12.11).
    Difference from d2l's stateful ``FactorScheduler``: its n-th call (n from 1)
    returns :math:`\max(floor, \eta_0 f^n)`; here ``schedule(0) == init_value`` and
    ``schedule(n)`` is d2l's n-th call.

    Args:
      init_value: :math:`\eta_0`.
      factor: the per-step factor :math:`f > 0`.
      floor: the lower bound (default 0.0), ``>= 0``.

    Example::

        s = factor(0.1, factor=0.9, floor=1e-3)
    """

    init_value: Any
    factor: Any
    floor: Any = 0.0

    def _normalize(self) -> None:
        _checks.check_range("init_value", self.init_value)
        _checks.positive("factor", self.factor)
        _checks.non_negative("floor", self.floor)

    def _value(self, step):
        return jnp.maximum(self.floor, self.init_value * jnp.power(self.factor, as_float(step)))


@schedule_class
class exponential_lr(Schedule):
    r"""Exponential decay per step (torch ``ExponentialLR``): :math:`\eta_k = \eta_0\gamma^k`.

    Same values as ``ExponentialLR(opt, gamma)`` after ``k`` calls to ``step()``; equal
    to ``optax.exponential_decay(init_value, 1, gamma)``. See e.g. Goodfellow, Bengio &
    Courville, *Deep Learning* (2016), sec. 8.3.1.

    Args:
      init_value: :math:`\eta_0`.
      gamma: the per-step factor, ``> 0``.

    Example::

        s = exponential_lr(0.1, gamma=0.99)
    """

    init_value: Any
    gamma: Any

    def _normalize(self) -> None:
        _checks.check_range("init_value", self.init_value)
        _checks.positive("gamma", self.gamma)

    def _value(self, step):
        return self.init_value * jnp.power(self.gamma, as_float(step))


@schedule_class
class exponential_decay(Schedule):
    r"""optax's ``exponential_decay``: :math:`\eta_k = \eta_0\,r^{p_k}`,
    :math:`p_k = (k - b)/T` (``floor``-ed with ``staircase=True``), and
    :math:`\eta_k = \eta_0` for :math:`k \le b`.

    With ``end_value`` the value is clipped at it: a lower bound when
    ``decay_rate < 1``, an upper bound otherwise. Same values as
    ``optax.exponential_decay`` with the same arguments. Differences from optax: bad
    arguments raise ``ValueError`` (optax silently returns a constant schedule for
    ``transition_steps <= 0`` or ``decay_rate == 0``, and treats a negative
    ``transition_begin`` as 0). TensorFlow's ``tf.train.exponential_decay`` form.

    Args:
      init_value: :math:`\eta_0`.
      transition_steps: positive int :math:`T` (static).
      decay_rate: :math:`r > 0`.
      transition_begin: non-negative int :math:`b` (static), default 0.
      staircase: decay in discrete jumps every ``transition_steps`` (static).
      end_value: optional bound (``None`` is static structure).

    Example::

        s = exponential_decay(0.1, transition_steps=1000, decay_rate=0.5, end_value=1e-3)
    """

    init_value: Any
    transition_steps: int = static_field()
    decay_rate: Any
    transition_begin: int = static_field(default=0)
    staircase: bool = static_field(default=False)
    end_value: Any = None

    def _normalize(self) -> None:
        _checks.check_range("init_value", self.init_value)
        self._set("transition_steps", check_int("transition_steps", self.transition_steps))
        _checks.positive("decay_rate", self.decay_rate)
        self._set(
            "transition_begin", check_int("transition_begin", self.transition_begin, minimum=0)
        )
        if not isinstance(self.staircase, bool):
            raise ValueError(f"staircase must be a bool, got {self.staircase!r}")

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
    r"""Continuous exponential decay: :math:`\eta_k = \eta_0\,e^{-\kappa k}`.

    The classic textbook form (e.g. Dive into Deep Learning, sec. 12.11). Equal to
    :class:`exponential_lr` with :math:`\gamma = e^{-\kappa}`; no torch/optax class of
    its own.

    Args:
      init_value: :math:`\eta_0`.
      k: the rate :math:`\kappa \ge 0`.

    Example::

        s = exp_decay(0.1, k=0.01)
    """

    init_value: Any
    k: Any

    def _normalize(self) -> None:
        _checks.check_range("init_value", self.init_value)
        _checks.non_negative("k", self.k)

    def _value(self, step):
        return self.init_value * jnp.exp(-self.k * as_float(step))


@schedule_class
class inverse_time(Schedule):
    r"""Inverse-time decay: :math:`\eta_k = \eta_0\,(1 + \gamma k)^{-p}`.

    ``power=1`` is :math:`\eta_0/(1+\gamma k)`, the Robbins-Monro rate; ``power=0.5``
    the :math:`1/\sqrt{t}` rate of online convex optimisation (Zinkevich, 2003; Robbins
    & Monro, 1951, for the :math:`1/t` rate). No
    torch/optax class of its own (``torch LambdaLR`` with this lambda gives the same).

    Args:
      init_value: :math:`\eta_0`.
      gamma: :math:`\gamma \ge 0`.
      power: :math:`p \ge 0` (default 1.0).

    Example::

        s = inverse_time(0.1, gamma=0.01)
    """

    init_value: Any
    gamma: Any
    power: Any = 1.0

    def _normalize(self) -> None:
        _checks.check_range("init_value", self.init_value)
        _checks.non_negative("gamma", self.gamma)
        _checks.non_negative("power", self.power)

    def _value(self, step):
        return self.init_value * jnp.power(1.0 + self.gamma * as_float(step), -self.power)


def _polynomial(init, end, power, step, steps: int, begin: int):
    count = jnp.clip(step - begin, 0, steps)
    # (T - count) / T, not 1 - count / T: XLA turns "/ T" into "* (1/T)", and
    # 1 - T * (1/T) can be -1e-7, whose non-integer power is NaN (optax's form does that).
    frac = (steps - count) / steps
    return (init - end) * (frac**power) + end


def _check_transition(s: Schedule) -> None:
    """Validates the fields :class:`polynomial` and :class:`linear` share."""
    _checks.check_range("init_value", s.init_value)
    _checks.check_range("end_value", s.end_value)
    s._set("transition_steps", check_int("transition_steps", s.transition_steps))
    s._set("transition_begin", check_int("transition_begin", s.transition_begin, minimum=0))


@schedule_class
class polynomial(Schedule):
    r"""Polynomial decay (optax ``polynomial_schedule``):
    :math:`\eta_k = (\eta_0 - \eta_{end})\,(1 - \min(k', T)/T)^p + \eta_{end}`,
    :math:`k' = \max(k - b, 0)`.

    Same values as ``optax.polynomial_schedule``. torch's ``PolynomialLR(opt,
    total_iters=T, power=p)`` is the case ``end_value=0, transition_begin=0``:
    :math:`\eta_0 (1 - \min(k, T)/T)^p` (same values, by formula). Differences from
    optax: ``transition_steps <= 0`` or a negative ``transition_begin`` raise
    ``ValueError`` (optax falls back silently), and the fraction is computed as
    :math:`(T - k')/T`, so a non-integer ``power`` gives ``end_value`` at the end under
    ``jit`` where optax's ``1 - k'/T`` can give NaN. The "poly" policy of Chen et al.,
    DeepLab (2017).

    Args:
      init_value, end_value: :math:`\eta_0`, :math:`\eta_{end}`.
      power: :math:`p > 0`.
      transition_steps: positive int :math:`T` (static).
      transition_begin: non-negative int :math:`b` (static), default 0.

    Example::

        s = polynomial(0.1, 0.0, power=2.0, transition_steps=1000)
    """

    init_value: Any
    end_value: Any
    power: Any
    transition_steps: int = static_field()
    transition_begin: int = static_field(default=0)

    def _normalize(self) -> None:
        _check_transition(self)
        _checks.positive("power", self.power)

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
    r"""Linear transition (optax ``linear_schedule``): :class:`polynomial` with
    ``power=1``: :math:`\eta_k = \eta_0 + (\eta_{end}-\eta_0)\min(k', T)/T`.

    Same values as ``optax.linear_schedule``. torch's ``LinearLR(opt, start_factor,
    end_factor, total_iters)`` with base lr :math:`\eta` is
    ``linear(start_factor * eta, end_factor * eta, total_iters)`` (by formula).

    Example::

        s = linear(0.0, 0.1, transition_steps=100)
    """

    init_value: Any
    end_value: Any
    transition_steps: int = static_field()
    transition_begin: int = static_field(default=0)

    def _normalize(self) -> None:
        _check_transition(self)

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
