"""Plotting schedules with matplotlib (imported lazily)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from gradtx.schedules._base import Schedule, as_schedule, as_step


@jax.jit
def _evaluate(schedule: Schedule, ks: jax.Array) -> jax.Array:
    return jax.vmap(schedule)(ks)


def values(schedule: Callable[[jax.Array], Any], steps: int | Sequence[int]) -> np.ndarray:
    r"""The schedule's values at many steps, in one vectorised evaluation.

    .. math::

        v_i = s(k_i), \qquad k = (0, 1, \dots, n - 1) \text{ or the given steps}

    The schedule is converted as :func:`as_schedule` does (a plain callable or a number
    works too) and evaluated with one jitted ``jax.vmap`` over the steps (one compilation
    per schedule structure and number of steps).

    Args:
      schedule: a gradtx schedule, a callable ``fn(step) -> value`` or a real number.
      steps: an int ``n`` (the steps ``0 .. n-1``) or a sequence/array of integer steps
        (negative ones are clamped to 0, floats truncated, as :class:`Schedule` does).

    Returns:
      A NumPy ``float32`` array of the values, of shape ``(n,)`` or the shape of
      ``steps``.

    Raises:
      TypeError: ``schedule`` is not a schedule, callable or real number, or ``steps``
        holds something other than numbers.

    Example:
      >>> from gradtx import schedules
      >>> v = schedules.values(schedules.linear(0.0, 0.1, transition_steps=4), 5)
      >>> [round(x, 4) for x in v.tolist()]
      [0.0, 0.025, 0.05, 0.075, 0.1]
      >>> [round(x, 4) for x in schedules.values(schedules.step_lr(1.0, 2), [0, 2, 4]).tolist()]
      [1.0, 0.1, 0.01]
    """
    ks = np.arange(steps) if np.ndim(steps) == 0 else np.asarray(steps)
    sched = as_schedule("schedule", schedule)
    return np.asarray(_evaluate(sched, as_step(ks)))


def _short(value: Any) -> str:
    if isinstance(value, Schedule):
        return label(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    try:
        v = float(np.asarray(value))
    except (TypeError, ValueError):
        return repr(value)
    return f"{v:.4g}"


def label(schedule: Any) -> str:
    """A short readable name for a schedule: its constructor and the arguments that differ
    from their defaults, e.g. ``warmup(cosine_decay(0.1, 1000), 100)``.

    Args:
      schedule: a :mod:`gradtx.schedules` object or any callable.

    Returns:
      The name, as a string (a plain function gives its ``__name__``).

    Example:
      >>> from gradtx import schedules
      >>> schedules.label(schedules.warmup(schedules.cosine_decay(0.1, 1000), 100))
      'warmup(cosine_decay(0.1, 1000), 100)'
    """
    if not isinstance(schedule, Schedule):
        return getattr(schedule, "__name__", type(schedule).__name__)
    args = []
    for f in dataclasses.fields(schedule):
        if not f.repr:
            continue
        value = getattr(schedule, f.name)
        default = f.default if f.default is not dataclasses.MISSING else dataclasses.MISSING
        try:
            same = default is not dataclasses.MISSING and bool(
                np.all(np.asarray(value) == np.asarray(default)))
        except (TypeError, ValueError):
            same = False
        if not same:
            args.append(_short(value))
    return f"{type(schedule).__name__}({', '.join(args)})"


def plot(
    *schedules: Callable[[jax.Array], Any],
    steps: int | Sequence[int] = 100,
    labels: Sequence[str] | None = None,
    ax: Any = None,
) -> Any:
    r"""Plots each schedule's value against the step; returns the matplotlib ``Axes``.

    One line per schedule, the points :math:`(k, s(k))` computed by :func:`values`,
    labelled with ``labels`` or :func:`label` (the constructor and its non-default
    arguments, cut to 60 characters), a legend, ``step`` and ``learning rate`` axis
    labels. ``ax`` draws into an existing ``Axes`` (default: a new figure from
    ``matplotlib.pyplot.subplots()``). matplotlib is imported here only.

    Args:
      *schedules: one or more gradtx schedules or callables ``fn(step) -> value``.
      steps: a positive int ``n`` (the steps ``0 .. n-1``; default 100) or an explicit
        sequence of integer steps.
      labels: one legend label per schedule, or ``None`` (default) for :func:`label`.
      ax: a matplotlib ``Axes`` to draw into, or ``None`` (default) for a new figure.

    Returns:
      The matplotlib ``Axes`` holding the lines (``ax.figure`` saves it).

    Raises:
      ValueError: no schedule is given; ``steps`` is not a positive integer or a
        sequence; ``labels`` does not hold one label per schedule.
      TypeError: a schedule is not callable.
      ImportError: matplotlib is not installed (only when ``ax`` is ``None``).

    Example:
      >>> from matplotlib.figure import Figure
      >>> from gradtx import schedules
      >>> ax = schedules.plot(
      ...     schedules.cosine_decay(0.1, 100),
      ...     schedules.warmup(schedules.cosine_decay(0.1, 80), 20),
      ...     steps=120, ax=Figure().subplots())
      >>> [line.get_label() for line in ax.get_lines()]
      ['cosine_decay(0.1, 100)', 'warmup(cosine_decay(0.1, 80), 20)']
      >>> [round(float(line.get_ydata()[20]), 4) for line in ax.get_lines()]
      [0.0905, 0.1]

      With ``ax=None`` it draws a new pyplot figure: ``ax.figure.savefig("lr.png")``.
    """
    if not schedules:
        raise ValueError("plot needs at least one schedule")
    for i, s in enumerate(schedules):
        if not callable(s):
            raise TypeError(f"schedules[{i}] must be a schedule (callable), got {s!r}")
    if np.ndim(steps) == 0:
        if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
            raise ValueError(f"steps must be a positive integer or a sequence, got {steps!r}")
    if labels is not None and len(labels) != len(schedules):
        raise ValueError(
            f"labels must hold one label per schedule ({len(schedules)}), got {len(labels)}"
        )
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    ks = np.arange(steps) if np.ndim(steps) == 0 else np.asarray(steps)
    for i, s in enumerate(schedules):
        name = labels[i] if labels is not None else label(s)
        name = name if len(name) <= 60 else name[:57] + "..."
        ax.plot(ks, values(s, ks), label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.legend()
    return ax
