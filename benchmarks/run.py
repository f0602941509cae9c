"""Optimiser-step benchmarks: gradtx vs optax vs torch.optim, interleaved in one run.

Run ``python -m benchmarks.run --quick`` (under 2 minutes on an idle 2-core CPU) or
``python -m benchmarks.run`` (full). For each optimiser and parameter shape it times a
jitted step (``update`` + ``apply_updates``, params and state donated,
``block_until_ready``) of every implementation in round-robin order, so the machine's
drift hits all alike, and reports medians with the interquartile range, the ratios
gradtx/optax and gradtx/torch-fused, the effective bandwidth as a percentage of an
in-place copy measured in the same run, lower+compile time, and the temporary bytes of
the compiled step (``memory_analysis()``, with donation).

gradtx implementations:
  ``gradtx``        ``gradtx.make_step(tx)`` on the parameter tree as it is: the
                    single-pass native kernel over all leaves where it applies (CPU,
                    float32, a covered optimiser at the end of the chain), else pure JAX;
  ``gradtx-jit``    the step a user writes: ``jax.jit`` of ``tx.update`` and
                    ``apply_updates`` (pure JAX, no kernel), to compare with optax's;
  ``gradtx-pack``   ``gradtx.make_step`` on ``gradtx.pack(params)`` (parameters, grads and
                    state held as one buffer per dtype);
  ``gradtx-packed`` ``gradtx.packed(tx)`` on the plain tree (state packed, grads gathered
                    and updates scattered every step).
``clip_adam`` is ``chain(clip_by_global_norm(1.0), adam(lr))`` in both libraries.
The ratio columns use the fastest gradtx implementation of the row and name it.

Outputs: Markdown tables on stdout, every number as JSON in ``--json PATH`` (default
``--out``/results.json), and ``step_time.png`` in ``--out``.
torch is optional: without it the torch columns read ``-``.
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
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import _impls  # noqa: E402
from benchmarks._shapes import n_params, resnet50_shapes, small_leaves_shapes  # noqa: E402

MODES = {
    # flat sizes, optimisers on the trees, small-leaves count/size, resnet scale, seconds/case
    "smoke": dict(flat=(10_000,), tree_opts=("adam",), opts=("adam", "sgd"), no_resnet=True,
                  leaves=(20, 100), resnet_scale=16, budget=0.05, wrap_small=True),
    # quick: every classic optimiser on flat vectors (the issue-14 ones on flat 1e6 only);
    # five on the ResNet-50-like tree (each tree case compiles for seconds); Adam on the 2000
    # leaves (optax compiles it for ~13 s)
    "quick": dict(flat=(1_000_000, 10_000_000),
                  tree_opts=("sgd_momentum", "adam", "clip_adam", "adamw", "rmsprop"),
                  small_opts=("adam",), new_flat=(1_000_000,),
                  leaves=(2000, 1000), resnet_scale=1, budget=0.4, wrap_small=False,
                  wrap_tree=False),
    # gpu-quick: Adam on 1e8 float32 params (as % of the in-place copy bandwidth of the
    # device), and Adam / clip+Adam on the ResNet-50-like and 2000-leaf trees vs optax; one
    # short call on a lent accelerator (under 5 minutes)
    "gpu-quick": dict(flat=(100_000_000,), opts=("adam",),
                      tree_opts=("adam", "clip_adam"), small_opts=("adam", "clip_adam"),
                      leaves=(2000, 1000), resnet_scale=1, budget=1.0, wrap_small=False,
                      wrap_tree=False),
    "full": dict(flat=(1_000_000, 10_000_000, 50_000_000), tree_opts=None,
                 leaves=(2000, 1000), resnet_scale=1, budget=3.0, wrap_small=True),
}


def _cases(cfg: dict, optimizers: tuple[str, ...], shapes_filter: set[str] | None):
    opts = cfg.get("opts") or optimizers
    opts = tuple(o for o in opts if o in optimizers)
    cases = []
    new_flat = cfg.get("new_flat")  # flat sizes the non-classic optimisers run on
    for n in cfg["flat"]:
        flat_opts = opts if new_flat is None or n in new_flat else tuple(
            o for o in opts if o in _impls.CLASSIC)
        cases.append((f"flat {n:.0e}".replace("+0", ""), "flat", {"x": (n,)}, flat_opts, False))
    tree_opts = cfg["tree_opts"] or opts
    tree_opts = tuple(o for o in tree_opts if o in optimizers)
    if not cfg.get("no_resnet"):  # smoke mode: 161 leaves take seconds to compile
        cases.append(("resnet50", "resnet50", resnet50_shapes(cfg["resnet_scale"]), tree_opts,
                      cfg.get("wrap_tree", True)))
    n_leaves, size = cfg["leaves"]
    small_opts = tuple(o for o in (cfg.get("small_opts") or tree_opts) if o in optimizers)
    cases.append((f"{n_leaves}x{size}", "small", small_leaves_shapes(n_leaves, size), small_opts,
                  cfg["wrap_small"]))
    return [c for c in cases if shapes_filter is None or c[1] in shapes_filter]


def _stats(ts: np.ndarray) -> dict[str, float]:
    q25, med, q75 = np.percentile(ts * 1e3, [25, 50, 75])
    return {"median_ms": float(med), "q25_ms": float(q25), "q75_ms": float(q75),
            "iqr_ms": float(q75 - q25), "n": int(ts.size)}


def _run_case(label, kind, shapes, opt, wrap, budget, torch):
    impls: dict[str, Any] = {}
    impls["gradtx"] = _impls.JaxImpl(_impls.gradtx_opt(opt), shapes)
    impls["gradtx-jit"] = _impls.JaxImpl(_impls.gradtx_opt(opt), shapes, user_jit=True)
    if len(shapes) > 1:
        impls["gradtx-pack"] = _impls.JaxImpl(_impls.gradtx_opt(opt), shapes, packed=True)
        if wrap:
            impls["gradtx-packed"] = _impls.JaxImpl(_impls.gradtx_opt(opt), shapes, wrap=True)
    otx = _impls.optax_opt(opt)
    if otx is not None:
        impls["optax"] = _impls.OptaxImpl(otx, shapes)
    if torch is not None:
        for mode in ("foreach", "fused"):
            t = _impls.TorchImpl(torch, opt, shapes, mode)
            if t.opt is not None:
                impls[f"torch-{mode}"] = t
    n = n_params(shapes)
    need = int(_impls.bytes_per_param(opt, shapes) * n)
    state_bpp = {"gradtx": _impls.state_bytes_per_param(_impls.gradtx_opt(opt), shapes),
                 "optax": _impls.state_bytes_per_param(otx, shapes) if otx is not None
                 else None}
    # the roof: an in-place copy moving as many bytes as the step must (read + write), so
    # it sees the same caches as the step (a probe of n floats fits in cache where the
    # step's 3-4 arrays do not, and gave "% of roof" above 200% at small sizes)
    impls["copy"] = _impls.CopyProbe(max(1, need // 8))
    compiled = {name: impl.compile() for name, impl in impls.items()}
    times = _impls.time_interleaved(impls, budget)
    copy_s = float(np.median(times["copy"]))
    roof_gbps = 8 * (max(1, need // 8)) / copy_s / 1e9
    rows = []
    for name in impls:
        if name == "copy":
            continue
        st = _stats(times[name])
        gbps = need / (st["median_ms"] / 1e3) / 1e9
        rows.append({"shape": label, "kind": kind, "params": n, "leaves": len(shapes),
                     "optimizer": opt, "impl": name, **st,
                     "compile_s": compiled[name][0], "temp_bytes": compiled[name][1],
                     "gbps": gbps, "pct_roof": 100 * gbps / roof_gbps,
                     "state_bytes_per_param": state_bpp["optax" if name == "optax"
                                                        else "gradtx"]})
    copy_row = {"shape": label, "kind": kind, "params": n, "leaves": len(shapes),
                "optimizer": opt, "impl": "copy", **_stats(times["copy"]),
                "compile_s": compiled["copy"][0], "temp_bytes": compiled["copy"][1],
                "gbps": roof_gbps, "pct_roof": 100.0}
    return rows + [copy_row]


def state_bytes_table(cfg: dict, optimizers: tuple[str, ...]) -> dict[str, dict]:
    """{optimizer: {shape: (gradtx, optax or None)}} state bytes per parameter on the flat
    1e6 vector, the ResNet-50-like tree and the small leaves (``jax.eval_shape``: cheap)."""
    n_leaves, size = cfg["leaves"]
    shapes = {"flat 1e6": {"x": (1_000_000,)}, "resnet50": resnet50_shapes(cfg["resnet_scale"]),
              f"{n_leaves}x{size}": small_leaves_shapes(n_leaves, size)}
    out = {}
    for opt in optimizers:
        otx = _impls.optax_opt(opt)
        out[opt] = {label: (_impls.state_bytes_per_param(_impls.gradtx_opt(opt), sh),
                            None if otx is None else _impls.state_bytes_per_param(otx, sh))
                    for label, sh in shapes.items()}
    return out


def _summary(rows: list[dict]) -> list[dict]:
    out = []
    keys = list(dict.fromkeys((r["shape"], r["optimizer"]) for r in rows))
    for shape, opt in keys:
        rs = {r["impl"]: r for r in rows if r["shape"] == shape and r["optimizer"] == opt}
        gx = [r for name, r in rs.items() if name.startswith("gradtx")]
        best = min(gx, key=lambda r: r["median_ms"])
        ox, tf = rs.get("optax"), rs.get("torch-fused")
        out.append({
            "shape": shape, "optimizer": opt, "best_gradtx": best["impl"],
            "gradtx_ms": best["median_ms"], "gradtx_iqr_ms": best["iqr_ms"],
            "optax_ms": ox["median_ms"] if ox else None,
            "optax_iqr_ms": ox["iqr_ms"] if ox else None,
            "torch_foreach_ms": rs["torch-foreach"]["median_ms"] if "torch-foreach" in rs else None,
            "torch_fused_ms": tf["median_ms"] if tf else None,
            "ratio_optax": best["median_ms"] / ox["median_ms"] if ox else None,
            "ratio_plain_optax": rs["gradtx"]["median_ms"] / ox["median_ms"] if ox else None,
            "ratio_torch_fused": best["median_ms"] / tf["median_ms"] if tf else None,
            "gradtx_pct_roof": best["pct_roof"], "optax_pct_roof": ox["pct_roof"] if ox else None,
            "torch_fused_pct_roof": tf["pct_roof"] if tf else None,
            "copy_gbps": rs["copy"]["gbps"],
            "compile_gradtx_s": best["compile_s"],
            "compile_plain_gradtx_s": rs["gradtx"]["compile_s"],
            "compile_optax_s": ox["compile_s"] if ox else None,
            "compile_ratio": best["compile_s"] / ox["compile_s"] if ox else None,
            "temp_bytes_gradtx": best["temp_bytes"], "temp_bytes_optax": ox["temp_bytes"] if ox
            else None,
            "state_bpp_gradtx": rs["gradtx"]["state_bytes_per_param"],
            "state_bpp_optax": ox["state_bytes_per_param"] if ox else None,
        })
    return out


def _f(x: Any, fmt: str = "{:.3g}") -> str:
    return "-" if x is None else fmt.format(x)


def markdown(rows: list[dict], summary: list[dict], meta: dict) -> str:
    lines = [
        f"Run {meta['date']} on {meta['machine']}; jax {meta['jax']}, optax {meta['optax']}, "
        f"torch {meta['torch']}; mode {meta['mode']}; load average {meta['load_before']} "
        f"before, {meta['load_after']} after; {meta['seconds']:.0f} s.",
        "",
        "Step time: median ms [IQR]. Ratios < 1 mean gradtx is faster. %roof: bytes a "
        "single-pass step must move / time, over the bandwidth of an in-place copy that "
        "moves the same number of bytes, measured in the same run.",
        "",
        "| shape | optimizer | gradtx (best impl) | optax | torch foreach | torch fused | "
        "gradtx/optax | plain gradtx/optax | gradtx/torch fused | %roof gradtx | %roof optax "
        "| %roof torch fused | copy GB/s | compile s gradtx / optax | temp bytes gradtx / optax "
        "| state bytes/param gradtx / optax |",
        "|" + "---|" * 16,
    ]
    for s in summary:
        optax_iqr = "" if s["optax_iqr_ms"] is None else f" [{s['optax_iqr_ms']:.2g}]"
        lines.append(
            f"| {s['shape']} | {s['optimizer']} | {s['gradtx_ms']:.3g} [{s['gradtx_iqr_ms']:.2g}] "
            f"({s['best_gradtx']}) | {_f(s['optax_ms'])}{optax_iqr} | "
            f"{_f(s['torch_foreach_ms'])} | {_f(s['torch_fused_ms'])} | "
            f"{_f(s['ratio_optax'], '{:.2f}')} | {_f(s['ratio_plain_optax'], '{:.2f}')} | "
            f"{_f(s['ratio_torch_fused'], '{:.2f}')} | {s['gradtx_pct_roof']:.0f}% | "
            f"{_f(s['optax_pct_roof'], '{:.0f}%')} | {_f(s['torch_fused_pct_roof'], '{:.0f}%')} | "
            f"{s['copy_gbps']:.1f} | {s['compile_gradtx_s']:.2f} / "
            f"{_f(s['compile_optax_s'], '{:.2f}')} | {_f(s['temp_bytes_gradtx'], '{:d}')} / "
            f"{_f(s['temp_bytes_optax'], '{:d}')} | {s['state_bpp_gradtx']:.3g} / "
            f"{_f(s['state_bpp_optax'])} |"
        )
    if meta.get("state_bytes"):
        shapes = list(next(iter(meta["state_bytes"].values())))
        lines += ["", "State bytes per float32 parameter (``tx.init(params)``, gradtx / optax; "
                  "shapes only, nothing timed):", "",
                  "| optimizer | " + " | ".join(shapes) + " |", "|" + "---|" * (1 + len(shapes))]
        for opt, per_shape in meta["state_bytes"].items():
            lines.append(f"| {opt} | " + " | ".join(
                f"{g:.3g} / {_f(o)}" for g, o in per_shape.values()) + " |")
    lines += ["", "All implementations:", "",
              "| shape | optimizer | impl | median ms | IQR ms | n | GB/s | %roof | compile s | "
              "temp bytes |", "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r['shape']} | {r['optimizer']} | {r['impl']} | {r['median_ms']:.3g} | "
            f"{r['iqr_ms']:.2g} | {r['n']} | {r['gbps']:.1f} | {r['pct_roof']:.0f}% | "
            f"{r['compile_s']:.2f} | {_f(r['temp_bytes'], '{:d}')} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    impls = sorted({r["impl"] for r in rows})
    for opt, style in (("adam", "-o"), ("sgd", "--s")):
        for impl in impls:
            pts = sorted((r["params"], r["median_ms"]) for r in rows
                         if r["kind"] == "flat" and r["optimizer"] == opt and r["impl"] == impl)
            if pts and (opt == "adam" or impl != "copy"):
                ax1.plot(*zip(*pts, strict=True), style, label=f"{opt} {impl}")
            lv = sorted((r["leaves"], 1e6 * r["median_ms"] / r["params"]) for r in rows
                        if r["optimizer"] == opt and r["impl"] == impl)
            if opt == "adam" and lv:
                ax2.plot(*zip(*lv, strict=True), style, label=impl)
    ax1.set(xscale="log", yscale="log", xlabel="parameters (one flat vector)",
            ylabel="step time (ms, median)", title="step time vs parameters")
    ax2.set(xscale="log", yscale="log", xlabel="leaves in the parameter tree",
            ylabel="ms per million parameters", title="Adam: step time vs leaves")
    ax1.legend(fontsize=6)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _extra_suites(quick: bool) -> dict[str, Any]:
    """benchmarks/sweep.py and benchmarks/sharding.py, when present."""
    import importlib

    out: dict[str, Any] = {}
    for name in ("sweep", "sharding"):
        try:
            mod = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"benchmarks.{name}":
                raise
            continue
        print(f"\n## benchmarks.{name}\n", flush=True)
        out[name] = mod.run(quick)
        print(mod.markdown(out[name]), flush=True)  # the full numbers go to --json
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="smaller sizes, fewer tree cases (under 2 minutes)")
    ap.add_argument("--gpu-quick", action="store_true",
                    help="Adam on 1e8 params and the two trees vs optax, for a lent GPU "
                         "(under 5 minutes)")
    ap.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, default=None,
                    help="write every number as JSON here (default: OUT/results.json)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out",
                    help="folder for the plot (default benchmarks/out/)")
    ap.add_argument("--optimizers", default=",".join(_impls.OPTIMIZERS),
                    help="comma-separated subset of " + ",".join(_impls.OPTIMIZERS))
    ap.add_argument("--shapes", default=None, help="comma-separated subset of flat,resnet50,small")
    ap.add_argument("--no-torch", action="store_true", help="leave torch out even if installed")
    ap.add_argument("--no-extra", action="store_true", help="skip the sweep/sharding suites")
    args = ap.parse_args(argv)
    mode = ("smoke" if args.smoke else "gpu-quick" if args.gpu_quick
            else "quick" if args.quick else "full")
    cfg = MODES[mode]
    optimizers = tuple(o.strip() for o in args.optimizers.split(",") if o.strip())
    unknown = set(optimizers) - set(_impls.OPTIMIZERS)
    if unknown:
        ap.error(f"unknown optimizers {sorted(unknown)}; choose from {_impls.OPTIMIZERS}")
    shapes_filter = None if args.shapes is None else set(args.shapes.split(","))
    torch = None if args.no_torch else _impls.torch_module()
    import optax

    t0 = time.perf_counter()
    meta = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} CPU cores, "
                   f"{jax.devices()[0].platform} backend ({jax.devices()[0].device_kind})",
        "python": sys.version.split()[0], "jax": jax.__version__, "optax": optax.__version__,
        "torch": torch.__version__ if torch is not None else "not installed",
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "xla_flags": os.environ.get("XLA_FLAGS", ""), "mode": mode,
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }
    rows: list[dict] = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*donated buffers were not usable.*")
        for label, kind, shapes, opts, wrap in _cases(cfg, optimizers, shapes_filter):
            for opt in opts:
                print(f"  {label} {opt} ...", file=sys.stderr, flush=True)
                rows += _run_case(label, kind, shapes, opt, wrap, cfg["budget"], torch)
    meta["load_after"] = [round(x, 2) for x in os.getloadavg()]
    meta["state_bytes"] = state_bytes_table(cfg, optimizers)
    meta["seconds"] = time.perf_counter() - t0
    summary = _summary(rows)
    print(markdown(rows, summary, meta), flush=True)
    result = {"meta": meta, "summary": summary, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    plot(rows, args.out / "step_time.png")
    if not args.no_extra and mode in ("quick", "full"):
        result["extra"] = _extra_suites(quick=mode == "quick")
    json_path = args.json if args.json is not None else args.out / "results.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=1, default=str))
    print(f"\nJSON: {json_path}", flush=True)
    return result


if __name__ == "__main__":
    main()
