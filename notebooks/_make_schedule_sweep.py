"""The cells of notebooks/schedule_sweep.ipynb; ``_build_notebooks.py`` builds and runs it."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
    new_markdown_cell(
        """# A learning-rate sweep in one compiled function

gradtx schedules are pytrees: their float hyperparameters are leaves. A batch of N
schedules of one kind, stacked leaf by leaf, is an ordinary batched pytree, so
`jax.vmap` can train **N copies of a model under N schedules at once**, in one jitted
`lax.scan` loop, with the same numbers as N separate runs. The optimiser is built
*inside* the traced function from the traced schedule: `gradtx.sgd(schedule,
momentum=0.9)`.

Data: the NASA airfoil self-noise regression (shipped with gradtx). Model: a small MLP.
Set `GRADTX_NOTEBOOK_FAST=1` for a tiny, fast run."""
    ),
    new_code_cell(
        """import os
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import gradtx
from gradtx import schedules

FAST = os.environ.get("GRADTX_NOTEBOOK_FAST") == "1"
N, STEPS, HIDDEN, BATCH = (4, 30, 8, 16) if FAST else (16, 500, 32, 32)
X, y = gradtx.datasets.load_airfoil()
rng = np.random.default_rng(0)
idx = rng.integers(0, len(X), size=(STEPS, BATCH))
data = (jnp.asarray(X[idx]), jnp.asarray(y[idx]))  # one mini-batch per step


def init_mlp(key, sizes):
    keys = jax.random.split(key, len(sizes) - 1)
    return [{"w": jax.random.normal(k, (a, b)) / np.sqrt(a), "b": jnp.zeros(b)}
            for k, a, b in zip(keys, sizes[:-1], sizes[1:])]


def loss_fn(params, batch):
    x, t = batch
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return jnp.mean(((x @ params[-1]["w"] + params[-1]["b"])[:, 0] - t) ** 2)


params = init_mlp(jax.random.PRNGKey(0), (X.shape[1], HIDDEN, HIDDEN, 1))
print(f"{N} schedules, {STEPS} steps, MLP 5-{HIDDEN}-{HIDDEN}-1, batch {BATCH}")"""
    ),
    new_markdown_cell(
        """## N schedules, one pytree

Each schedule is a linear warmup into a cosine decay; only the peak learning rate
differs. `gradtx.stack_schedules` stacks them (it is
`jax.tree.map(lambda *x: jnp.stack(x), *scheds)` with a structure check)."""
    ),
    new_code_cell(
        """peaks = np.logspace(-3, -1, N)
warm = STEPS // 10
scheds = [schedules.warmup(schedules.cosine_decay(float(p), STEPS - warm), warmup_steps=warm)
          for p in peaks]
stacked = gradtx.stack_schedules(*scheds)
print(scheds[0])
print("stacked leaf shapes:", [x.shape for x in jax.tree.leaves(stacked)])
schedules.plot(*scheds[::max(1, N // 4)], steps=STEPS);"""
    ),
    new_markdown_cell(
        """## Train all N copies at once

`gradtx.vmap_sweep(make_optimizer, loss_fn, num_steps)` returns one jitted, vmapped
function; `shared_params=True` starts every copy from the same initial params."""
    ),
    new_code_cell(
        """def make_optimizer(schedule):
    return gradtx.sgd(schedule, momentum=0.9)


sweep = gradtx.vmap_sweep(make_optimizer, loss_fn, STEPS, per_step_data=True,
                          shared_params=True)
t0 = time.perf_counter()
result = jax.block_until_ready(sweep(stacked, params, data))
print(f"vmapped sweep (compile included): {time.perf_counter() - t0:.2f} s")
print("losses:", result.losses.shape)"""
    ),
    new_markdown_cell(
        """## Same numbers as N separate runs

`gradtx.scan_train` is the same loop without `vmap`. Because the schedules are
pytrees, the separate runs share one compilation too. The losses agree to float32
rounding (the batched matmuls sum in another order, so the runs drift apart by about
1e-4 relative over 500 steps)."""
    ),
    new_code_cell(
        """run = gradtx.scan_train(make_optimizer, loss_fn, STEPS, per_step_data=True)
check = [0, N - 1]
for i in check:
    single = run(scheds[i], params, data)
    rel = np.max(np.abs(single.losses - result.losses[i]) / np.abs(single.losses))
    print(f"copy {i}: largest relative difference over {STEPS} losses {rel:.1e}")
    # float32: the batched matmuls sum in another order, so the runs drift apart slowly
    assert rel < 1e-3
print("vmapped == separate runs (to float32 rounding) for copies", check)"""
    ),
    new_markdown_cell("## Final loss vs schedule"),
    new_code_cell(
        """final = result.losses[:, -max(1, STEPS // 10):].mean(axis=1)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax1.semilogx(peaks, final, "o-")
ax1.set_xlabel("peak learning rate")
ax1.set_ylabel("final training loss (mean of last 10%)")
ax1.set_title("loss vs schedule")
for i in range(0, N, max(1, N // 4)):
    ax2.plot(result.losses[i], label=f"peak {peaks[i]:.3g}")
ax2.set_xlabel("step")
ax2.set_ylabel("mini-batch loss")
ax2.set_yscale("log")
ax2.legend()
fig.tight_layout()
best = int(np.nanargmin(final))
print(f"best peak lr: {peaks[best]:.3g} (final loss {final[best]:.4f})")"""
    ),
    new_markdown_cell(
        """With optax, each schedule is a closure: N schedules are N compilations and they
cannot be vmapped. `benchmarks/sweep.py` times the vmapped sweep against the separate
runs (with one shared compilation, and with one compilation per schedule)."""
    ),
]


def build():
    """The notebook, without outputs (``_build_notebooks.py`` runs it and saves them)."""
    nb = new_notebook(cells=CELLS)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"  # stable ids: rebuilding changes nothing
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main() -> None:
    path = Path(__file__).with_name("schedule_sweep.ipynb")
    nbformat.write(build(), path)
    print(f"wrote {path} (run _build_notebooks.py --execute for its outputs)")


if __name__ == "__main__":
    main()
