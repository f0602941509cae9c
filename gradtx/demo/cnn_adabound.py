"""Experiment 5, AdaBound against its rivals on the CNN (Luo et al., *Adaptive Gradient
Methods with Dynamic Bound of Learning Rate*, ICLR 2019, figs. 3-4 in miniature).

SGD with momentum 0.9, Adam, AMSGrad, AdaBound and AMSBound, and the newer Lion,
Adafactor, RAdam and LAMB, train the LeNet-style CNN
of experiment 4 (batch 32, same init, same data order). Each optimiser runs over a
grid of learning rates, ``base_lr * m`` for multipliers ``m`` (``0.1 .. 10`` by
default), as ONE jitted, vmapped training loop (the optimiser is built inside the
traced function from the traced lr, the idea of :func:`gradtx.vmap_sweep`). The
learning curves are those of ``m = 1``; the sensitivity plot shows every ``m``.

Base rates: the paper's 1e-3 for the Adam family and AdaBound/AMSBound (with the
paper's ``final_lr = 0.1``, ``gamma = 1e-3``, held fixed over the grid: the paper's
claim is robustness to the initial lr); SGD+momentum 0.03, the best of its grid here
(the paper's 0.1 suits its ResNets on CIFAR-10, and diverges on this small CNN);
Lion 3e-4 (its paper's rule: 3-10x below AdamW's), Adafactor 1e-2 (a relative step: it
scales by each parameter's RMS), RAdam 1e-3 (Adam's; its rectified warm-up makes it the
slowest starter here) and LAMB 1e-2 (a trust-ratio step of ``lr * ||w||`` per layer; x3
diverges on this CNN). Each was checked over the same 0.1 .. 10 grid.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

import gradtx
from gradtx.demo import _cnn
from gradtx.demo._common import Config, new_figure, print_table, progress, save

NAME = "adabound"
TITLE = "AdaBound vs Adam, AMSGrad, SGD+momentum, AMSBound, Lion, Adafactor, RAdam, LAMB on the CNN"
LION_LR, ADAFACTOR_LR, RADAM_LR, LAMB_LR = 3e-4, 1e-2, 1e-3, 1e-2
BATCH_SIZE = _cnn.BATCH_SIZE


class Contender(NamedTuple):
    label: str
    make_opt: Callable[[jnp.ndarray], gradtx.GradientTransformation]
    base_lr: float


CONTENDERS = (
    Contender("SGD+momentum", lambda lr: gradtx.sgd(lr, momentum=0.9), 0.03),
    Contender("Adam", lambda lr: gradtx.adam(lr), 1e-3),
    Contender("AMSGrad", lambda lr: gradtx.amsgrad(lr), 1e-3),
    Contender("AdaBound", lambda lr: gradtx.adabound(lr, final_lr=0.1, gamma=1e-3), 1e-3),
    Contender("AMSBound", lambda lr: gradtx.amsbound(lr, final_lr=0.1, gamma=1e-3), 1e-3),
    Contender("Lion", lambda lr: gradtx.lion(lr), LION_LR),
    Contender("Adafactor", lambda lr: gradtx.adafactor(lr), ADAFACTOR_LR),
    Contender("RAdam", lambda lr: gradtx.radam(lr), RADAM_LR),
    Contender("LAMB", lambda lr: gradtx.lamb(lr), LAMB_LR),
)


def settings(cfg: Config) -> tuple[int, np.ndarray]:
    """``(epochs, lr multipliers)``; the multipliers always include 1."""
    epochs = cfg.pick(2, 6, 30)  # default 6 (was 10 with 5 optimisers): about the same time
    mult = cfg.pick(
        [0.3, 1.0, 3.0], [0.1, 0.3, 1.0, 3.0, 10.0], [0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]
    )
    return epochs, np.asarray(mult, np.float32)


def train_all(cfg: Config, data: _cnn.Data | None = None, contenders=CONTENDERS) -> dict:
    """One vmapped sweep over the lr grid per optimiser: ``{label: History}`` with a
    leading axis over the multipliers."""
    data = data if data is not None else _cnn.load_data(cfg)
    epochs, mult = settings(cfg)
    histories = {}
    with progress(cfg, epochs * len(contenders), NAME) as bar:
        for c in contenders:
            bar.set_postfix_str(f"{c.label} x{len(mult)} lrs")
            lrs = jnp.asarray(c.base_lr * mult, jnp.float32)
            histories[c.label] = _cnn.train(
                cfg, c.make_opt, lrs, data, batch_size=BATCH_SIZE, epochs=epochs, bar=bar
            )
    return {
        "data": data,
        "epochs": epochs,
        "multipliers": mult,
        "histories": histories,
        "contenders": contenders,
    }


def _base(result: dict) -> int:
    return int(np.argmin(np.abs(result["multipliers"] - 1.0)))


def table_rows(result: dict) -> list[tuple]:
    i, mult = _base(result), result["multipliers"]
    rows = []
    for c in result["contenders"]:
        h = result["histories"][c.label]
        acc = h.test_acc[:, -1]
        best = int(np.nanargmax(acc))
        rows.append(
            (
                c.label,
                f"{c.base_lr:g}",
                float(h.train_loss[i, -1]),
                float(acc[i]),
                f"{float(acc[best]):.4f} (x{mult[best]:g})",
                float(np.nanmin(acc)),
                float(np.nanmax(acc) - np.nanmin(acc)),
            )
        )
    return rows


def plot_curves(result: dict):
    """Training loss and test accuracy per epoch at each optimiser's base lr."""
    fig, axes = new_figure(2, 1, size=(4.6, 3.5))
    i = _base(result)
    ep = np.arange(1, result["epochs"] + 1)
    for c in result["contenders"]:
        h = result["histories"][c.label]
        axes[0, 0].plot(ep, h.train_loss[i], "-o", ms=3, label=f"{c.label} lr {c.base_lr:g}")
        axes[0, 1].plot(ep, h.test_acc[i], "-o", ms=3, label=c.label)
    axes[0, 0].set_yscale("log")
    for ax, name in zip(axes[0], ("train loss", "test accuracy"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"Learning curves, {result['data'].name}", fontsize=10)
    return fig


def plot_sensitivity(result: dict):
    """Final test accuracy against the lr multiplier, and its spread per optimiser."""
    fig, axes = new_figure(2, 1, size=(4.6, 3.5))
    mult = result["multipliers"]
    labels = [c.label for c in result["contenders"]]
    finals = [result["histories"][k].test_acc[:, -1] for k in labels]
    for k, acc in zip(labels, finals, strict=True):
        axes[0, 0].plot(mult, acc, "-o", ms=4, label=k)
    axes[0, 0].set_xscale("log")
    axes[0, 0].set_xlabel("lr / base lr")
    axes[0, 0].set_ylabel("final test accuracy")
    axes[0, 0].legend(fontsize=7)
    axes[0, 0].grid(alpha=0.3)
    ax = axes[0, 1]
    for j, acc in enumerate(finals):
        ax.scatter(np.full(len(acc), j), acc, s=18, alpha=0.8)
        ax.vlines(j, np.nanmin(acc), np.nanmax(acc), lw=6, alpha=0.25)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=30, fontsize=8)
    ax.set_ylabel("final test accuracy over the lr grid")
    ax.grid(alpha=0.3, axis="y")
    fig.suptitle(
        f"Learning-rate sensitivity ({len(mult)} lrs each, one vmapped sweep)", fontsize=10
    )
    return fig


def run(cfg: Config, data: _cnn.Data | None = None) -> dict:
    result = train_all(cfg, data)
    rows = table_rows(result)
    mult = ", ".join(f"{m:g}" for m in result["multipliers"])
    print_table(
        cfg,
        f"[{NAME}] {TITLE}: {result['data'].name}, {result['epochs']} epochs, batch "
        f"{BATCH_SIZE}, lr = base x ({mult})",
        ("optimiser", "base lr", "train loss", "test acc", "best test acc", "worst", "spread"),
        rows,
    )
    figs = [
        save(cfg, plot_curves(result), "adabound_curves"),
        save(cfg, plot_sensitivity(result), "adabound_lr_sensitivity"),
    ]
    return {"rows": rows, "result": result, "figures": figs}
