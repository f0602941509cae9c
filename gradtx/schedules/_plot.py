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
    """The schedule's values at ``steps`` (an int ``n`` means ``0 .. n-1``), in one
    vectorised evaluation, as a NumPy ``float32`` array."""
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
    """Plots each schedule's value against the step; returns the matplotlib ``Axes``.

    One line per schedule, labelled with ``labels`` or :func:`label` (the constructor and
    its non-default arguments), a legend, ``step`` and ``learning rate`` axis labels. ``steps`` is a
    count (``0 .. steps-1``) or an explicit sequence of steps. ``ax`` draws into an
    existing ``Axes`` (default: a new figure). matplotlib is imported here only.

    Example::

        ax = plot(cosine_decay(0.1, 100), warmup(cosine_decay(0.1, 80), 20), steps=120)
        ax.figure.savefig("lr.png")
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
