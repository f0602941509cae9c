"""Experiment 2, optimisers on two-dimensional quadratics (Dive into Deep Learning,
secs. 12.3-12.4, 12.6-12.8), all from ``(x1, x2) = (-5, -2)``, 20 steps unless said.

* ``f = x1^2 + 2 x2^2``: gradient descent at lr 0.1; SGD (the gradient plus Gaussian
  noise of std 1, :func:`gradtx.add_noise` with ``gamma=0``) at ``0.1 * lr(t)`` with
  ``lr(t)`` constant, ``exp(-0.1 t)`` (1000 steps) and ``(1 + 0.1 t)^-0.5`` (50 steps),
  from :mod:`gradtx.schedules`. d2l's step counter starts at 1, ours at 0.
* ``f = 0.1 x1^2 + 2 x2^2`` (ill-conditioned): gradient descent at lr 0.4 and 0.6,
  momentum at lr 0.6 with beta 0.5 and 0.25, Adagrad at lr 0.4 and 2, RMSProp at lr 0.4
  with decay 0.9. Adagrad and RMSProp use d2l's ``eps = 1e-6`` and a zero initial
  accumulator (gradtx's defaults are optax's).

Each run is one jitted ``lax.scan``; the plots are contour maps with the trajectories.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gradtx
from gradtx import schedules
from gradtx.demo._common import Config, descend, new_figure, print_table, save

NAME = "2d"
TITLE = "Optimisers on 2-D quadratics"
X0 = (-5.0, -2.0)


def f_round(x):
    """``x1^2 + 2 x2^2``."""
    return x[0] ** 2 + 2 * x[1] ** 2


def f_narrow(x):
    """``0.1 x1^2 + 2 x2^2``."""
    return 0.1 * x[0] ** 2 + 2 * x[1] ** 2


class Run(NamedTuple):
    label: str
    group: str
    f: Callable
    opt: Callable[[], gradtx.GradientTransformation]
    steps: int = 20


def _noisy_sgd(schedule, seed: int = 0) -> gradtx.GradientTransformation:
    # SGD as in d2l: the exact gradient plus N(0, 1) noise, then -lr(t) * g.
    return gradtx.chain(gradtx.add_noise(eta=1.0, gamma=0.0, seed=seed), gradtx.sgd(schedule))


RUNS = (
    Run("GD lr 0.1", "gd_sgd", f_round, lambda: gradtx.sgd(0.1)),
    Run("SGD lr 0.1 constant", "gd_sgd", f_round, lambda: _noisy_sgd(schedules.constant(0.1))),
    Run(
        "SGD lr 0.1 exp(-0.1t)",
        "gd_sgd",
        f_round,
        lambda: _noisy_sgd(schedules.exp_decay(0.1, k=0.1)),
        1000,
    ),
    Run(
        "SGD lr 0.1 (1+0.1t)^-0.5",
        "gd_sgd",
        f_round,
        lambda: _noisy_sgd(schedules.inverse_time(0.1, gamma=0.1, power=0.5)),
        50,
    ),
    Run("GD lr 0.4", "momentum", f_narrow, lambda: gradtx.sgd(0.4)),
    Run("GD lr 0.6", "momentum", f_narrow, lambda: gradtx.sgd(0.6)),
    Run("momentum lr 0.6 beta 0.5", "momentum", f_narrow, lambda: gradtx.sgd(0.6, momentum=0.5)),
    Run("momentum lr 0.6 beta 0.25", "momentum", f_narrow, lambda: gradtx.sgd(0.6, momentum=0.25)),
    Run(
        "Adagrad lr 0.4",
        "adaptive",
        f_narrow,
        lambda: gradtx.adagrad(0.4, initial_accumulator_value=0.0, eps=1e-6),
    ),
    Run(
        "Adagrad lr 2",
        "adaptive",
        f_narrow,
        lambda: gradtx.adagrad(2.0, initial_accumulator_value=0.0, eps=1e-6),
    ),
    Run(
        "RMSProp lr 0.4 decay 0.9",
        "adaptive",
        f_narrow,
        lambda: gradtx.rmsprop(0.4, decay=0.9, eps=1e-6),
    ),
)

GROUPS = {
    "gd_sgd": "GD and SGD on x1^2 + 2 x2^2",
    "momentum": "GD vs momentum on 0.1 x1^2 + 2 x2^2",
    "adaptive": "Adagrad and RMSProp on 0.1 x1^2 + 2 x2^2",
}


def trajectory(run: Run) -> np.ndarray:
    """The ``(steps + 1, 2)`` iterates of one run (one jitted scan)."""
    fn = jax.jit(lambda x0: descend(run.f, run.opt(), x0, run.steps))
    return np.asarray(fn(jnp.array(X0)))


def trajectories(runs=RUNS) -> dict[str, np.ndarray]:
    return {r.label: trajectory(r) for r in runs}


def plot_group(group: str, trajs: dict[str, np.ndarray], runs=RUNS):
    """Contour map of the group's function with each run's trajectory, one panel each."""
    members = [r for r in runs if r.group == group and r.label in trajs]
    fig, axes = new_figure(len(members), 1, size=(3.5, 3.0))
    g1, g2 = np.meshgrid(np.linspace(-5.5, 1.0, 120), np.linspace(-3.0, 1.5, 120))
    for ax, r in zip(axes[0], members, strict=True):
        ax.contour(
            g1, g2, np.asarray(r.f(np.stack([g1, g2]))), levels=15, colors="#1f77b4", linewidths=0.7
        )
        xs = trajs[r.label]
        ax.plot(xs[:, 0], xs[:, 1], "-o", color="#ff7f0e", ms=2.5, lw=1)
        ax.set_xlim(-5.5, 1.0)
        ax.set_ylim(-3.0, 1.5)
        ax.set_title(f"{r.label} ({r.steps} steps)", fontsize=9)
        ax.set_xlabel("x1")
    axes[0, 0].set_ylabel("x2")
    fig.suptitle(GROUPS[group], fontsize=10)
    return fig


def table_rows(trajs: dict[str, np.ndarray], runs=RUNS) -> list[tuple]:
    return [
        (
            r.label,
            GROUPS[r.group].split(" on ")[-1],
            r.steps,
            float(trajs[r.label][-1, 0]),
            float(trajs[r.label][-1, 1]),
            float(r.f(trajs[r.label][-1])),
        )
        for r in runs
        if r.label in trajs
    ]


def run(cfg: Config) -> dict:
    trajs = trajectories()
    rows = table_rows(trajs)
    print_table(
        cfg,
        f"[{NAME}] {TITLE}: final (x1, x2) from (-5, -2)",
        ("run", "f", "steps", "x1", "x2", "f(x)"),
        rows,
    )
    figs = [save(cfg, plot_group(g, trajs), f"2d_{g}") for g in GROUPS]
    return {"rows": rows, "trajectories": trajs, "figures": figs}
