"""Experiment 6, the learning-rate range test and batch size (Smith 2017; Goyal et al.
2017).

1. :func:`gradtx.lr_range_test` on the CNN (SGD+momentum 0.9, batch 32) and on the
   airfoil regression (plain SGD, batch 100): the loss against an exponentially growing
   lr, with both suggestions (steepest descent of the smoothed loss; its minimum / 10).
   The "minimum / 10" lr is then used: on the airfoil for 2 epochs of SGD, next to
   d2l's hand-picked lr 0.4 for batch 100; on the CNN for parts 2 and 3.
2. Gradient accumulation: :class:`gradtx.MultiSteps` with ``k = 4`` micro-batches of 8
   against one batch of 32, same init, same data order, same lr: after one epoch the
   parameters agree to float rounding (~1e-7); over more epochs those rounding
   differences grow, as any two float orders of summation do in a non-convex run.
3. The linear scaling rule (:func:`gradtx.linear_scaling_rule`): batch 128 at the
   batch-32 lr and at 4x that lr, for the same number of epochs (4x fewer updates).

The CNN's base lr is clipped to ``[0.003, 0.05]`` (where SGD+momentum trains this CNN)
in case a short smoke-size range test suggests nonsense.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

import gradtx
from gradtx.demo import _cnn, airfoil
from gradtx.demo._common import Config, new_figure, print_table, progress, save
from gradtx.demo.datasets import load_airfoil

NAME = "lrfinder"
TITLE = "LR range test, gradient accumulation, linear scaling rule"
BATCH_SIZE = _cnn.BATCH_SIZE
ACCUM_K = 4
BIG_BATCH = 128
AIRFOIL_BATCH = 100


def _sgdm(lr):
    return gradtx.sgd(lr, momentum=0.9)


def _cnn_batches(data: _cnn.Data, batch_size: int, count: int, seed: int) -> list:
    order = np.random.default_rng(seed).permutation(len(data.y_train))
    n = len(order) // batch_size
    idx = [order[(i % n) * batch_size : (i % n + 1) * batch_size] for i in range(count)]
    return [(jnp.asarray(data.x_train[i]), jnp.asarray(data.y_train[i])) for i in idx]


def range_tests(cfg: Config, data: _cnn.Data) -> dict:
    """Both LR range tests: ``{"cnn": LRRangeTestResult, "airfoil": ...}``."""
    steps = cfg.pick(12, 100, 200)
    cnn = gradtx.lr_range_test(
        lambda p, b: _cnn.cross_entropy(p, *b)[0],
        _cnn.init_params(data, cfg.seed),
        _sgdm,
        _cnn_batches(data, BATCH_SIZE, steps + 1, cfg.seed),
        min_lr=1e-4,
        max_lr=3.0,
        num_steps=steps,
    )
    X, y = load_airfoil(1500)
    order = np.concatenate(
        [
            np.random.default_rng(cfg.seed + i).permutation(len(y))
            for i in range(1 + AIRFOIL_BATCH * (steps + 1) // len(y))
        ]
    )
    batches = [(X[i], y[i]) for i in order[: AIRFOIL_BATCH * (steps + 1)].reshape(steps + 1, -1)]
    air = gradtx.lr_range_test(
        lambda p, b: airfoil.loss(p, *b),
        airfoil.init_params(cfg.seed),
        gradtx.sgd,
        batches,
        min_lr=1e-4,
        max_lr=10.0,
        num_steps=steps,
    )
    return {"cnn": cnn, "airfoil": air}


def pick_lr(result, low: float, high: float, fallback: float) -> float:
    """The lr to use from an :class:`gradtx.LRRangeTestResult`, clipped to
    ``[low, high]``; ``fallback`` when the test gave no answer."""
    # fastai's conservative rule first (the lr at the smoothed minimum / 10), then the
    # steepest-descent point.
    lr = result.lr_min_div10
    if not math.isfinite(lr):
        lr = result.suggested_lr
    return float(np.clip(lr, low, high)) if math.isfinite(lr) else fallback


def airfoil_check(cfg: Config, lr: float) -> dict:
    """Two epochs of mini-batch SGD (batch 100) at the suggested lr and at d2l's 0.4."""
    X, y = load_airfoil(1500)
    out = {}
    for label, value in ((f"suggested {lr:.3g}", lr), ("d2l's 0.4", 0.4)):
        r = airfoil.Run(label, lambda v=value: gradtx.sgd(v), AIRFOIL_BATCH, 2, "sgd")
        out[label] = airfoil.train(r, X, y, 2, cfg.seed)
    return out


