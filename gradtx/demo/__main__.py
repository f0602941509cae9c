"""``python -m gradtx.demo [--out DIR] [--full] [--only NAME ...] [--data-dir DIR]``.

Runs the classic optimisation experiments with gradtx, printing each table as soon as
its experiment finishes and writing PNG plots to ``--out``. See ``docs/demo.md``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

# Experiment name -> module, in the order they run (and the numbering of the issue).
EXPERIMENTS = {
    "1d": "one_d",
    "2d": "two_d",
    "airfoil": "airfoil",
    "schedules": "cnn_schedules",
    "adabound": "cnn_adabound",
    "lrfinder": "lr_finder",
    "recipes": "cnn_recipes",
}
ALIASES = {str(i): name for i, name in enumerate(EXPERIMENTS, start=1)}
CNN_EXPERIMENTS = ("schedules", "adabound", "lrfinder", "recipes")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gradtx.demo",
        description="Reproduce the classic optimisation experiments (gradient descent to "
        "Adam, learning-rate schedules, AdaBound, the LR range test) with gradtx: tables "
        "on stdout, PNG plots in --out. It prints its wall-clock and CPU time at the end.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("gradtx-demo"),
        help="directory for the PNG plots (default: ./gradtx-demo/)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="full-length runs (30 CNN epochs, wider lr grids): much slower",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="run only these experiments: " + ", ".join(f"{i}/{n}" for i, n in ALIASES.items()),
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="a directory with Fashion-MNIST's IDX files (train-images-idx3-"
        "ubyte[.gz] etc.): the CNN experiments then use Fashion-MNIST "
        "instead of the bundled digits",
    )
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # tests
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    args = parser.parse_args(argv)
    if args.full and args.smoke:
        parser.error("--full and --smoke exclude each other")
    names = []
    for name in args.only or EXPERIMENTS:
        name = ALIASES.get(name, name)
        if name not in EXPERIMENTS:
            parser.error(
                f"unknown experiment {name!r}; choose from "
                f"{', '.join(EXPERIMENTS)} (or 1-{len(EXPERIMENTS)})"
            )
        if name not in names:
            names.append(name)
    args.names = [n for n in EXPERIMENTS if n in names]
    if args.data_dir is not None and not args.data_dir.is_dir():
        parser.error(f"--data-dir {str(args.data_dir)!r} is not a directory")
    return args


def _cpu_seconds() -> float:
    """User + system CPU time of this process (every thread) so far."""
    t = os.times()
    return t.user + t.system


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")

    from gradtx.demo._common import Config

    mode = "full" if args.full else "smoke" if args.smoke else "default"
    cfg = Config(mode=mode, out=args.out, data_dir=args.data_dir, progress=not args.no_progress)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"gradtx demo ({mode} mode): {', '.join(args.names)}; plots -> {args.out}/", flush=True)
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    data = None
    for name in args.names:
        module = importlib.import_module(f"gradtx.demo.{EXPERIMENTS[name]}")
        t0 = time.perf_counter()
        if name in CNN_EXPERIMENTS:
            if data is None:
                from gradtx.demo import _cnn

                data = _cnn.load_data(cfg)
            module.run(cfg, data)
        else:
            module.run(cfg)
        print(f"({name}: {time.perf_counter() - t0:.1f} s)", flush=True)
    wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
    print(f"\nDone: {wall:.1f} s wall-clock, {cpu:.1f} s of CPU time (user + system, all "
          f"threads) on {os.cpu_count()} cores. Wrote {len(cfg.written)} plots:")
    for path in cfg.written:
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
