"""Builds every notebook in this folder, and with ``--execute`` runs them and saves their
outputs (run: ``python notebooks/_build_notebooks.py --execute``; about 10 CPU minutes).

The notebooks teach the gradtx API: each one writes its experiment with ``gradtx`` calls
(``init``/``update``/``apply_updates``, ``gradtx.schedules``, ``gradtx.lr_range_test``,
``gradtx.MultiSteps`` ...), on the data sets shipped with gradtx (``gradtx.datasets``).
They are committed with their outputs, so they open with their plots.

Every claim the text makes that a run can test is followed by ``check(claim, holds)``,
which prints ``claim holds: ...`` or ``CLAIM FAILS: ...``; at full size (this script) a
failed claim stops the build, so the committed outputs bear out the text, and
``tests/test_notebooks.py`` checks that they do. With ``GRADTX_NOTEBOOK_FAST=1`` (the test
suite) every experiment runs at a tiny size and the claims are printed, not enforced.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = '''\
%matplotlib inline
import os
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import gradtx
from gradtx import schedules

# GRADTX_NOTEBOOK_FAST=1 (the test suite): tiny sizes; the claims are printed, not enforced.
FAST = os.environ.get("GRADTX_NOTEBOOK_FAST") == "1"


def check(claim, holds):
    """Prints a claim the text makes and whether this run bears it out."""
    print(("claim holds: " if holds else "CLAIM FAILS: ") + claim)
    assert holds or FAST, claim'''

TRAIN = '''\
def train(opt, params, loss_fn, batches):
    """``opt`` over ``batches`` (leading axis: steps) in one compiled ``lax.scan``.

    Returns the final params and the loss of each step's batch."""

    def step(carry, batch):
        params, state = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, state = opt.update(grads, state, params)
        return (gradtx.apply_updates(params, updates), state), loss

    (params, _), losses = jax.lax.scan(step, (params, opt.init(params)), batches)
    return params, losses'''

DIGITS = '''\
(x_train, y_train), (x_test, y_test) = gradtx.datasets.load_digits()
x_train, x_test = (jnp.asarray(x.reshape(len(x), -1)) for x in (x_train, x_test))
y_train, y_test = jnp.asarray(y_train), jnp.asarray(y_test)
print(f"digits: {len(x_train)} training and {len(x_test)} test images of 8x8 pixels")


def init_mlp(key, sizes=(64, 32, 10)):
    keys = jax.random.split(key, len(sizes) - 1)
    return [{"w": jax.random.normal(k, (a, b)) / np.sqrt(a), "b": jnp.zeros(b)}
            for k, a, b in zip(keys, sizes[:-1], sizes[1:])]


def logits(params, x):
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def loss_fn(params, batch):
    x, t = batch
    logp = jax.nn.log_softmax(logits(params, x))
    return -jnp.mean(jnp.take_along_axis(logp, t[:, None], axis=1))


def accuracy(params, x, t):
    return jnp.mean(jnp.argmax(logits(params, x), axis=1) == t)


