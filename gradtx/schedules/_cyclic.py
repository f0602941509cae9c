"""Cyclical schedules: torch's CyclicLR (Smith, 2017) and OneCycleLR (Smith & Topin, 2019)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.schedules._base import (
    Schedule,
    as_float,
    boolean,
    check_int,
    choice,
    concrete,
    integer,
    leaf_field,
    schedule_class,
    static_field,
)

_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


def _open_fraction(name, value):
    _checks.check_range(name, value, 0.0, 1.0, low_open=True, high_open=True)


@schedule_class
class cyclic(Schedule):
    r"""Cyclical learning rate (torch ``CyclicLR``): a triangle between two bounds.

    With :math:`u` = ``step_size_up``, :math:`d` = ``step_size_down`` (default
    :math:`u`), :math:`L = u + d`, cycle :math:`c = 1 + \lfloor k/L \rfloor` and
    :math:`r = k \bmod L`:

    .. math::

        \eta_k = \eta_{base} + (\eta_{max} - \eta_{base})\,h_k\,s_k, \qquad
        h_k = \begin{cases} r/u & r \le u \\ (L - r)/d & r > u \end{cases}

    with :math:`s_k = 1` (``"triangular"``), :math:`2^{-(c-1)}` (``"triangular2"``) or
    :math:`\gamma^k` (``"exp_range"``). Same values as ``CyclicLR(opt, base_lr,
    max_lr, step_size_up, step_size_down, mode, gamma)`` after ``k`` calls to
    ``step()`` (by formula; torch computes in float64, we in float32). No optax
    counterpart. Momentum cycling and custom ``scale_fn`` are not part of this.

    Args:
      base_lr: :math:`\eta_{base}`, the lower bound of the cycle, ``>= 0`` (a leaf).
      max_lr: :math:`\eta_{max}`, the upper bound of the cycle, ``>= 0`` (a leaf).
      step_size_up: positive int :math:`u`, steps from ``base_lr`` to ``max_lr``
        (static; default 2000, torch's).
      step_size_down: positive int :math:`d` or ``None`` (= ``step_size_up``), steps
        back down (static; default ``None``).
      mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"`` (static; default
        ``"triangular"``).
      gamma: :math:`\gamma > 0`, the ``exp_range`` factor per step (a leaf; default 1.0).

    Returns:
      A pytree schedule ``s(step) -> float32`` (the step's shape); no ``horizon``;
      ``base_value`` is ``max_lr``.

    Raises:
      TypeError: a float argument is not a real number.
      ValueError: ``base_lr`` or ``max_lr`` is negative, NaN or ``None``; ``gamma <= 0``;
        ``step_size_up`` or ``step_size_down`` is not an integer ``>= 1``; ``mode`` is not
        one of the three.

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.cyclic(0.01, 0.1, step_size_up=5, mode="triangular2")
      >>> [round(float(s(k)), 4) for k in (0, 5, 10, 15, 25)]
      [0.01, 0.1, 0.01, 0.055, 0.0325]

    References:
      Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017; torch
      ``torch.optim.lr_scheduler.CyclicLR``.
    """

    base_lr: Any = leaf_field(_checks.non_negative)
    max_lr: Any = leaf_field(_checks.non_negative)
    step_size_up: int = static_field(default=2000, check=integer())
    step_size_down: int | None = static_field(default=None)
    mode: str = static_field(default="triangular", check=choice(*_CYCLIC_MODES))
    gamma: Any = leaf_field(_checks.positive, default=1.0)

    def _normalize(self) -> None:
        down = self.step_size_up if self.step_size_down is None else self.step_size_down
        self._set("step_size_down", check_int("step_size_down", down))

    @property
    def base_value(self) -> jax.Array:
        """``max_lr``, the top of the cycle."""
        return jnp.asarray(self.max_lr, jnp.float32)

    def _value(self, step):
        up, down = self.step_size_up, self.step_size_down
        total = up + down
        r = step % total
        height = jnp.where(r <= up, r / up, (total - r) / down)
        amplitude = (self.max_lr - self.base_lr) * height
        if self.mode == "triangular2":
            cycle = as_float(step // total)  # c - 1
            amplitude = amplitude * jnp.power(2.0, -cycle)
        elif self.mode == "exp_range":
            amplitude = amplitude * jnp.power(self.gamma, as_float(step))
        return self.base_lr + amplitude


def _anneal(strategy: str, start, end, pct):
    if strategy == "cos":
        return end + (start - end) / 2.0 * (jnp.cos(jnp.pi * pct) + 1)
    return (end - start) * pct + start


@schedule_class
class one_cycle(Schedule):
    r"""The one-cycle policy (torch ``OneCycleLR``): up to ``max_lr``, then far below.

    With :math:`\eta_{init} = \eta_{max}/\text{div\_factor}` and
    :math:`\eta_{min} = \eta_{init}/\text{final\_div\_factor}`, each phase anneals from
    its start value :math:`a` to its end value :math:`b` with
    :math:`p = (k - \text{start})/(\text{end} - \text{start})`:

    .. math::

        \eta_k = b + (a - b)\,\tfrac12\big(1 + \cos(\pi p)\big) \quad (\texttt{"cos"}),
        \qquad \eta_k = a + (b - a)\,p \quad (\texttt{"linear"}).

    Two phases (default): :math:`\eta_{init} \to \eta_{max}` over steps ``0 .. e1`` with
    ``e1 = pct_start * total_steps - 1``, then :math:`\eta_{max} \to \eta_{min}` over
    ``e1 .. total_steps - 1``. ``three_phase=True``: :math:`\eta_{init} \to
    \eta_{max}` to ``e1``, back to :math:`\eta_{init}` at ``e2 = 2 pct_start
    total_steps - 2``, then to :math:`\eta_{min}` at ``total_steps - 1``.

    Same values as ``OneCycleLR(opt, max_lr, total_steps, pct_start,
    anneal_strategy, div_factor, final_div_factor, three_phase)`` for
    ``0 <= k < total_steps`` (by formula; momentum cycling is not part of this).
    After the schedule (``k >= total_steps - 1``) we hold :math:`\eta_{min}`; torch
    raises for ``k > total_steps``. optax's ``cosine_onecycle_schedule`` /
    ``linear_onecycle_schedule`` place the phase boundaries at
    ``int(pct_start * transition_steps)`` instead, so their values differ from torch's
    and ours by about one step's worth.

    Args:
      max_lr: :math:`\eta_{max}`, the peak, ``>= 0`` (a leaf).
      total_steps: int ``>= 2``, the schedule's length (static).
      pct_start: the fraction of ``total_steps`` spent warming up, in ``(0, 1)`` (a
        leaf; default 0.3).
      anneal_strategy: ``"cos"`` or ``"linear"`` (static; default ``"cos"``).
      div_factor: ``> 0``, :math:`\eta_{init} = \eta_{max}/\text{div\_factor}` (a leaf;
        default 25.0).
      final_div_factor: ``> 0``, :math:`\eta_{min} = \eta_{init}/\text{final\_div\_factor}`
        (a leaf; default 1e4).
      three_phase: bool (static; default ``False``), see above.

    Returns:
      A pytree schedule ``s(step) -> float32`` (the step's shape); ``horizon`` is
      ``total_steps``, ``base_value`` is ``max_lr``.

    Raises:
      TypeError: a float argument is not a real number.
      ValueError: ``max_lr`` is negative, NaN or ``None``; ``total_steps`` is not an
        integer ``>= 2``; ``pct_start`` is not in ``(0, 1)``; ``div_factor`` or
        ``final_div_factor`` is ``<= 0``; ``anneal_strategy`` is not ``"cos"`` or
        ``"linear"``; ``three_phase`` is not a bool; a phase is degenerate (the warmup
        ``pct_start * total_steps`` must exceed 1 step and leave at least one step to
        anneal; with ``three_phase=True`` it must be under half the schedule).

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.one_cycle(0.1, total_steps=20)  # peak at step 0.3 * 20 - 1 = 5
      >>> [round(float(s(k)), 4) for k in (0, 5, 10, 19)]
      [0.004, 0.1, 0.0717, 0.0]

    References:
      Smith & Topin, "Super-Convergence: Very Fast Training of Neural Networks Using
      Large Learning Rates", 2019; torch ``torch.optim.lr_scheduler.OneCycleLR``.
    """

    max_lr: Any = leaf_field(_checks.non_negative)
    total_steps: int = static_field(check=integer(minimum=2))
    pct_start: Any = leaf_field(_open_fraction, default=0.3)
    anneal_strategy: str = static_field(default="cos", check=choice("cos", "linear"))
    div_factor: Any = leaf_field(_checks.positive, default=25.0)
    final_div_factor: Any = leaf_field(_checks.positive, default=1e4)
    three_phase: bool = static_field(default=False, check=boolean)

    def _normalize(self) -> None:
        pct = concrete(self.pct_start)
        if pct is None:
            return
        ends = self._phase_ends(pct)
        lengths = [b - a for a, b in zip((0.0, *ends), ends, strict=False)]
        if min(lengths) <= 0:
            raise ValueError(
                f"pct_start={pct!r} with total_steps={self.total_steps} gives an empty "
                f"phase (phase ends at steps {ends}); the warmup pct_start * total_steps "
                "must be > 1 step and shorter than the schedule"
                + (" (< half of it with three_phase=True)" if self.three_phase else "")
            )

    def _phase_ends(self, pct):
        warm = pct * self.total_steps
        last = float(self.total_steps - 1)
        if self.three_phase:
            return (warm - 1, 2 * warm - 2, last)
        return (warm - 1, last)

    @property
    def horizon(self) -> int:
        return self.total_steps

    @property
    def base_value(self) -> jax.Array:
        """``max_lr``, the top of the cycle."""
        return jnp.asarray(self.max_lr, jnp.float32)

    def _value(self, step):
        initial = self.max_lr / self.div_factor
        minimum = initial / self.final_div_factor
        if self.three_phase:
            values = (initial, self.max_lr, initial, minimum)
        else:
            values = (initial, self.max_lr, minimum)
        ends = self._phase_ends(self.pct_start)
        s = jnp.minimum(as_float(step), float(self.total_steps - 1))
        # Walk the phases from the last: the first phase with s <= end wins (torch).
        start_steps = (0.0, *ends[:-1])

        def progress(i):
            # An empty phase (end <= start) is rejected for a concrete pct_start; a traced
            # one (built inside jit) cannot raise, and gave 0/0 = NaN at its only step:
            # the phase is done there (p = 1, its end value), as if skipped.
            length = ends[i] - start_steps[i]
            ok = length > 0
            return jnp.where(ok, (s - start_steps[i]) / jnp.where(ok, length, 1.0), 1.0)

        i = len(ends) - 1
        out = _anneal(self.anneal_strategy, values[i], values[i + 1], progress(i))
        for i in range(len(ends) - 2, -1, -1):
            value = _anneal(self.anneal_strategy, values[i], values[i + 1], progress(i))
            out = jnp.where(s <= ends[i], value, out)
        return out
