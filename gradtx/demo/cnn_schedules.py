"""Experiment 4, learning-rate schedules on a LeNet-style CNN (Dive into Deep Learning,
sec. 12.11), SGD without momentum, batch 32, for ``E`` epochs (``E = 30`` with
``--full``, as in d2l; fewer by default). Every boundary is given in epochs of the
30-epoch run and scaled by ``E / 30``:

* constant lr 0.3;
* multi-step: lr 0.5, halved at epochs 15 and 30 (:func:`gradtx.schedules.multistep_lr`);
* cosine from 0.3 to 0.01 over the first 20 epochs, then flat
  (:func:`gradtx.schedules.cosine_decay`);
* the same cosine after 5 linear warmup epochs from 0
  (:func:`gradtx.schedules.warmup`, which shifts the cosine: it ends at epoch 25).

The schedules advance every mini-batch step (d2l's step once per epoch). Data: the
shipped digits (default) or Fashion-MNIST with ``--data-dir``. The four runs share
one compiled training loop: the schedule is picked by a traced index
(``jax.lax.switch``), so only its number changes between runs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import gradtx
from gradtx import schedules
from gradtx.demo import _cnn
from gradtx.demo._common import Config, new_figure, print_table, progress, save

NAME = "schedules"
TITLE = "Learning-rate schedules on a LeNet-style CNN (SGD)"
BATCH_SIZE = _cnn.BATCH_SIZE


def epochs_for(cfg: Config) -> int:
    return cfg.pick(3, 15, 30)


def make_schedules(epochs: int, steps_per_epoch: int) -> dict[str, schedules.Schedule]:
    """The four schedules, in optimiser steps, for an ``epochs``-epoch run."""

    def ep(epoch_of_30: float) -> float:  # the epoch of this run
        return epoch_of_30 * epochs / 30

    def at(epoch_of_30: float) -> int:  # ... in optimiser steps
        return max(1, int(round(ep(epoch_of_30) * steps_per_epoch)))

    def fmt(e: float) -> str:
        return f"{e:g}"

    cosine = schedules.cosine_decay(0.3, decay_steps=at(20), alpha=0.01 / 0.3)
    # every label is derived from this run's boundaries (they scale with `epochs`)
    return {
        "constant 0.3": schedules.constant(0.3),
        f"multi-step 0.5, x0.5 at ep {fmt(ep(15))}, {fmt(ep(30))}": schedules.multistep_lr(
            0.5, milestones=(at(15), at(30)), gamma=0.5
        ),
        f"cosine 0.3 -> 0.01 over {fmt(ep(20))} ep": cosine,
        f"warmup {fmt(ep(5))} ep + cosine": schedules.warmup(cosine, warmup_steps=at(5)),
    }


def train_all(cfg: Config, data: _cnn.Data | None = None) -> dict:
    """Trains one CNN per schedule; returns ``{label: History}`` plus the schedules."""
    data = data if data is not None else _cnn.load_data(cfg)
    epochs = epochs_for(cfg)
    spe = len(data.y_train) // BATCH_SIZE
    scheds = make_schedules(epochs, spe)
    # Every schedule as data (a sweep of one, N = 1: its numbers are traced, not folded
    # into the program as constants), and an index saying which one a run follows.
    stacked = tuple(gradtx.stack_schedules(s) for s in scheds.values())

    def make_opt(hp):
        # SGD with the index-th schedule: one compiled program serves all four (the
        # schedules differ in kind, so they cannot be stacked together and vmapped)
        index, branches = hp
        fns = [lambda count, s=s: s(count) for s in branches]
        return gradtx.sgd(lambda count: jax.lax.switch(index, fns, count))

    run = _cnn.trainer(make_opt, data, batch_size=BATCH_SIZE)
    histories = {}
    with progress(cfg, epochs * len(scheds), NAME) as bar:
        for index, label in enumerate(scheds):
            bar.set_postfix_str(label)
            hp = (jnp.array([index]), stacked)
            histories[label] = run(cfg, hp, epochs=epochs, bar=bar)
    return {
        "data": data,
        "epochs": epochs,
        "steps_per_epoch": spe,
        "schedules": scheds,
        "histories": histories,
    }


def table_rows(result: dict) -> list[tuple]:
    return [
        (label, float(h.train_loss[0, -1]), float(h.train_acc[0, -1]), float(h.test_acc[0, -1]))
        for label, h in result["histories"].items()
    ]


def plot(result: dict):
    """The learning rate, the training loss and the test accuracy against the epoch."""
    fig, axes = new_figure(3, 1, size=(4.3, 3.4))
    epochs, spe = result["epochs"], result["steps_per_epoch"]
    steps = np.arange(epochs * spe)
    ep = np.arange(1, epochs + 1)
    for label, sched in result["schedules"].items():
        h = result["histories"][label]
        axes[0, 0].plot(steps / spe, schedules.values(sched, steps), label=label)
        axes[0, 1].plot(ep, h.train_loss[0], "-o", ms=3, label=label)
        axes[0, 2].plot(ep, h.test_acc[0], "-o", ms=3, label=label)
    for ax, name in zip(axes[0], ("learning rate", "train loss", "test accuracy"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0, 1].set_yscale("log")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{TITLE}, {result['data'].name}", fontsize=10)
    return fig


def run(cfg: Config, data: _cnn.Data | None = None) -> dict:
    result = train_all(cfg, data)
    rows = table_rows(result)
    print_table(
        cfg,
        f"[{NAME}] {TITLE}: {result['data'].name}, {result['epochs']} epochs, batch {BATCH_SIZE}",
        ("schedule", "train loss", "train acc", "test acc"),
        rows,
    )
    return {"rows": rows, "result": result, "figures": [save(cfg, plot(result), "cnn_schedules")]}