def epochs_of_batches(key, epochs, batch_size):
    """Shuffled mini-batches, ``(steps, batch_size, ...)``, one permutation per epoch."""
    per_epoch = len(x_train) // batch_size
    idx = jnp.concatenate([jax.random.permutation(k, len(x_train))[: per_epoch * batch_size]
                           for k in jax.random.split(key, epochs)])
    idx = idx.reshape(-1, batch_size)
    return x_train[idx], y_train[idx]'''

NB01 = [
    ("md", """\
# Gradient descent and stochastic gradient descent

The first steps of the classic optimisation chapter (*Dive into Deep Learning*, ch. 12),
written with the gradtx API. An optimiser is a `gradtx.GradientTransformation`, a pair of
pure functions: `state = opt.init(params)`, then at every step
`updates, state = opt.update(grads, state, params)` and
`params = gradtx.apply_updates(params, updates)`. Nothing is hidden in the optimiser
object, so the loop compiles with `jax.jit`, scans with `jax.lax.scan` and vectorises with
`jax.vmap`."""),
    ("code", SETUP),
    ("md", """\
## One dimension: the learning rate decides

Gradient descent on $f(x) = x^2$ from $x_0 = 10$: $x_{t+1} = x_t - \\eta f'(x_t) =
(1 - 2\\eta)\\,x_t$. It crawls when $\\eta$ is small, converges fast near
$\\eta = 0.5$, and diverges for $\\eta > 1$. The three runs are one `jax.vmap` over the
learning rate: a gradtx hyperparameter is an ordinary array, so `gradtx.sgd(lr)` can be
built inside the vectorised function from a traced `lr`."""),
    ("code", """\
def descend(opt, x0, grad_fn, steps):
    \"\"\"``steps`` updates of ``opt`` from ``x0``; returns every iterate.\"\"\"

    def step(carry, _):
        x, state = carry
        updates, state = opt.update(grad_fn(x), state, x)
        x = gradtx.apply_updates(x, updates)
        return (x, state), x

    _, xs = jax.lax.scan(step, (x0, opt.init(x0)), length=steps)
    return jnp.concatenate([x0[None], xs])


f = lambda x: x**2
lrs = jnp.array([0.05, 0.2, 1.1])
paths = jax.vmap(lambda lr: descend(gradtx.sgd(lr), jnp.array(10.0), jax.grad(f), 10))(lrs)
for lr, xs in zip(lrs, paths):
    print(f"lr {float(lr):4.2f}: x_10 = {float(xs[-1]): .4f}")
check("lr 0.2 ends nearest the minimum", int(np.argmin(np.abs(paths[:, -1]))) == 1)
check("lr 1.1 diverges: |x_10| > |x_0|", abs(float(paths[2, -1])) > 10)

fig, axes = plt.subplots(1, 3, figsize=(12, 3), sharey=True)
grid = np.linspace(-12, 12, 200)
for ax, lr, xs in zip(axes, lrs, paths):
    xs = np.clip(np.asarray(xs), -12, 12)
    ax.plot(grid, grid**2, color="0.7")
    ax.plot(xs, xs**2, "o-", ms=3)
    ax.set_title(f"gradtx.sgd({float(lr):.2f})")"""),
    ("md", """\
## Two dimensions with noisy gradients: why SGD needs a decaying rate

$f(x) = x_1^2 + 2x_2^2$ from $(-5, -2)$, with $\\mathcal N(0, 1)$ noise added to each
gradient, as a stochastic gradient has. With a constant rate the iterates keep jittering
around the minimum; a rate that decays lets the noise average out. How fast it decays
matters: an exponential decay $0.1 \\cdot 0.9^t$ stops moving before it arrives, an
inverse-time decay $0.1 (1 + 0.1t)^{-1/2}$ keeps going. A schedule from
`gradtx.schedules` goes wherever a learning rate goes. 256 noise seeds run as one `vmap`."""),
    ("code", """\
def f2(x):
    return x[0] ** 2 + 2 * x[1] ** 2


def noisy_descend(opt, key, steps):
    x0 = jnp.array([-5.0, -2.0])

    def step(carry, key):
        x, state = carry
        g = jax.grad(f2)(x) + jax.random.normal(key, (2,))
        updates, state = opt.update(g, state, x)
        x = gradtx.apply_updates(x, updates)
        return (x, state), x

    _, xs = jax.lax.scan(step, (x0, opt.init(x0)), jax.random.split(key, steps))
    return jnp.concatenate([x0[None], xs])


STEPS, SEEDS = (20, 8) if FAST else (50, 256)
scheds = {
    "constant 0.1": schedules.constant(0.1),
    "exponential 0.1 * 0.9^t": schedules.exponential_decay(0.1, 1, 0.9),
    "inverse time 0.1 * (1 + 0.1t)^-1/2": schedules.inverse_time(0.1, 0.1, 0.5),
}
keys = jax.random.split(jax.random.PRNGKey(0), SEEDS)
runs = {name: jax.vmap(lambda k: noisy_descend(gradtx.sgd(s), k, STEPS))(keys)
        for name, s in scheds.items()}
final = {name: float(jnp.mean(jax.vmap(f2)(xs[:, -1]))) for name, xs in runs.items()}
for name, value in final.items():
    print(f"{name:36s} mean f(x_{STEPS}) over {SEEDS} seeds: {value:.3f}")
check("the inverse-time schedule ends lowest", min(final, key=final.get).startswith("inverse"))
check("the exponential schedule stops above the constant one",
      final["exponential 0.1 * 0.9^t"] > final["constant 0.1"])

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.5))
schedules.plot(*scheds.values(), steps=STEPS, labels=list(scheds), ax=ax1)
x1, x2 = np.meshgrid(np.linspace(-5.5, 1, 100), np.linspace(-3, 1.5, 100))
ax2.contour(x1, x2, x1**2 + 2 * x2**2, levels=12, colors="0.8")
for name, xs in runs.items():
    ax2.plot(xs[0, :, 0], xs[0, :, 1], ".-", ms=3, label=name)
ax2.set_title("seed 0")
ax2.legend(fontsize=7);"""),
    ("md", """\
## Mini-batches on real data

The airfoil self-noise regression (shipped with gradtx: `gradtx.datasets.load_airfoil`,
1500 examples, 5 standardised features), a linear model with squared loss. Full-batch
gradient descent, SGD (batch 1) and mini-batches of 100 and 10 differ only in which rows
each gradient sees. Each run is one compiled `lax.scan` over its batches; the loss
on the whole data set is recorded after every step. Two epochs: gradient descent has taken
2 steps, SGD 3000."""),
    ("code", """\
X, y = (jnp.asarray(a) for a in gradtx.datasets.load_airfoil())
EPOCHS = 2


def loss(params, batch):
    x, t = batch
    return 0.5 * jnp.mean((x @ params["w"] + params["b"] - t) ** 2)


def train_linear(opt, batch_size, key):
    steps = len(X) // batch_size
    params = {"w": jnp.zeros(X.shape[1]), "b": jnp.zeros(())}

    def step(carry, batch):
        params, state = carry
        updates, state = opt.update(jax.grad(loss)(params, batch), state, params)
        params = gradtx.apply_updates(params, updates)
        return (params, state), loss(params, (X, y))

    idx = jnp.concatenate([jax.random.permutation(k, len(X))[: steps * batch_size]
                           for k in jax.random.split(key, EPOCHS)]).reshape(-1, batch_size)
    _, losses = jax.lax.scan(step, (params, opt.init(params)), (X[idx], y[idx]))
    return np.asarray(losses)


settings = {"gradient descent (batch 1500, lr 1)": (1500, 1.0),
            "SGD (batch 1, lr 0.005)": (1, 0.005),
            "mini-batch 100 (lr 0.4)": (100, 0.4),
            "mini-batch 10 (lr 0.05)": (10, 0.05)}
curves = {}
for name, (batch_size, lr) in settings.items():
    curves[name] = train_linear(gradtx.sgd(lr), batch_size, jax.random.PRNGKey(1))
    print(f"{name:36s} loss after {EPOCHS} epochs: {curves[name][-1]:.4f} "
          f"({len(curves[name])} steps)")
check("mini-batches of 10 end lower than gradient descent",
      curves["mini-batch 10 (lr 0.05)"][-1] < curves["gradient descent (batch 1500, lr 1)"][-1])

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, c in curves.items():
    ax.plot(np.arange(1, len(c) + 1) * EPOCHS / len(c), c, label=name)
ax.set(xlabel="epoch", ylabel="loss (whole data set)", ylim=(0.23, 0.4))
ax.legend(fontsize=8);"""),
]

NB02 = [
    ("md", """\
# Momentum and adaptive learning rates

On an ill-conditioned quadratic, gradient descent must choose between crawling along the
flat direction and oscillating in the steep one. Momentum (`gradtx.sgd(lr, momentum=b)`),
Adagrad, RMSProp, Adadelta, Adam, Yogi and AdaBound each answer differently. All of them
are chains of small gradtx building blocks (`gradtx.adam(lr)` is
`gradtx.chain(gradtx.scale_by_adam(), gradtx.scale_by_learning_rate(lr))`), and they are
used the same way: `init`, then `update` and `apply_updates` at every step."""),
    ("code", SETUP),
    ("md", """\
## Momentum on $f = 0.1x_1^2 + 2x_2^2$

Gradient descent at lr 0.4 is slow along $x_1$; at lr 0.6 it diverges along $x_2$
(the factor $1 - 0.6 \\cdot 4 = -1.4$). Momentum,
$v_t = \\beta v_{t-1} + g_t$, $x_t = x_{t-1} - \\eta v_t$, at lr 0.6 and $\\beta = 0.5$
converges: the oscillating components of the gradient cancel in $v$, the consistent ones
add up. The adaptive methods give each coordinate its own rate: Adagrad divides by
$\\sqrt{\\sum g^2}$, so its rate only shrinks (lr 0.4 stalls, lr 2 works); RMSProp
uses a leaky average and keeps moving. Adam at lr 0.5 moves each coordinate by about
the learning rate at every step, so after 20 steps it is still circling the minimum."""),
    ("code", """\
def f(x):
    return 0.1 * x[0] ** 2 + 2 * x[1] ** 2


def descend(opt, steps=20):
    x0 = jnp.array([-5.0, -2.0])

    def step(carry, _):
        x, state = carry
        updates, state = opt.update(jax.grad(f)(x), state, x)
        x = gradtx.apply_updates(x, updates)
        return (x, state), x

    _, xs = jax.lax.scan(step, (x0, opt.init(x0)), length=steps)
    return np.asarray(jnp.concatenate([x0[None], xs]))


optimizers = {
    "sgd(0.4)": gradtx.sgd(0.4),
    "sgd(0.6)": gradtx.sgd(0.6),
    "sgd(0.6, momentum=0.5)": gradtx.sgd(0.6, momentum=0.5),
    "adagrad(0.4)": gradtx.adagrad(0.4),
    "adagrad(2.0)": gradtx.adagrad(2.0),
    "rmsprop(0.4)": gradtx.rmsprop(0.4),
    "adam(0.5)": gradtx.adam(0.5),
}
paths = {name: descend(opt) for name, opt in optimizers.items()}
for name, xs in paths.items():
    print(f"{name:24s} x_20 = ({xs[-1, 0]: 9.4f}, {xs[-1, 1]: 9.4f})  f = {float(f(xs[-1])):.3g}")
check("sgd(0.6) diverges", f(paths["sgd(0.6)"][-1]) > f(paths["sgd(0.6)"][0]))
check("momentum at lr 0.6 ends below plain sgd at lr 0.4",
      f(paths["sgd(0.6, momentum=0.5)"][-1]) < f(paths["sgd(0.4)"][-1]))
check("adagrad(2.0) ends below adagrad(0.4)",
      f(paths["adagrad(2.0)"][-1]) < f(paths["adagrad(0.4)"][-1]))
check("adam(0.5) has not settled after 20 steps (f > 0.1)", f(paths["adam(0.5)"][-1]) > 0.1)

fig, axes = plt.subplots(1, 2, figsize=(12, 4))
x1, x2 = np.meshgrid(np.linspace(-5.5, 1.5, 100), np.linspace(-3, 3, 100))
for ax, names in zip(axes, [list(paths)[:3], list(paths)[3:]]):
    ax.contour(x1, x2, 0.1 * x1**2 + 2 * x2**2, levels=15, colors="0.8")
    for name in names:
        xs = np.clip(paths[name], [-5.5, -3], [1.5, 3])
        ax.plot(xs[:, 0], xs[:, 1], ".-", label=name)
    ax.legend(fontsize=8)"""),
    ("md", """\
## Every optimiser on a small network

A 64-32-10 tanh network on scikit-learn's handwritten digits (shipped with gradtx:
`gradtx.datasets.load_digits`), mini-batches of 32, a few epochs. Each optimiser uses a
learning rate of the usual size for it; the loop is the same for all of them. The task is
easy: every optimiser reaches about the same test accuracy, and they differ in how fast
the training loss falls, plain SGD being the slowest."""),
    ("code", TRAIN),
    ("code", DIGITS),
    ("code", """\
EPOCHS = 1 if FAST else 10
batches = epochs_of_batches(jax.random.PRNGKey(1), EPOCHS, 32)
params0 = init_mlp(jax.random.PRNGKey(0))
optimizers = {
    "sgd(0.1)": gradtx.sgd(0.1),
    "sgd(0.05, momentum=0.9)": gradtx.sgd(0.05, momentum=0.9),
    "adagrad(0.1)": gradtx.adagrad(0.1),
    "rmsprop(0.003)": gradtx.rmsprop(0.003),
    "adadelta(1.0)": gradtx.adadelta(1.0),
    "adam(0.003)": gradtx.adam(0.003),
    "yogi(0.01)": gradtx.yogi(0.01),
    "adabound(0.003)": gradtx.adabound(0.003, final_lr=0.1),
}
results = {}
for name, opt in optimizers.items():
    params, losses = jax.jit(lambda p, b, opt=opt: train(opt, p, loss_fn, b))(params0, batches)
    results[name] = (np.asarray(losses), float(accuracy(params, x_test, y_test)))
print(f"{'optimiser':26s} {'last-epoch loss':>15s} {'test accuracy':>14s}")
per_epoch = len(batches[0]) // EPOCHS
for name, (losses, acc) in results.items():
    print(f"{name:26s} {losses[-per_epoch:].mean():15.4f} {acc:14.3f}")
accs = {name: acc for name, (_, acc) in results.items()}
last = {name: losses[-per_epoch:].mean() for name, (losses, _) in results.items()}
check("plain sgd(0.1) ends with the highest training loss", max(last, key=last.get) == "sgd(0.1)")
check("every optimiser reaches 95% test accuracy", all(a >= 0.95 for a in accs.values()))

fig, ax = plt.subplots(figsize=(7, 4))
for name, (losses, _) in results.items():
    ax.plot(np.convolve(losses, np.ones(per_epoch) / per_epoch, "valid"), label=name)
ax.set(xlabel="step", ylabel="mini-batch loss (running mean over an epoch)", yscale="log")
ax.legend(fontsize=8);"""),
]

NB03 = [
    ("md", """\
# Learning-rate schedules

A gradtx schedule is a small pytree called with the step count:
`schedules.warmup_cosine_decay(0.0, 0.3, warmup_steps=100, decay_steps=1000)(step)`.
Its numbers are leaves, so a schedule goes through `jit` without recompiling, into a
checkpoint, and into `vmap` (see `schedule_sweep.ipynb`). Pass it wherever a learning
rate goes; wrap the optimiser in `gradtx.inject_hyperparams` to read the learning rate
back from the state, the line every training loop logs."""),
    ("code", SETUP),
    ("code", """\
s = schedules.warmup_cosine_decay(0.0, 0.3, warmup_steps=100, decay_steps=1000)
print(s)
print("leaves:", jax.tree.leaves(s))
print("lr at steps 0, 50, 100, 1000:", [round(float(s(t)), 4) for t in (0, 50, 100, 1000)])

opt = gradtx.inject_hyperparams(gradtx.sgd)(learning_rate=s)
params = jnp.zeros(3)
state = opt.init(params)
for step in range(3):
    updates, state = opt.update(jnp.ones(3), state, params)
    params = gradtx.apply_updates(params, updates)
    print(f"step {step}: lr used {float(state.hyperparams['learning_rate']):.4f}")"""),
    ("md", """\
## torch's names and optax's names differ past the end

`cosine_annealing(0.1, T_max=100)` is torch's `CosineAnnealingLR`, which is periodic:
after `T_max` steps it climbs back, and is at 0.1 again at step 200. optax's
`cosine_decay(0.1, 100)` stays at its end value. gradtx has both, by their own names,
with their own numbers."""),
    ("code", """\
torch_cos = schedules.cosine_annealing(0.1, T_max=100)
optax_cos = schedules.cosine_decay(0.1, 100)
print(f"step 200: cosine_annealing {float(torch_cos(200)):.3f}, "
      f"cosine_decay {float(optax_cos(200)):.3f}")
check("torch's cosine is back at 0.1 at step 200", abs(float(torch_cos(200)) - 0.1) < 1e-6)
check("optax's cosine stays at 0 after step 100", float(optax_cos(200)) == 0.0)
schedules.plot(torch_cos, optax_cos, steps=300);"""),
    ("md", """\
## Four schedules on a small network

A 64-32-10 tanh network on the handwritten digits, plain SGD with mini-batches of 32.
The schedules, with their boundaries as fractions of the run: a constant 0.3; 0.3 halved
at 50% and again at 75% (`piecewise_constant`); a cosine from 0.3 to 0.003
(`cosine_decay` with `alpha=0.01`); the same cosine after 10% of linear warmup from 0
(`warmup_cosine_decay`). Each run is one compiled `lax.scan`.

What to expect on a problem this small: warmup starts slowest (its learning rate starts
at 0), and the constant 0.3 ends with the lowest training loss, because the decaying
schedules give up step size the problem could still use; every schedule reaches about the
same test accuracy. Decay pays off where gradient noise, not step size, limits progress
(notebook 01's noisy quadratic)."""),
    ("code", TRAIN),
    ("code", DIGITS),
    ("code", """\
EPOCHS = 2 if FAST else 20
batches = epochs_of_batches(jax.random.PRNGKey(1), EPOCHS, 32)
steps = len(batches[0])
per_epoch = steps // EPOCHS
lr_schedules = {
    "constant": schedules.constant(0.3),
    "piecewise": schedules.piecewise_constant(0.3, {steps // 2: 0.5, 3 * steps // 4: 0.5}),
    "cosine": schedules.cosine_decay(0.3, steps, alpha=0.01),
    "warmup + cosine": schedules.warmup_cosine_decay(0.0, 0.3, steps // 10, steps,
                                                     end_value=0.003),
}
schedules.plot(*lr_schedules.values(), steps=steps, labels=list(lr_schedules))
params0 = init_mlp(jax.random.PRNGKey(0))
results = {}
for name, sched in lr_schedules.items():
    params, losses = jax.jit(lambda p, b, s=sched: train(gradtx.sgd(s), p, loss_fn, b))(
        params0, batches)
    results[name] = (np.asarray(losses), float(accuracy(params, x_test, y_test)))
print(f"{'schedule':16s} {'first-epoch loss':>16s} {'last-epoch loss':>15s} {'test acc':>9s}")
for name, (losses, acc) in results.items():
    print(f"{name:16s} {losses[:per_epoch].mean():16.4f} {losses[-per_epoch:].mean():15.4f} "
          f"{acc:9.3f}")
first = {n: r[0][:per_epoch].mean() for n, r in results.items()}
last = {n: r[0][-per_epoch:].mean() for n, r in results.items()}
check("warmup has the highest first-epoch loss (the lr starts at 0)",
      max(first, key=first.get) == "warmup + cosine")
check("the constant lr ends with the lowest training loss", min(last, key=last.get) == "constant")
acc = {n: r[1] for n, r in results.items()}
check("every schedule reaches 95% test accuracy", all(a >= 0.95 for a in acc.values()))

fig, ax = plt.subplots(figsize=(7, 4))
for name, (losses, _) in results.items():
    ax.plot(np.convolve(losses, np.ones(per_epoch) / per_epoch, "valid"), label=name)
ax.set(xlabel="step", ylabel="mini-batch loss (running mean over an epoch)", yscale="log")
ax.legend();"""),
]

NB04 = [
    ("md", """\
# AdaBound: from Adam to SGD

AdaBound (Luo et al., ICLR 2019) clips Adam's per-parameter step size
$\\eta_t = \\alpha / (\\sqrt{\\hat v_t} + \\epsilon)$ into bounds that start wide (Adam)
and tighten towards a final SGD rate $\\alpha^*$:
$\\eta^l_t = \\alpha^*(1 - 1/(\\gamma t + 1))$, $\\eta^u_t = \\alpha^*(1 + 1/(\\gamma t))$.
AMSBound does the same on AMSGrad. In gradtx the clipping is its own building block,
`gradtx.bound_lr`, and `gradtx.adabound(lr, final_lr=0.1)` is a chain around it."""),
    ("code", SETUP),
    ("code", """\
t = np.arange(1, 20001)
final, gamma = 0.1, 1e-3
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(t, final * (1 + 1 / (gamma * t)), label="upper bound")
ax.plot(t, final * (1 - 1 / (gamma * t + 1)), label="lower bound")
ax.axhline(final, color="0.5", ls="--", label="final lr")
ax.set(xscale="log", yscale="log", xlabel="step t", ylabel="step size", ylim=(1e-4, 1e3))
ax.legend();"""),
    ("md", """\
## Sensitivity to the learning rate

The promise of AdaBound is Adam's fast start with less dependence on the learning rate.
Each optimiser trains the digits network over a grid of five learning rates, and the
whole grid is ONE compiled, vectorised function: the optimiser is built inside
`jax.vmap` from the traced learning rate. AdaBound and AMSBound differ only in the
second moment under the bounds, so where the bounds bind their runs coincide."""),
    ("code", TRAIN),
    ("code", DIGITS),
    ("code", """\
EPOCHS = 1 if FAST else 10
batches = epochs_of_batches(jax.random.PRNGKey(1), EPOCHS, 32)
per_epoch = len(batches[0]) // EPOCHS
params0 = init_mlp(jax.random.PRNGKey(0))
grids = {
    "sgd, momentum 0.9": (lambda lr: gradtx.sgd(lr, momentum=0.9), 0.1),
    "adam": (gradtx.adam, 0.001),
    "amsgrad": (gradtx.amsgrad, 0.001),
    "adabound": (lambda lr: gradtx.adabound(lr, final_lr=0.1), 0.001),
    "amsbound": (lambda lr: gradtx.amsbound(lr, final_lr=0.1), 0.001),
}
factors = jnp.array([0.1, 0.3, 1.0, 3.0, 10.0])


def sweep(make, lrs):
    def one(lr):
        params, losses = train(make(lr), params0, loss_fn, batches)
        return losses, accuracy(params, x_test, y_test)

    return jax.jit(jax.vmap(one))(lrs)


results = {name: sweep(make, base * factors) for name, (make, base) in grids.items()}
print(f"{'optimiser':18s} {'base lr':>8s} " + " ".join(f"{f'x{f:g}':>6s}" for f in factors)
      + f" {'spread':>7s}")
spread = {}
for name, (losses, acc) in results.items():
    acc = np.asarray(acc)
    spread[name] = float(acc.max() - acc.min())
    print(f"{name:18s} {grids[name][1]:8g} " + " ".join(f"{a:6.3f}" for a in acc)
          + f" {spread[name]:7.3f}")
print("(test accuracy after", EPOCHS, "epochs at each multiple of the base lr)")
check("adabound's accuracy varies less over the lr grid than adam's",
      spread["adabound"] < spread["adam"])
check("amsbound's accuracy varies less over the lr grid than amsgrad's",
      spread["amsbound"] < spread["amsgrad"])
check("adabound and amsbound end within 0.01 test accuracy of each other at every lr",
      float(np.max(np.abs(np.asarray(results["adabound"][1])
                          - np.asarray(results["amsbound"][1])))) <= 0.01)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
for name, (losses, acc) in results.items():
    ax1.plot(np.convolve(np.asarray(losses[2]), np.ones(per_epoch) / per_epoch, "valid"),
             label=name)
    ax2.semilogx(np.asarray(factors), np.asarray(acc), "o-", label=name)
ax1.set(xlabel="step", ylabel="mini-batch loss at the base lr", yscale="log")
ax2.set(xlabel="multiple of the base lr", ylabel="test accuracy")
ax1.legend(fontsize=8);"""),
]

NB05 = [
    ("md", """\
# Batch size and the learning-rate range test

How to pick a learning rate without a grid search (`gradtx.lr_range_test`, Smith 2017),
how to get the update of a large batch from small ones (`gradtx.MultiSteps`), and how to
move the learning rate when the batch grows (`gradtx.linear_scaling_rule`, Goyal et al.
2017)."""),
    ("code", SETUP),
    ("code", TRAIN),
    ("code", DIGITS),
    ("md", """\
## The LR range test

Train for a short while with a learning rate growing exponentially from tiny to huge and
record the loss. `lr_range_test` runs the whole sweep in one compiled step function and
stops once the loss diverges. It suggests two rates: where the smoothed loss falls
fastest, and the rate of its minimum divided by 10."""),
    ("code", """\
params0 = init_mlp(jax.random.PRNGKey(0))
range_batches = epochs_of_batches(jax.random.PRNGKey(2), 3, 32)
result = gradtx.lr_range_test(
    loss_fn, params0, lambda lr: gradtx.sgd(lr, momentum=0.9),
    zip(*range_batches), min_lr=1e-4, max_lr=10.0, num_steps=40 if FAST else 120)
print(f"steepest descent at lr {result.suggested_lr:.3g}; minimum/10 at "
      f"{result.lr_min_div10:.3g}; stopped early: {result.stopped_early}")
check("the test stopped once the loss diverged", result.stopped_early)
result.plot();"""),
    ("md", """\
## Gradient accumulation is exact

`MultiSteps(opt, every_k_schedule=4)` averages 4 micro-batch gradients and applies one
update: the same parameters as one step on the concatenated batch, up to float rounding.
Here micro-batches of 8 are compared with batches of 32 made of the same rows."""),
    ("code", """\
EPOCHS = 1 if FAST else 5
lr = float(np.clip(result.suggested_lr, 1e-3, 0.1)) if np.isfinite(result.suggested_lr) else 0.01
big = epochs_of_batches(jax.random.PRNGKey(3), EPOCHS, 32)
micro = tuple(a.reshape(-1, 8, *a.shape[2:]) for a in big)  # the same rows, 8 at a time
opt = gradtx.sgd(lr, momentum=0.9)
p_big, _ = jax.jit(lambda p, b: train(opt, p, loss_fn, b))(params0, big)
p_acc, _ = jax.jit(lambda p, b: train(gradtx.MultiSteps(opt, 4), p, loss_fn, b))(params0, micro)
diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(p_big),
                                                          jax.tree.leaves(p_acc)))
print(f"lr {lr:.3g}: {len(big[0])} steps of 32 vs {len(micro[0])} micro-batches of 8; "
      f"max |param difference| {diff:.1e}")
check("accumulated and big-batch params agree to 1e-4", diff < 1e-4)"""),
    ("md", """\
## The linear scaling rule

A 4x larger batch gives 4x fewer updates per epoch. The linear scaling rule multiplies the
learning rate by 4 to make up for it: `gradtx.linear_scaling_rule(base_lr, 128, 32)`.
Same epochs, batch 128, with the base rate and with the scaled rate."""),
    ("code", """\
scaled = gradtx.linear_scaling_rule(lr, 128, 32)
b128 = epochs_of_batches(jax.random.PRNGKey(4), EPOCHS, 128)
runs = {"batch 32, base lr": (lr, big), "batch 128, base lr": (lr, b128),
        "batch 128, scaled lr": (scaled, b128)}
final = {}
for name, (rate, batches) in runs.items():
    params, losses = jax.jit(lambda p, b, r=rate: train(gradtx.sgd(r, momentum=0.9), p,
                                                       loss_fn, b))(params0, batches)
    final[name] = float(loss_fn(params, (x_train, y_train)))
    print(f"{name:22s} lr {rate:.3g}: {len(batches[0]):4d} steps, "
          f"training loss {final[name]:.4f}, test accuracy "
          f"{float(accuracy(params, x_test, y_test)):.3f}")
check("at batch 128 the scaled lr ends with a lower training loss than the base lr",
      final["batch 128, scaled lr"] < final["batch 128, base lr"])
check("at batch 128 with the base lr training ends above batch 32",
      final["batch 128, base lr"] > final["batch 32, base lr"])"""),
]

NOTEBOOKS = {
    "01_gradient_descent_sgd.ipynb": NB01,
    "02_momentum_adaptive.ipynb": NB02,
    "03_schedules.ipynb": NB03,
    "04_adabound.ipynb": NB04,
    "05_batch_size_lr_range_test.ipynb": NB05,
}


def _notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    made = [new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in cells]
    for i, cell in enumerate(made):
        cell["id"] = f"cell-{i:02d}"  # stable ids: rebuilding changes nothing
    return new_notebook(
        cells=made,
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
    )


def build() -> dict[str, nbformat.NotebookNode]:
    """The notebooks, without outputs, by file name."""
    sys.path.insert(0, str(HERE))
    try:
        import _make_schedule_sweep
    finally:
        sys.path.pop(0)
    out = {name: _notebook(cells) for name, cells in NOTEBOOKS.items()}
    out["schedule_sweep.ipynb"] = _make_schedule_sweep.build()
    return out


def execute(nb: nbformat.NotebookNode, timeout: int = 1200) -> None:
    """Runs ``nb`` in place at full size (the kernel of this Python), in this folder."""
    import nbclient

    env = dict(os.environ)
    env.pop("GRADTX_NOTEBOOK_FAST", None)
    env.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.update(env)
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(HERE)}}).execute()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--execute", action="store_true",
                        help="run each notebook at full size and save its outputs")
    parser.add_argument("names", nargs="*", help="only these notebooks (file names)")
    args = parser.parse_args(argv)
    for name, nb in build().items():
        if args.names and name not in args.names:
            continue
        if args.execute:
            execute(nb)
        nbformat.validate(nb)
        nbformat.write(nb, HERE / name)
        print(f"wrote {HERE / name}" + (" (with outputs)" if args.execute else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
