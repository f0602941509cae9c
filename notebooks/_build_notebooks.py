"""Builds notebooks 01-05 from the cells below (run: ``python notebooks/_build_notebooks.py``).

The notebooks tell the story of ``python -m gradtx.demo`` step by step; every computation
is a call into :mod:`gradtx.demo`, so the notebooks and the demo cannot drift apart.
They are written without outputs (run them in Jupyter to see the plots inline). With the
environment variable ``GRADTX_NOTEBOOK_FAST=1`` (the test suite) every experiment runs at
its tiny "smoke" size.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
%matplotlib inline
import numpy as np
import gradtx
from gradtx.demo import notebook_config, format_table
{imports}

# GRADTX_NOTEBOOK_FAST=1 (the test suite): tiny sizes; otherwise the demo's default sizes.
cfg = notebook_config()
print("sizes:", cfg.mode)"""


def setup(*modules: str) -> str:
    return SETUP.format(imports="from gradtx.demo import " + ", ".join(modules))


NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01_gradient_descent_sgd.ipynb": [
        ("md", """\
# Gradient descent and stochastic gradient descent

The first steps of the classic optimisation chapter (*Dive into Deep Learning*, ch. 12),
run with gradtx. Every optimiser here is a `gradtx.GradientTransformation`:
`updates, state = opt.update(grads, state, params)`, then `gradtx.apply_updates`.
The computations live in `gradtx.demo` (the same code as `python -m gradtx.demo`)."""),
        ("code", setup("one_d", "two_d", "airfoil")),
        ("md", """\
## One dimension

Gradient descent on $f(x) = x^2$ from $x_0 = 10$: $x_{t+1} = x_t - \\eta f'(x_t) =
(1 - 2\\eta)\\,x_t$. It converges for $\\eta < 1$, crawls when $\\eta$ is small, and
diverges for $\\eta > 1$. On the non-convex $f(x) = x\\cos(cx)$ a large step lands in a
local minimum. The three learning rates on $x^2$ run as one `jax.vmap` over `gradtx.sgd(lr)`."""),
        ("code", """\
runs = one_d.trajectories()
for label, (f, xs) in runs.items():
    print(f"{label:24s} x_10 = {xs[-1]: .4f}")
one_d.plot(runs);"""),
        ("md", """\
## Two dimensions, with and without noise

$f(x) = x_1^2 + 2x_2^2$ from $(-5, -2)$. Gradient descent follows the exact gradient.
SGD is simulated by adding $\\mathcal N(0, 1)$ noise to the gradient
(`gradtx.add_noise(eta=1, gamma=0)` chained before `gradtx.sgd`): with a constant rate
the iterates never settle; a decaying rate from `gradtx.schedules` (exponential, or the
polynomial $(1 + 0.1t)^{-1/2}$) calms them down, the exponential one too early."""),
        ("code", """\
sgd_runs = [r for r in two_d.RUNS if r.group == "gd_sgd"]
trajs = two_d.trajectories(sgd_runs)
print(format_table("final (x1, x2)", ("run", "f", "steps", "x1", "x2", "f(x)"),
                   two_d.table_rows(trajs, sgd_runs)))
two_d.plot_group("gd_sgd", trajs, sgd_runs);"""),
        ("md", """\
## Mini-batches on real data

The airfoil self-noise regression (shipped with gradtx, `gradtx.datasets.load_airfoil`),
a linear model with squared loss. Full-batch gradient descent (batch 1500), SGD (batch 1)
and mini-batches of 100 and 10 differ only in which batch the gradient comes from. Each
epoch is one jitted `lax.scan`; the wall-clock plot shows what an epoch costs."""),
        ("code", """\
basic = [r for r in airfoil.RUNS if r.family == "sgd" and not r.label.startswith("momentum")]
curves = airfoil.train_all(cfg, basic)
print(format_table("airfoil", ("optimiser", "batch", "epochs", "final loss", "s/epoch"),
                   airfoil.table_rows(curves, basic)))
airfoil.plot(curves, "epochs", basic)
airfoil.plot(curves, "seconds", basic);"""),
    ],
    "02_momentum_adaptive.ipynb": [
        ("md", """\
# Momentum and adaptive learning rates

On an ill-conditioned quadratic gradient descent must choose between crawling along the
flat direction and oscillating in the steep one. Momentum (`gradtx.sgd(lr, momentum=beta)`),
Adagrad, RMSProp, Adadelta, Adam, Yogi and AdaBound each answer differently."""),
        ("code", setup("two_d", "airfoil")),
        ("md", """\
## Momentum on $f = 0.1x_1^2 + 2x_2^2$

Gradient descent at lr 0.4 is slow along $x_1$; at lr 0.6 it diverges along $x_2$.
Momentum $v_t = \\beta v_{t-1} + g_t$, $x_t = x_{t-1} - \\eta v_t$ at lr 0.6 converges:
the oscillating components of the gradient cancel in $v$, the consistent ones add up."""),
        ("code", """\
trajs = two_d.trajectories()
two_d.plot_group("momentum", trajs);"""),
        ("md", """\
## Per-coordinate rates: Adagrad and RMSProp

Adagrad divides by $\\sqrt{\\sum g^2}$: each coordinate gets its own rate, which only
ever shrinks (lr 0.4 stalls; lr 2 works). RMSProp replaces the sum by a leaky average
and keeps moving."""),
        ("code", """\
two_d.plot_group("adaptive", trajs)
print(format_table("final (x1, x2)", ("run", "f", "steps", "x1", "x2", "f(x)"),
                   two_d.table_rows(trajs)))"""),
        ("md", """\
## All of them on the airfoil regression

Mini-batches of 10, two epochs, d2l's hyperparameters (Adagrad and RMSProp with d2l's
`eps`, see `gradtx.demo.airfoil`)."""),
        ("code", """\
runs = [r for r in airfoil.RUNS if r.batch_size == 10]
curves = airfoil.train_all(cfg, runs)
print(format_table("airfoil, batch 10", ("optimiser", "batch", "epochs", "final loss",
                                         "s/epoch"), airfoil.table_rows(curves, runs)))
airfoil.plot(curves, "epochs", runs);"""),
    ],
    "03_schedules.ipynb": [
        ("md", """\
# Learning-rate schedules

A gradtx schedule is a small pytree (`gradtx.schedules.cosine_decay(0.3, 1000, alpha=0.01)`)
called with the step count. Because its numbers are leaves, schedules of one kind share a
compiled training step and can be stacked and vmapped (see `schedule_sweep.ipynb`). Here we
reproduce d2l's schedule experiment on a LeNet-style CNN (flax) trained with plain SGD on
scikit-learn's handwritten digits (`--data-dir` in the demo switches to Fashion-MNIST)."""),
        ("code", setup("cnn_schedules", "_cnn")),
        ("md", """\
## The four schedules

Boundaries are given in epochs of a 30-epoch run and scaled to the run's length:
constant 0.3; multi-step from 0.5, halved at epochs 15 and 30; cosine from 0.3 to 0.01
over 20 epochs, then flat; the same cosine after 5 epochs of linear warmup
(`gradtx.schedules.warmup`)."""),
        ("code", """\
data = _cnn.load_data(cfg)
epochs = cnn_schedules.epochs_for(cfg)
steps_per_epoch = len(data.y_train) // cnn_schedules.BATCH_SIZE
scheds = cnn_schedules.make_schedules(epochs, steps_per_epoch)
for label, s in scheds.items():
    print(f"{label:32s} {s!r}")
gradtx.schedules.plot(*scheds.values(), steps=epochs * steps_per_epoch,
                      labels=list(scheds));"""),
        ("md", """\
## Training

One jitted `lax.scan` per epoch; the table gives the last epoch's mean mini-batch loss and
accuracy and the test accuracy. Constant lr 0.3 makes fast progress but keeps bouncing;
the decaying schedules settle, and warmup avoids the rough start."""),
        ("code", """\
result = cnn_schedules.train_all(cfg, data)
print(format_table(f"schedules, {epochs} epochs", ("schedule", "train loss", "train acc",
                                                   "test acc"), cnn_schedules.table_rows(result)))
cnn_schedules.plot(result);"""),
    ],
    "04_adabound.ipynb": [
        ("md", """\
# AdaBound: from Adam to SGD

AdaBound (Luo et al., ICLR 2019) clips Adam's per-parameter step size
$\\eta_t = \\alpha / (\\sqrt{v_t} + \\epsilon)$ into bounds that start wide (Adam) and
tighten towards a final SGD rate: $\\eta^l_t = \\alpha^*(1 - 1/(\\gamma t + 1))$,
$\\eta^u_t = \\alpha^*(1 + 1/(\\gamma t))$. AMSBound does the same on AMSGrad."""),
        ("code", setup("cnn_adabound", "_cnn")),
        ("md", "## The bounds (final lr $\\alpha^* = 0.1$, $\\gamma = 10^{-3}$)"),
        ("code", """\
import matplotlib.pyplot as plt

t = np.arange(1, 20001)
final, gamma = 0.1, 1e-3
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(t, final * (1 + 1 / (gamma * t)), label="upper bound")
ax.plot(t, final * (1 - 1 / (gamma * t + 1)), label="lower bound")
ax.axhline(final, color="0.5", ls="--", label="final lr")
ax.set(xscale="log", yscale="log", xlabel="step t", ylabel="step size", ylim=(1e-4, 1e3))
ax.legend();"""),
        ("md", """\
## Five optimisers, each over a grid of learning rates

For each optimiser the whole lr grid trains as ONE jitted, vmapped loop (the optimiser is
built inside the traced function from the traced lr). The learning curves use each
optimiser's base lr; the sensitivity plot shows the final test accuracy at every lr."""),
        ("code", """\
result = cnn_adabound.train_all(cfg)
print(format_table("AdaBound comparison",
                   ("optimiser", "base lr", "train loss", "test acc", "best test acc",
                    "worst", "spread"), cnn_adabound.table_rows(result)))
cnn_adabound.plot_curves(result)
cnn_adabound.plot_sensitivity(result);"""),
    ],
    "05_batch_size_lr_range_test.ipynb": [
        ("md", """\
# Batch size and the learning-rate range test

How to pick a learning rate without a grid search (`gradtx.lr_range_test`, Smith 2017),
how to get the update of a large batch from small ones (`gradtx.MultiSteps`), and how to
move the lr when the batch grows (`gradtx.linear_scaling_rule`, Goyal et al. 2017)."""),
        ("code", setup("lr_finder", "_cnn")),
        ("md", """\
## The LR range test

Train for a short while with a learning rate growing exponentially from tiny to huge and
record the loss. Two suggestions: where the smoothed loss falls fastest, and the lr of its
minimum divided by 10."""),
        ("code", """\
data = _cnn.load_data(cfg)
tests = lr_finder.range_tests(cfg, data)
for name, r in tests.items():
    print(f"{name:8s} steepest {r.suggested_lr:.3g}   min/10 {r.lr_min_div10:.3g}")
lr_finder.plot_range_tests(tests);"""),
        ("md", """\
## Gradient accumulation and the linear scaling rule

`MultiSteps(opt, every_k_schedule=4)` averages 4 micro-batch gradients and applies one
update: the same parameters as one step on the concatenated batch, up to float rounding
(which, like any change in the order of a float sum, grows slowly over a long run).
A 4x larger batch gives 4x fewer updates per epoch; the linear scaling rule multiplies the
lr by 4 to make up for it."""),
        ("code", """\
base_lr = lr_finder.pick_lr(tests["cnn"], 0.003, 0.05, 0.01)
b = lr_finder.batch_experiments(cfg, data, base_lr)
print(f"base lr {base_lr:.3g}, scaled lr {b['scaled_lr']:.3g}")
print(f"accumulated vs big batch, max |param difference| after 1 epoch: "
      f"{b['max_abs_diff_first_epoch']:.1e}, after {b['epochs']}: {b['max_abs_diff']:.1e}")
lr_finder.plot_batches(b);"""),
    ],
}


def build() -> dict[str, nbformat.NotebookNode]:
    """The notebooks, without outputs, by file name."""
    out = {}
    for name, cells in NOTEBOOKS.items():
        made = [new_markdown_cell(src) if kind == "md" else new_code_cell(src)
                for kind, src in cells]
        for i, cell in enumerate(made):
            cell["id"] = f"cell-{i:02d}"  # stable ids: rebuilding changes nothing
        nb = new_notebook(
            cells=made,
            metadata={
                "kernelspec": {"display_name": "Python 3", "language": "python",
                               "name": "python3"},
                "language_info": {"name": "python"},
            },
        )
        out[name] = nb
    return out


def main() -> int:
    for name, nb in build().items():
        nbformat.validate(nb)
        path = HERE / name
        nbformat.write(nb, path)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
