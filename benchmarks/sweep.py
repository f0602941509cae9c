"""Schedule sweep: N=16 copies of a small MLP on the airfoil data, trained under 16
learning-rate schedules by ONE vmapped, jitted loop vs 16 separate runs.

Mini-batch SGD with momentum 0.9 (batch 32, the same batches for every copy), each
schedule a linear warmup into a cosine decay with a different peak lr. Timed:

* ``vmapped``: ``gradtx.vmap_sweep`` (one compilation, one call);
* ``separate``: ``gradtx.scan_train`` called 16 times. gradtx schedules are pytrees,
  so the 16 runs share ONE compilation (the strictest baseline: each run is already one
  compiled ``lax.scan``);
* ``separate_python_loop``: 16 runs of the usual training loop, a Python ``for`` over a
  jitted step (one compilation, the schedule passed as an argument); one run is timed
  and multiplied by 16 (the runs are identical in cost);
* ``separate_recompiled``: 16 runs each jitted with its schedule closed over, as an
  optax schedule (a closure) forces: 16 compilations.

"compile included" times start from a fresh jitted function; "compile excluded" times
are the best of ``repeats`` calls of the already compiled function. ``width_scan``
repeats the compile-excluded vmapped-vs-separate comparison for MLPs of several hidden
widths: batching pays where a step's fixed costs dominate its arithmetic.
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
from gradtx.demo.datasets import load_airfoil

N = 16
BATCH = 32


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


def _timed(fn, *args) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0, out


def _best(repeats: int, fn, *args) -> float:
    return min(_timed(fn, *args)[0] for _ in range(repeats))


def _problem(steps: int, hidden: int):
    """(data, params, schedules, stacked schedules) for one sweep."""
    X, y = load_airfoil()
    idx = np.random.default_rng(0).integers(0, len(X), size=(steps, BATCH))
    data = (jnp.asarray(X[idx]), jnp.asarray(y[idx]))  # (steps, batch, 5), (steps, batch)
    params = _init_mlp(jax.random.PRNGKey(0), (X.shape[1], hidden, hidden, 1))
    warm = steps // 10
    scheds = [
        schedules.warmup(schedules.cosine_decay(float(p), steps - warm), warmup_steps=warm)
        for p in np.logspace(-3, -1, N)
    ]
    return data, params, scheds, gradtx.stack_schedules(*scheds)


def _python_loop(steps: int):
    """One run as users write it: a Python loop over a jitted step."""

    @jax.jit
    def step(sched, params, state, batch):
        loss, grads = jax.value_and_grad(_loss)(params, batch)
        updates, state = _optimizer(sched).update(grads, state, params)
        return gradtx.apply_updates(params, updates), state, loss

    def run(sched, params, data):
        state = _optimizer(sched).init(params)
        losses = []
        for t in range(steps):
            params, state, loss = step(sched, params, state, (data[0][t], data[1][t]))
            losses.append(loss)
        return params, jnp.stack(losses)

    return run


def _compile_excluded(steps: int, hidden: int, repeats: int) -> dict:
    """vmapped vs 16 separate compiled scans, both already compiled, for one width."""
    data, params, scheds, stacked = _problem(steps, hidden)
    sweep = gradtx.vmap_sweep(_optimizer, _loss, steps, per_step_data=True, shared_params=True)
    train = gradtx.scan_train(_optimizer, _loss, steps, per_step_data=True)
    _timed(sweep, stacked, params, data)
    _timed(train, scheds[0], params, data)
    t_vmap = _best(repeats, sweep, stacked, params, data)
    t_sep = _best(repeats, lambda: [train(s, params, data) for s in scheds])
    n_params = sum(x.size for x in jax.tree.leaves(params))
    return {"hidden": hidden, "params_per_copy": int(n_params), "vmapped_s": t_vmap,
            "separate_s": t_sep, "speedup": t_sep / t_vmap,
            "us_per_copy_step_vmapped": t_vmap / (N * steps) * 1e6,
            "us_per_copy_step_separate": t_sep / (N * steps) * 1e6}


def run(quick: bool = False) -> dict:
    """Times the sweep; returns the times (seconds), speed-ups and final losses."""
    steps, hidden, repeats = (100, 16, 2) if quick else (500, 32, 3)
    widths = (4, 32) if quick else (4, 8, 16, 32, 64, 128)
    data, params, scheds, stacked = _problem(steps, hidden)

    # one vmapped, jitted loop
    sweep = gradtx.vmap_sweep(_optimizer, _loss, steps, per_step_data=True, shared_params=True)
    t_vmap_first, result = _timed(sweep, stacked, params, data)
    t_vmap = _best(repeats, sweep, stacked, params, data)

    # 16 separate runs of one jitted loop (pytree schedules: one compilation)
    def separate(train):
        return [train(s, params, data) for s in scheds]

    train = gradtx.scan_train(_optimizer, _loss, steps, per_step_data=True)
    t_sep_first, singles = _timed(separate, train)
    t_sep = _best(repeats, separate, train)

    # 16 runs of a Python loop over a jitted step (one compilation); one timed, x16
    loop = _python_loop(steps)
    t_loop_first = _timed(loop, scheds[0], params, data)[0] + (N - 1) * _best(
        1, loop, scheds[1], params, data)
    t_loop = N * _best(repeats, loop, scheds[2], params, data)

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
        "batch": BATCH,
        "vmapped_s": {"compile_included": t_vmap_first, "compile_excluded": t_vmap},
        "separate_s": {"compile_included": t_sep_first, "compile_excluded": t_sep},
        "separate_python_loop_s": {"compile_included": t_loop_first, "compile_excluded": t_loop},
        "separate_recompiled_s": {"compile_included": t_recompiled_first},
        "speedup_compile_excluded": t_sep / t_vmap,
        "speedup_compile_included": t_sep_first / t_vmap_first,
        "speedup_vs_python_loop_compile_excluded": t_loop / t_vmap,
        "speedup_vs_python_loop_compile_included": t_loop_first / t_vmap_first,
        "speedup_vs_recompiled_compile_included": t_recompiled_first / t_vmap_first,
        "width_scan": [_compile_excluded(steps, h, repeats) for h in widths],
        "peak_lrs": [float(p) for p in np.logspace(-3, -1, N)],
        "final_losses": [float(v) for v in final],
        "max_rel_diff_vs_separate": max_diff,
        "device": str(jax.devices()[0]),
    }


def markdown(r: dict) -> str:
    """The sweep's timings as a short Markdown table."""
    rows = [
        ("vmapped (one compiled program)", r["vmapped_s"]["compile_excluded"],
         r["vmapped_s"]["compile_included"], 1.0),
        ("16 runs of one compiled scan", r["separate_s"]["compile_excluded"],
         r["separate_s"]["compile_included"], r["speedup_compile_excluded"]),
        ("16 Python-loop runs", r["separate_python_loop_s"]["compile_excluded"],
         r["separate_python_loop_s"]["compile_included"],
         r["speedup_vs_python_loop_compile_excluded"]),
        ("16 runs, each recompiled (optax-style)", None,
         r["separate_recompiled_s"]["compile_included"],
         r["speedup_vs_recompiled_compile_included"]),
    ]
    out = [f"{r['n_copies']} copies x {r['steps']} steps, hidden {r['hidden']} "
           f"({r['device']}); vmapped vs separate final losses differ by at most "
           f"{r['max_rel_diff_vs_separate']:.1e} (relative).", "",
           "| runs | s (compile excluded) | s (compile included) | vmapped is x faster |",
           "|---|---|---|---|"]
    for name, excl, incl, speed in rows:
        e = "-" if excl is None else f"{excl:.3f}"
        out.append(f"| {name} | {e} | {incl:.3f} | {speed:.2f} |")
    return "\n".join(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sweep",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps, a smaller MLP")
    parser.add_argument("--json", help="also write the result as JSON to this path")
    args = parser.parse_args()
    result = run(args.quick)
    print(markdown(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