def batch_experiments(cfg: Config, data: _cnn.Data, base_lr: float) -> dict:
    """Batch 32 vs k=4 accumulated micro-batches of 8 vs batch 128 (lr x1 and x4)."""
    epochs = cfg.pick(1, 8, 20)
    # A training set that is a whole number of big batches, so every run sees the same
    # examples each epoch and no accumulation window straddles two epochs.
    n = len(data.y_train) // BIG_BATCH * BIG_BATCH
    data = data._replace(x_train=data.x_train[:n], y_train=data.y_train[:n])
    scaled = gradtx.linear_scaling_rule(base_lr, BIG_BATCH, BATCH_SIZE)
    runs = {}
    with progress(cfg, 3 * epochs, NAME) as bar:
        bar.set_postfix_str(f"batch {BATCH_SIZE}")
        runs["big"] = _cnn.train(
            cfg, _sgdm, jnp.array([base_lr]), data, batch_size=BATCH_SIZE, epochs=epochs, bar=bar
        )
        bar.set_postfix_str(f"{ACCUM_K} x {BATCH_SIZE // ACCUM_K} accumulated")
        runs["accum"] = _cnn.train(
            cfg,
            lambda lr: gradtx.MultiSteps(_sgdm(lr), every_k_schedule=ACCUM_K),
            jnp.array([base_lr]),
            data,
            batch_size=BATCH_SIZE // ACCUM_K,
            epochs=epochs,
            bar=bar,
        )
        bar.set_postfix_str(f"batch {BIG_BATCH}")
        runs["scale"] = _cnn.train(
            cfg,
            _sgdm,
            jnp.array([base_lr, scaled]),
            data,
            batch_size=BIG_BATCH,
            epochs=epochs,
            bar=bar,
        )

    def max_diff(a, b) -> float:  # in NumPy: exact, and no compile per leaf shape
        pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
        return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in pairs)

    big, acc = runs["big"], runs["accum"]
    diff_first = max_diff(big.first_epoch_params, acc.first_epoch_params)
    diff = max_diff(big.params, acc.params)
    scale = max(float(np.max(np.abs(np.asarray(a)))) for a in jax.tree.leaves(big.params))
    return {
        "runs": runs,
        "epochs": epochs,
        "base_lr": base_lr,
        "scaled_lr": scaled,
        "max_abs_diff": diff,
        "max_abs_diff_first_epoch": diff_first,
        "max_abs_param": scale,
        "n_train": n,
    }


def plot_range_tests(tests: dict):
    fig, axes = new_figure(2, 1, size=(4.8, 3.6))
    for ax, (name, title) in zip(
        axes[0], (("cnn", "CNN, SGD+momentum 0.9"), ("airfoil", "airfoil, SGD")), strict=True
    ):
        tests[name].plot(ax)
        ax.set_title(f"LR range test: {title}", fontsize=10)
        ax.legend(fontsize=7)
    return fig


