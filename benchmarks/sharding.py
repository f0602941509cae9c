"""Sharded training step: step time and per-device optimiser-state memory on a mesh.

Runs :func:`gradtx.sharding.make_train_step` on every device JAX sees, in three layouts:

* ``1 device``: the whole step on the first device (the reference);
* ``data-parallel``: params and optimiser state replicated, batch split over the devices;
* ``fsdp``: params, gradients and optimiser state split over the devices
  (:func:`gradtx.sharding.fsdp_shardings`), batch split too;

for two tanh MLPs with a mean-squared-error loss: the test model of
``tests/_sharding_checks.py`` (16-32-32-8) and a wider one. It reports the median step
time (``block_until_ready``, params and state donated), lower+compile time, the
optimiser state's bytes on the fullest device (the arrays' addressable shards) and in
total, the compiled step's per-device argument and temporary bytes
(``memory_analysis()``), and the largest difference in params from the 1-device run
after the same steps.

With a single CPU device and no ``--no-reexec``, the script re-executes itself with 8
simulated CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count=8``); on a GPU
host it uses the GPUs as they are. Simulated devices share the host's cores, so their
step times show the partitioner's overhead, not a speed-up.

Run: ``python benchmarks/sharding.py [--quick] [--json PATH] [--no-reexec]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import gradtx
from gradtx import sharding

SIMULATED = 8


def _init_mlp(key: jax.Array, sizes: tuple[int, ...]) -> dict[str, dict[str, jax.Array]]:
    keys = jax.random.split(key, len(sizes) - 1)
    return {
        f"layer{i}": {"w": jax.random.normal(k, (a, b)) / np.sqrt(a), "b": jnp.zeros(b)}
        for i, (k, a, b) in enumerate(zip(keys, sizes[:-1], sizes[1:], strict=True))
    }


def _loss(params: dict[str, dict[str, jax.Array]], batch: tuple[jax.Array, jax.Array]):
    x, y = batch
    layers = [params[f"layer{i}"] for i in range(len(params))]
    for layer in layers[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return jnp.mean((x @ layers[-1]["w"] + layers[-1]["b"] - y) ** 2)


def _optimizers(quick: bool) -> dict[str, gradtx.GradientTransformation]:
    txs = {"adam": gradtx.adam(1e-3)}
    if not quick:
        txs["sgd_momentum"] = gradtx.sgd(1e-2, momentum=0.9)
        txs["adabound"] = gradtx.adabound(1e-3)
    return txs


def _case(
    sizes: tuple[int, ...], batch: int, tx, layout_name: str, steps: int, repeats: int
) -> tuple[dict[str, Any], Any]:
    devices = np.array(jax.devices())
    mesh = Mesh(devices, ("d",))
    params = jax.device_get(_init_mlp(jax.random.key(0), sizes))
    kx, kw = jax.random.split(jax.random.key(1))
    xs = jax.random.normal(kx, (steps, batch, sizes[0]))
    ys = jnp.sin(xs @ jax.random.normal(kw, (sizes[0], sizes[-1])))
    if layout_name == "1 device":
        layout = batch_sharding = NamedSharding(Mesh(devices[:1], ("one",)), P())
    elif layout_name == "data-parallel":
        layout, batch_sharding = NamedSharding(mesh, P()), NamedSharding(mesh, P("d"))
    else:
        layout, batch_sharding = sharding.fsdp_shardings(params, mesh), NamedSharding(mesh, P("d"))
    step = sharding.make_train_step(_loss, tx, layout, batch_sharding)
    p = jax.device_put(params, layout)
    state = tx.init(p)
    batches = [jax.device_put((xs[t], ys[t]), batch_sharding) for t in range(steps)]
    t0 = time.perf_counter()
    compiled = step.lower(p, state, batches[0]).compile()
    compile_s = time.perf_counter() - t0
    times = []
    for t in range(steps):
        t0 = time.perf_counter()
        p, state, loss = compiled(p, state, batches[t])
        jax.block_until_ready((p, state, loss))
        times.append(time.perf_counter() - t0)
    timed = times[1:] or times
    for _ in range(repeats - 1):  # extra timed calls on the last batch (params move on)
        t0 = time.perf_counter()
        p2, state, _ = compiled(p, state, batches[-1])
        jax.block_until_ready((p2, state))
        p = p2
        timed.append(time.perf_counter() - t0)
    per_device = sharding.bytes_per_device(state)
    mem = compiled.memory_analysis()
    row = {
        "layout": layout_name,
        "devices": 1 if layout_name == "1 device" else len(devices),
        "step_ms": 1e3 * float(np.median(timed)),
        "compile_s": compile_s,
        "state_bytes_per_device": max(per_device.values()),
        "state_bytes_total": sum(a.nbytes for a in jax.tree.leaves(state)),
        "argument_bytes_per_device": getattr(mem, "argument_size_in_bytes", None),
        "temp_bytes_per_device": getattr(mem, "temp_size_in_bytes", None),
        "final_loss": float(loss),
    }
    return row, jax.device_get(p)


def run(quick: bool = False) -> dict:
    """Runs every (model, optimiser, layout) case on the devices JAX sees; returns the
    rows (times in ms/s, memory in bytes) and the environment."""
    steps, repeats = (20, 5) if quick else (20, 30)
    models = {
        "test MLP 16-32-32-8": ((16, 32, 32, 8), 64),
        "MLP 256-1024-1024-256" if quick else "MLP 512-2048-2048-512": (
            (256, 1024, 1024, 256) if quick else (512, 2048, 2048, 512),
            256,
        ),
    }
    rows = []
    for model, (sizes, batch) in models.items():
        for opt, tx in _optimizers(quick).items():
            ref = None
            for layout in ("1 device", "data-parallel", "fsdp"):
                row, final = _case(sizes, batch, tx, layout, steps, repeats)
                if ref is None:
                    ref, diff = final, 0.0
                else:
                    diffs = jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), ref, final)
                    diff = max(jax.tree.leaves(diffs))
                rows.append({"model": model, "optimizer": opt, **row, "max_param_diff": diff})
    return {
        "backend": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
        "device_count": jax.device_count(),
        "simulated_cpu_devices": jax.default_backend() == "cpu" and jax.device_count() > 1,
        "steps": steps,
        "jax": jax.__version__,
        "python": platform.python_version(),
        "rows": rows,
    }


def _bytes(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def markdown(result: dict) -> str:
    """The rows as a Markdown table."""
    head = (
        "| model | optimizer | layout | devices | step (ms) | compile (s) | state bytes / device "
        "| state bytes (global) | args bytes / device | temp bytes / device | max param diff "
        "vs 1 device |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in result["rows"]:
        lines.append(
            f"| {r['model']} | {r['optimizer']} | {r['layout']} | {r['devices']} "
            f"| {r['step_ms']:.3f} | {r['compile_s']:.2f} | {r['state_bytes_per_device']:,} "
            f"| {r['state_bytes_total']:,} | {_bytes(r['argument_bytes_per_device'])} "
            f"| {_bytes(r['temp_bytes_per_device'])} | {r['max_param_diff']:.3g} |"
        )
    kind = "simulated CPU devices" if result["simulated_cpu_devices"] else result["device_kind"]
    lines.append(
        f"\n{result['device_count']} x {kind}, jax {result['jax']}, {result['steps']} steps."
    )
    return "\n".join(lines)


def _maybe_reexec(args: argparse.Namespace) -> None:
    if args.no_reexec or jax.device_count() > 1 or jax.default_backend() != "cpu":
        return
    env = dict(os.environ)
    flag = f"--xla_force_host_platform_device_count={SIMULATED}"
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + flag).strip()
    env["JAX_PLATFORMS"] = "cpu"
    argv = [sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--no-reexec"]
    sys.stdout.flush()
    os.execve(sys.executable, argv, env)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="adam only, a smaller wide MLP")
    parser.add_argument("--json", help="also write the result as JSON to this path")
    parser.add_argument(
        "--no-reexec",
        action="store_true",
        help=f"run on the devices as they are (do not restart with {SIMULATED} CPU devices)",
    )
    args = parser.parse_args()
    _maybe_reexec(args)
    result = run(args.quick)
    print(markdown(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
