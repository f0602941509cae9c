"""Experiment 1, gradient descent in one dimension (Dive into Deep Learning, sec. 12.3.1).

``f(x) = x^2`` from ``x = 10``, 10 steps of :func:`gradtx.sgd` at lr 0.2 (converges),
0.05 (crawls) and 1.1 (diverges: ``|1 - 2 lr| > 1``), all three as one vmapped, jitted
scan; then the non-convex ``f(x) = x cos(c x)``, ``c = 0.15 pi``, at lr 2, which lands
in a local minimum.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import gradtx
from gradtx.demo._common import Config, descend, new_figure, print_table, save

NAME = "1d"
TITLE = "Gradient descent in one dimension"
C = 0.15 * math.pi


def square(x):
    return jnp.sum(x**2)


def x_cos(x):
    return jnp.sum(x * jnp.cos(C * x))


@jax.jit
def _square_runs(lrs, x0):
    return jax.vmap(lambda lr: descend(square, gradtx.sgd(lr), x0, 10))(lrs)


@jax.jit
def _xcos_run(lr, x0):
    return descend(x_cos, gradtx.sgd(lr), x0, 10)


def _square_np(x):
    return x**2


def _x_cos_np(x):
    return x * np.cos(C * x)


def trajectories() -> dict[str, tuple[Callable, np.ndarray]]:
    """``{label: (f, x_0..x_10)}`` for the four runs (``f`` in NumPy, for plots)."""
    x0 = jnp.array([10.0])
    lrs = (0.2, 0.05, 1.1)
    sq = np.asarray(_square_runs(jnp.array(lrs), x0))[..., 0]
    runs = {f"x^2, lr {lr}": (_square_np, sq[i]) for i, lr in enumerate(lrs)}
    runs["x cos(0.15 pi x), lr 2"] = (_x_cos_np, np.asarray(_xcos_run(2.0, x0))[:, 0])
    return runs


def plot(runs):
    """One panel per run: the function and the iterates on it."""
    fig, axes = new_figure(len(runs), 1, size=(3.6, 3.0))
    for ax, (label, (f, xs)) in zip(axes[0], runs.items(), strict=True):
        lim = max(10.0, float(np.max(np.abs(xs[np.isfinite(xs)]))) * 1.05)
        grid = np.linspace(-lim, lim, 400)
        ax.plot(grid, f(grid), color="0.6", lw=1)
        ax.plot(xs, f(xs), "-o", color="tab:orange", ms=4)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("x")
    axes[0, 0].set_ylabel("f(x)")
    return fig


def run(cfg: Config) -> dict:
    runs = trajectories()
    rows = [
        (label, f"{xs[0]:g}", float(xs[-1]), float(f(xs[-1]))) for label, (f, xs) in runs.items()
    ]
    print_table(cfg, f"[{NAME}] {TITLE}: 10 steps from x=10", ("run", "x0", "x10", "f(x10)"), rows)
    return {"rows": rows, "figures": [save(cfg, plot(runs), "1d_gradient_descent")]}
