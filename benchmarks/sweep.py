"""Schedule sweep: N=16 copies of a small MLP on the airfoil data, trained under 16
learning-rate schedules by ONE vmapped, jitted loop vs 16 separate jitted runs.

Mini-batch SGD with momentum 0.9 (batch 32, the same batches for every copy), each
schedule a linear warmup into a cosine decay with a different peak lr. Timed:

* ``vmapped``: ``gradtx.vmap_sweep`` (one compilation, one call);
* ``separate``: ``gradtx.scan_train`` called 16 times. gradtx schedules are pytrees,
  so the 16 runs share ONE compilation;
* ``separate_recompiled``: 16 runs each jitted with its schedule closed over, as an
  optax schedule (a closure) forces: 16 compilations.

"compile included" times start from a fresh jitted function; "compile excluded" times
are the best of ``repeats`` calls of the already compiled function.
Run: ``python benchmarks/sweep.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

import gradtx
from gradtx import schedules
from gradtx.datasets import load_airfoil

N = 16


def _init_mlp(key: jax.Array, sizes: tuple[int, ...]) -> list[dict[str, jax.Array]]:
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        {"w": jax.random.normal(k, (a, b)) / np.sqrt(a), "b": jnp.zeros(b)}
        for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


def _loss(params: list[dict[str, jax.Array]], batch: tuple[jax.Array, jax.Array]) -> jax.Array:
    x, y = batch
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    out = (x @ params[-1]["w"] + params[-1]["b"])[:, 0]
    return jnp.mean((out - y) ** 2)


def _optimizer(schedule: schedules.Schedule) -> gradtx.GradientTransformation:
    return gradtx.sgd(schedule, momentum=0.9)


def _block(tree):
    return jax.block_until_ready(tree)


def _timed(fn, *args) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = _block(fn(*args))
    return time.perf_counter() - t0, out


def run(quick: bool = False) -> dict:
    """Times the sweep; returns the times (seconds), speed-ups and final losses."""
    steps, hidden, repeats = (100, 16, 2) if quick else (500, 32, 3)
    batch = 32
    X, y = load_airfoil()
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(X), size=(steps, batch))
    data = (jnp.asarray(X[idx]), jnp.asarray(y[idx]))  # (steps, batch, 5), (steps, batch)
    params = _init_mlp(jax.random.PRNGKey(0), (X.shape[1], hidden, hidden, 1))
    warm = steps // 10
    peaks = np.logspace(-3, -1, N)
    scheds = [
        schedules.warmup(schedules.cosine_decay(float(p), steps - warm), warmup_steps=warm)
        for p in peaks
    ]
    stacked = gradtx.stack_schedules(*scheds)

    # one vmapped, jitted loop
    sweep = gradtx.vmap_sweep(_optimizer, _loss, steps, per_step_data=True, shared_params=True)
    t_vmap_first, result = _timed(sweep, stacked, params, data)
    t_vmap = min(_timed(sweep, stacked, params, data)[0] for _ in range(repeats))

    # 16 separate runs of one jitted loop (pytree schedules: one compilation)
    def separate(train):
        return [train(s, params, data) for s in scheds]

    train = gradtx.scan_train(_optimizer, _loss, steps, per_step_data=True)
    t_sep_first, singles = _timed(separate, train)
    t_sep = min(_timed(separate, train)[0] for _ in range(repeats))

    # 16 separate runs, each compiled for its own (closed-over) schedule, as in optax
    def recompiled_runs():
        return [
            gradtx.scan_train(lambda _, s=s: _optimizer(s), _loss, steps, per_step_data=True)(
                None, params, data
            )
            for s in scheds
        ]

    t_recompiled_first, _ = _timed(recompiled_runs)

    final = np.asarray(result.losses[:, -10:].mean(axis=1))
    single_final = np.array([float(r.losses[-10:].mean()) for r in singles])
    max_diff = float(np.nanmax(np.abs(final - single_final) / np.abs(single_final)))
    return {
        "n_copies": N,
        "steps": steps,
        "hidden": hidden,
        "batch": batch,
        "vmapped_s": {"compile_included": t_vmap_first, "compile_excluded": t_vmap},
        "separate_s": {"compile_included": t_sep_first, "compile_excluded": t_sep},
        "separate_recompiled_s": {"compile_included": t_recompiled_first},
        "speedup_compile_excluded": t_sep / t_vmap,
        "speedup_compile_included": t_sep_first / t_vmap_first,
        "speedup_vs_recompiled_compile_included": t_recompiled_first / t_vmap_first,
        "peak_lrs": [float(p) for p in peaks],
        "final_losses": [float(v) for v in final],
        "max_rel_diff_vs_separate": max_diff,
        "device": str(jax.devices()[0]),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps, a smaller MLP")
    args = parser.parse_args()
    print(json.dumps(run(args.quick), indent=2))
