"""Experiment 7, the optimisers of current training recipes on the CNN: AdamW, Muon,
schedule-free AdamW, Prodigy and SOAP (``gradtx.contrib``) train the LeNet-style CNN of
experiment 4 for the same number of steps (batch 32, same init, same data order).

Each uses its authors' default learning rate (no tuning here): AdamW 1e-3 with weight
decay 1e-4; Muon 0.02 (its Newton-Schulz-orthogonalised momentum on the dense layers'
matrices, AdamW at ``adam_learning_rate`` 1e-3 on every other leaf: biases and the 4-D
conv kernels); schedule-free AdamW 2.5e-3 with one epoch of warmup, evaluated at its
averaged point (``gradtx.contrib.schedule_free_eval_params``); Prodigy 1.0 (the lr is a
multiplier of the distance it estimates); SOAP 3e-3 (Adam in the eigenbasis of Shampoo's
preconditioner, refreshed every 10 steps).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

import gradtx
import gradtx.contrib
from gradtx.demo import _cnn
from gradtx.demo._common import Config, new_figure, print_table, progress, save

NAME = "recipes"
TITLE = "AdamW, Muon, schedule-free AdamW, Prodigy and SOAP on the CNN"
BATCH_SIZE = _cnn.BATCH_SIZE


class Recipe(NamedTuple):
    label: str
    make_opt: Callable[[Any], gradtx.GradientTransformation]  # warmup steps -> optimiser
    eval_params: Callable[[Any, Any], Any] | None = None


def _sf_eval(state, params):
    return gradtx.contrib.schedule_free_eval_params(state, params)


RECIPES = (
    Recipe("AdamW 1e-3", lambda w: gradtx.adamw(1e-3, weight_decay=1e-4)),
    Recipe("Muon 0.02", lambda w: gradtx.contrib.muon(0.02, adam_learning_rate=1e-3)),
    Recipe(
        "schedule-free AdamW 2.5e-3",
        lambda w: gradtx.contrib.schedule_free_adamw(2.5e-3, warmup_steps=w),
        _sf_eval,
    ),
    Recipe("Prodigy 1.0", lambda w: gradtx.contrib.prodigy(1.0)),
    Recipe("SOAP 3e-3", lambda w: gradtx.contrib.soap(3e-3)),
)


def epochs_for(cfg: Config) -> int:
    return cfg.pick(1, 6, 20)


def train_all(cfg: Config, data: _cnn.Data | None = None) -> dict:
    """Trains one CNN per recipe; returns ``{label: History}`` and the run's sizes."""
    data = data if data is not None else _cnn.load_data(cfg)
    epochs = epochs_for(cfg)
    spe = len(data.y_train) // BATCH_SIZE
    warmup = np.full((1,), spe, np.int32)  # one epoch of warmup (a sweep of one: N = 1)
    histories = {}
    with progress(cfg, epochs * len(RECIPES), NAME) as bar:
        for recipe in RECIPES:
            bar.set_postfix_str(recipe.label)

            def make(w, recipe=recipe):
                # the warmup length is static (a step count), the same for every copy
                del w
                return recipe.make_opt(spe)

            histories[recipe.label] = _cnn.train(
                cfg, make, jnp.asarray(warmup), data, batch_size=BATCH_SIZE,
                epochs=epochs, bar=bar, eval_params=recipe.eval_params,
            )
    return {"data": data, "epochs": epochs, "steps_per_epoch": spe, "histories": histories}


def table_rows(result: dict) -> list[tuple]:
    return [
        (label, float(h.train_loss[0, -1]), float(h.train_acc[0, -1]),
         float(h.test_acc[0, -1]), float(h.test_acc[0].max()))
        for label, h in result["histories"].items()
    ]


def plot(result: dict):
    """Training loss and test accuracy against the epoch."""
    fig, axes = new_figure(2, 1, size=(4.3, 3.4))
    ep = np.arange(1, result["epochs"] + 1)
    for label, h in result["histories"].items():
        axes[0, 0].plot(ep, h.train_loss[0], "-o", ms=3, label=label)
        axes[0, 1].plot(ep, h.test_acc[0], "-o", ms=3, label=label)
    for ax, name in zip(axes[0], ("train loss", "test accuracy"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0, 0].set_yscale("log")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{TITLE}, {result['data'].name}", fontsize=10)
    return fig


def run(cfg: Config, data: _cnn.Data | None = None) -> dict:
    result = train_all(cfg, data)
    rows = table_rows(result)
    print_table(
        cfg,
        f"[{NAME}] {TITLE}: {result['data'].name}, {result['epochs']} epochs "
        f"({result['epochs'] * result['steps_per_epoch']} steps), batch {BATCH_SIZE}",
        ("optimiser", "train loss", "train acc", "test acc", "best test acc"),
        rows,
    )
    return {"rows": rows, "result": result, "figures": [save(cfg, plot(result), "cnn_recipes")]}
