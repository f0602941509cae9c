"""Every ``gradtx.contrib`` optimiser against ``optax.contrib``'s of the same name (issue 15).

``python -m benchmarks.contrib [--quick] [--optimizers a,b] [--shapes flat,transformer]``

One row per optimiser and shape. Both libraries run the step a user writes: ``jax.jit`` of
``tx.update`` + ``apply_updates`` (params and state donated), on the same random float32
params and gradients; the implementations are stepped round-robin by
:func:`benchmarks._impls.time_interleaved` (the loop of ``benchmarks.run``), so the
machine's drift hits both alike. Reported per row: median step time with its IQR, the ratios
gradtx/optax of the medians and of the means (the mean counts the steps that refresh a
preconditioner or a projection every k steps: SOAP, Sophia, GaLore), lower+compile time,
and the optimiser state's bytes per parameter.

Shapes: one flat vector (1e6 float32; ``--quick`` 1e5) and a transformer-like tree
(:func:`benchmarks._shapes.transformer_shapes`: one block of width 512, 3.15M parameters;
``--quick`` width 128).

Extra inputs, the minimum both libraries need: ``momo``, ``momo_adam`` and
``reduce_on_plateau`` get a loss ``value`` (a runtime scalar); ``sophia`` gets
``obj_fn = sum(p^2)`` (its Hessian-vector product is one extra pass); ``dpsgd`` and
``differentially_private_aggregate`` get per-example gradients (a batch of one);
``split_real_and_imaginary(adam)`` runs on complex64 params of the same shapes (its state
bytes are per complex parameter). optax has no SOAP: ``soap`` is compared with
:func:`benchmarks.contrib_matrix.plain_soap` (the authors' update written plainly in JAX).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

if not __package__:  # run as a script: python benchmarks/contrib.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import gradtx  # noqa: E402
import gradtx.contrib  # noqa: E402
from benchmarks import _impls  # noqa: E402
from benchmarks._shapes import n_params, transformer_shapes  # noqa: E402
from benchmarks.run import _stats  # noqa: E402

LR = 1e-3


def _sq_norm(params: Any) -> jax.Array:
    return sum(jnp.sum(jnp.abs(x) ** 2) for x in jax.tree.leaves(params))


class Row(NamedTuple):
    build: Callable[[Any], Any]  # module (gradtx or optax) -> GradientTransformation
    extra: str = ""  # "value" | "obj_fn" | "per_example" | ""
    dtype: Any = jnp.float32  # the params' dtype
    reference: str = "optax"  # what the gradtx row is compared with


# One row per optax.contrib optimiser (plus SOAP), with optax's defaults where it has them.
ROWS: dict[str, Row] = {
    "acprop": Row(lambda m: m.contrib.acprop(LR)),
    "ademamix": Row(lambda m: m.contrib.ademamix(LR)),
    "simplified_ademamix": Row(lambda m: m.contrib.simplified_ademamix(LR)),
    "adopt": Row(lambda m: m.contrib.adopt(LR)),
    "cocob": Row(lambda m: m.contrib.cocob()),
    "dadapt_adamw": Row(lambda m: m.contrib.dadapt_adamw()),
    "dog": Row(lambda m: m.contrib.dog()),
    "dowg": Row(lambda m: m.contrib.dowg()),
    "galore": Row(lambda m: m.contrib.galore(LR)),
    "madgrad": Row(lambda m: m.contrib.madgrad(LR)),
    "mechanize": Row(lambda m: m.contrib.mechanize(m.adam(LR))),
    "momo": Row(lambda m: m.contrib.momo(), "value"),
    "momo_adam": Row(lambda m: m.contrib.momo_adam(), "value"),
    "muon": Row(lambda m: m.contrib.muon(0.02)),
    "normalize": Row(lambda m: m.contrib.normalize()),
    "prodigy": Row(lambda m: m.contrib.prodigy()),
    "reduce_on_plateau": Row(lambda m: m.chain(m.adam(LR), m.contrib.reduce_on_plateau()),
                             "value"),
    "sam": Row(lambda m: m.contrib.sam(m.sgd(LR, momentum=0.9),
                                       m.chain(m.contrib.normalize(), m.sgd(0.05)))),
    "schedule_free": Row(lambda m: m.contrib.schedule_free(m.adam(LR, b1=0.0), LR)),
    "schedule_free_adamw": Row(lambda m: m.contrib.schedule_free_adamw()),
    "schedule_free_sgd": Row(lambda m: m.contrib.schedule_free_sgd()),
    "sophia": Row(lambda m: m.contrib.sophia(LR), "obj_fn"),
    "dpsgd": Row(lambda m: m.contrib.dpsgd(LR, 1.0, 0.1, 0), "per_example"),
    "differentially_private_aggregate": Row(
        lambda m: m.contrib.differentially_private_aggregate(1.0, 0.1, 0), "per_example"),
    "split_real_and_imaginary": Row(lambda m: m.contrib.split_real_and_imaginary(m.adam(LR)),
                                    dtype=jnp.complex64),
    "soap": Row(lambda m: m.contrib.soap(), reference="plain"),
}

MODES = {
    # flat size, transformer (blocks, width), seconds of round-robin per case, min rounds
    "smoke": dict(flat=1_000, transformer=(1, 8), budget=0.0, min_rounds=2),
    "quick": dict(flat=100_000, transformer=(1, 128), budget=0.5, min_rounds=7),
    "full": dict(flat=1_000_000, transformer=(1, 512), budget=3.0, min_rounds=9),
}


def _random(shapes: dict[str, tuple[int, ...]], dtype: Any, scale: float, seed: int) -> dict:
    rng = np.random.default_rng(seed)

    def draw(s):
        x = rng.normal(size=s) * scale
        if np.issubdtype(dtype, np.complexfloating):
            x = x + 1j * rng.normal(size=s) * scale
        return np.asarray(x, dtype)

    return {k: draw(s) for k, s in shapes.items()}


def _state_bytes_per_param(state: Any, n: int) -> float:
    return sum(x.nbytes for x in jax.tree.leaves(state) if hasattr(x, "nbytes")) / max(n, 1)


class UserJitImpl:
    """``params, state = jit(step)(params, grads, state, extra)``: ``tx.update`` (given the
    row's extra inputs) + ``apply_updates`` of the library, params and state donated.

    Each instance holds its own copies of the params and of the state (``tx.init`` may
    return a state that shares a buffer with the params; donating both would fail)."""

    def __init__(self, tx: Any, apply_updates: Callable, params: dict, grads: dict,
                 extra: str):
        self.tx = tx
        self.params = jax.tree.map(jnp.array, params)
        self.grads = jax.tree.map(jnp.asarray, grads)
        if extra == "per_example":
            self.grads = jax.tree.map(lambda g: g[None], self.grads)
        self.state = jax.tree.map(jnp.array, tx.init(self.params))
        self.state_bpp = _state_bytes_per_param(self.state, n_params(
            {k: np.shape(v) for k, v in params.items()}))
        self.extra = {"value": jnp.float32(1.0)} if extra == "value" else {}
        static = {"obj_fn": _sq_norm} if extra == "obj_fn" else {}

        def step(params, grads, state, extra):
            updates, state = tx.update(grads, state, params, **extra, **static)
            return apply_updates(params, updates), state

        self.fn = jax.jit(step, donate_argnums=(0, 2))

    def compile(self) -> tuple[float, int | None]:
        t0 = time.perf_counter()
        self.fn = self.fn.lower(self.params, self.grads, self.state, self.extra).compile()
        return time.perf_counter() - t0, _impls._memory_temp_bytes(self.fn)

    def step(self) -> None:
        self.params, self.state = self.fn(self.params, self.grads, self.state, self.extra)
        jax.block_until_ready((self.params, self.state))


def _reference_tx(name: str) -> Any:
    row = ROWS[name]
    if row.reference == "plain":
        from benchmarks.contrib_matrix import plain_soap

        return plain_soap()
    import optax
    import optax.contrib  # noqa: F401

    return row.build(optax)


def run_case(name: str, label: str, shapes: dict[str, tuple[int, ...]], budget: float,
             min_rounds: int) -> dict:
    """One row: gradtx.contrib.<name> vs its reference on ``shapes``, timed round-robin."""
    import optax

    row = ROWS[name]
    params = _random(shapes, row.dtype, 0.02, 0)
    grads = _random(shapes, row.dtype, 1e-3, 1)
    impls = {
        "gradtx": UserJitImpl(row.build(gradtx), gradtx.apply_updates, params, grads,
                              row.extra),
        row.reference: UserJitImpl(_reference_tx(name), optax.apply_updates, params, grads,
                                   row.extra),
    }
    compiled = {k: impl.compile() for k, impl in impls.items()}
    times = _impls.time_interleaved(impls, budget, min_rounds=min_rounds)
    out: dict[str, Any] = {"optimizer": name, "shape": label, "params": n_params(shapes),
                           "reference": row.reference, "dtype": jnp.dtype(row.dtype).name}
    for k in ("gradtx", row.reference):
        out[k] = {**_stats(times[k]), "mean_ms": float(np.mean(times[k]) * 1e3),
                  "compile_s": compiled[k][0], "temp_bytes": compiled[k][1],
                  "state_bytes_per_param": impls[k].state_bpp}
    g, r = out["gradtx"], out[row.reference]
    out["ratio_median"] = g["median_ms"] / r["median_ms"]
    out["ratio_mean"] = g["mean_ms"] / r["mean_ms"]
    return out


def _f(x: Any, fmt: str = "{:.3g}") -> str:
    return "-" if x is None else fmt.format(x)


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        f"Run {meta['date']} on {meta['machine']}; jax {meta['jax']}, optax {meta['optax']}; "
        f"mode {meta['mode']}; load average {meta['load_before']} before, "
        f"{meta['load_after']} after; {meta['seconds']:.0f} s.",
        "",
        "Step time: median ms [IQR] of a user-jitted step (update + apply_updates, donated). "
        "Ratios < 1 mean gradtx is faster; 'mean' counts the every-k-steps refreshes.",
        "",
        "| optimizer | shape | gradtx ms | reference ms | gradtx/ref median | gradtx/ref mean "
        "| compile s gradtx / ref | state bytes/param gradtx / ref |",
        "|" + "---|" * 8,
    ]
    for r in rows:
        g, o = r["gradtx"], r[r["reference"]]
        ref = "" if r["reference"] == "optax" else f" ({r['reference']})"
        lines.append(
            f"| {r['optimizer']}{ref} | {r['shape']} | {g['median_ms']:.3g} "
            f"[{g['iqr_ms']:.2g}] | {o['median_ms']:.3g} [{o['iqr_ms']:.2g}] | "
            f"{r['ratio_median']:.2f} | {r['ratio_mean']:.2f} | {g['compile_s']:.2f} / "
            f"{o['compile_s']:.2f} | {g['state_bytes_per_param']:.3g} / "
            f"{o['state_bytes_per_param']:.3g} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.contrib",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="flat 1e5 and a width-128 transformer block, shorter timings")
    ap.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--optimizers", default=",".join(ROWS),
                    help="comma-separated subset of " + ",".join(ROWS))
    ap.add_argument("--shapes", default="flat,transformer",
                    help="comma-separated subset of flat,transformer")
    ap.add_argument("--json", type=Path, default=None, help="write every number as JSON here")
    args = ap.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    cfg = MODES[mode]
    names = [o.strip() for o in args.optimizers.split(",") if o.strip()]
    unknown = set(names) - set(ROWS)
    if unknown:
        ap.error(f"unknown optimizers {sorted(unknown)}; choose from {list(ROWS)}")
    kinds = [s.strip() for s in args.shapes.split(",") if s.strip()]
    if set(kinds) - {"flat", "transformer"}:
        ap.error(f"unknown shapes {kinds}; choose from flat,transformer")
    blocks, width = cfg["transformer"]
    all_shapes = {
        "flat": (f"flat {cfg['flat']:.0e}".replace("+0", ""), {"x": (cfg["flat"],)}),
        "transformer": (f"transformer {blocks}x{width}", transformer_shapes(blocks, width)),
    }
    import optax

    t0 = time.perf_counter()
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} CPU cores, "
                   f"{jax.devices()[0].platform} backend",
        "jax": jax.__version__, "optax": optax.__version__, "mode": mode,
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }
    rows = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*donated buffers were not usable.*")
        for kind in kinds:
            label, shapes = all_shapes[kind]
            for name in names:
                print(f"  {label} {name} ...", file=sys.stderr, flush=True)
                rows.append(run_case(name, label, shapes, cfg["budget"], cfg["min_rounds"]))
    meta["load_after"] = [round(x, 2) for x in os.getloadavg()]
    meta["seconds"] = time.perf_counter() - t0
    print(markdown(rows, meta), flush=True)
    result = {"meta": meta, "rows": rows}
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return result


if __name__ == "__main__":
    main()