def plot_batches(b: dict):
    fig, axes = new_figure(2, 1, size=(4.6, 3.5))
    ep = np.arange(1, b["epochs"] + 1)
    runs = b["runs"]
    curves = (
        (f"batch {BATCH_SIZE}, lr {b['base_lr']:.3g}", runs["big"], 0, "-o"),
        (f"{ACCUM_K} x {BATCH_SIZE // ACCUM_K} accumulated", runs["accum"], 0, "--x"),
        (f"batch {BIG_BATCH}, lr {b['base_lr']:.3g}", runs["scale"], 0, "-s"),
        (f"batch {BIG_BATCH}, lr {b['scaled_lr']:.3g} (linear rule)", runs["scale"], 1, "-^"),
    )
    for label, h, i, style in curves:
        axes[0, 0].plot(ep, h.train_loss[i], style, ms=4, label=label)
        axes[0, 1].plot(ep, h.test_acc[i], style, ms=4, label=label)
    axes[0, 0].set_yscale("log")
    for ax, name in zip(axes[0], ("train loss", "test accuracy"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Gradient accumulation and the linear scaling rule (SGD+momentum)", fontsize=10)
    return fig


def run(cfg: Config, data: _cnn.Data | None = None) -> dict:
    data = data if data is not None else _cnn.load_data(cfg)
    tests = range_tests(cfg, data)
    base_lr = pick_lr(tests["cnn"], 0.003, 0.05, 0.01)
    air_lr = pick_lr(tests["airfoil"], 1e-3, 1.0, 0.05)
    check = airfoil_check(cfg, air_lr)
    rows = [
        (
            f"CNN ({data.name}), SGD+momentum",
            tests["cnn"].suggested_lr,
            tests["cnn"].lr_min_div10,
            f"{base_lr:.3g} -> batch experiments below",
        ),
        (
            f"airfoil, SGD batch {AIRFOIL_BATCH}",
            tests["airfoil"].suggested_lr,
            tests["airfoil"].lr_min_div10,
            "; ".join(f"{k}: loss {c.losses[-1]:.4f}" for k, c in check.items()),
        ),
    ]
    print_table(
        cfg,
        f"[{NAME}] LR range test",
        ("problem", "steepest lr", "min lr / 10", "lr used / 2-epoch result"),
        rows,
    )
    b = batch_experiments(cfg, data, base_lr)
    runs, n = b["runs"], b["n_train"]
    brows = [
        (
            f"batch {BATCH_SIZE}",
            f"{b['base_lr']:.3g}",
            b["epochs"] * (n // BATCH_SIZE),
            float(runs["big"].train_loss[0, -1]),
            float(runs["big"].test_acc[0, -1]),
            "reference",
        ),
        (
            f"{ACCUM_K} x {BATCH_SIZE // ACCUM_K} (MultiSteps k={ACCUM_K})",
            f"{b['base_lr']:.3g}",
            b["epochs"] * (n // BATCH_SIZE),
            float(runs["accum"].train_loss[0, -1]),
            float(runs["accum"].test_acc[0, -1]),
            f"max |dparam| {b['max_abs_diff_first_epoch']:.0e} after 1 epoch, "
            f"{b['max_abs_diff']:.0e} after {b['epochs']} (|param| <= {b['max_abs_param']:.2g})",
        ),
        (
            f"batch {BIG_BATCH}",
            f"{b['base_lr']:.3g}",
            b["epochs"] * (n // BIG_BATCH),
            float(runs["scale"].train_loss[0, -1]),
            float(runs["scale"].test_acc[0, -1]),
            "same lr",
        ),
        (
            f"batch {BIG_BATCH}",
            f"{b['scaled_lr']:.3g}",
            b["epochs"] * (n // BIG_BATCH),
            float(runs["scale"].train_loss[1, -1]),
            float(runs["scale"].test_acc[1, -1]),
            f"linear_scaling_rule(lr, {BIG_BATCH}, {BATCH_SIZE})",
        ),
    ]
    print_table(
        cfg,
        f"[{NAME}] Batch size: {b['epochs']} epochs each, {data.name}",
        ("setup", "lr", "updates", "train loss", "test acc", "note"),
        brows,
    )
    figs = [
        save(cfg, plot_range_tests(tests), "lr_range_test"),
        save(cfg, plot_batches(b), "batch_size"),
    ]
    return {"rows": rows, "batch_rows": brows, "tests": tests, "batches": b, "figures": figs}
