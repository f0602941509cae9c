"""``python -m gradtx.demo`` end to end at its tiny smoke size, plus its argument parsing,
the table formatter and the Fashion-MNIST path of the CNN experiments."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flax")
pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

from gradtx.demo import Config, format_table  # noqa: E402
from gradtx.demo.__main__ import EXPERIMENTS, parse_args  # noqa: E402

# Slow (many compiles): deselect with -m "not slow" for the fast core; CI runs it.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

PNGS = {
    "1d_gradient_descent",
    "2d_gd_sgd",
    "2d_momentum",
    "2d_adaptive",
    "airfoil_loss_vs_epoch",
    "airfoil_loss_vs_time",
    "cnn_schedules",
    "adabound_curves",
    "adabound_lr_sensitivity",
    "lr_range_test",
    "batch_size",
    "cnn_recipes",
}


def test_smoke_run_prints_every_table_and_writes_every_png(tmp_path, jax_cache_env):
    out = tmp_path / "plots"
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "MPLBACKEND": "Agg",
        # this checkout's gradtx, not whichever one is installed (the run's cwd is tmp_path)
        "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
        **jax_cache_env,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "gradtx.demo", "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    for name in EXPERIMENTS:
        assert f"[{name}]" in text, f"no table for {name}:\n{text}"
    # Rows of each table, with the numbers the experiments are about.
    for row in (
        "x^2, lr 1.1",
        "RMSProp lr 0.4 decay 0.9",
        "AMSBound lr 0.01 final 0.1",
        "LAMB lr 0.02",  # issue 14's optimisers next to the classic family
        "warmup 0.5 ep + cosine",  # labels follow the run's epochs (3 in smoke mode)
        "AdaBound",
        "MultiSteps k=4",
        "linear_scaling_rule(lr, 128, 32)",
    ):
        assert row in text, f"missing row {row!r}:\n{text}"
    # the adabound sweep's rows for issue 14's optimisers: name, then base lr
    for name, lr in (("Lion", "0.0003"), ("Adafactor", "0.01"), ("RAdam", "0.001"),
                     ("LAMB", "0.01")):
        assert any(ln.split()[:2] == [name, lr] for ln in text.splitlines()), name
    # the recipes experiment (issue 15): each optimiser of current recipes has a row
    for name in ("AdamW 1e-3", "Muon 0.02", "schedule-free AdamW 2.5e-3", "Prodigy 1.0",
                 "SOAP 3e-3"):
        assert any(ln.startswith(name + " ") for ln in text.splitlines()), name
    assert {p.stem for p in out.glob("*.png")} == PNGS
    assert all(p.stat().st_size > 5000 for p in out.glob("*.png"))
    assert "%|" in proc.stderr  # the tqdm bars
    assert "s wall-clock" in text and "s of CPU time" in text  # the demo times itself
    # The 1-D table is exact arithmetic: x_10 = (1 - 2 lr)^10 * 10.
    line = next(ln for ln in text.splitlines() if ln.startswith("x^2, lr 0.2 "))
    assert float(line.split()[4]) == pytest.approx(10 * 0.6**10, rel=1e-3)
    # Gradient accumulation reproduces the big batch's parameters.
    acc = next(ln for ln in text.splitlines() if "MultiSteps k=4" in ln)
    assert float(acc.split("max |dparam| ")[1].split()[0]) < 1e-5


def test_parse_args():
    a = parse_args([])
    assert a.names == list(EXPERIMENTS) and a.out == Path("gradtx-demo") and not a.full
    a = parse_args(["--only", "lrfinder", "1", "2d", "--full", "--out", "x"])
    assert a.names == ["1d", "2d", "lrfinder"] and a.full and a.out == Path("x")
    for bad in (
        ["--only", "nope"],
        ["--only", "8"],  # seven experiments
        ["--full", "--smoke"],
        ["--data-dir", "/no/such/dir"],
    ):
        with pytest.raises(SystemExit):
            parse_args(bad)


def test_config_and_table():
    with pytest.raises(ValueError, match="mode must be one of"):
        Config(mode="huge")
    assert Config(mode="full").pick(1, 2, 3) == 3
    table = format_table("T", ("a", "bb"), [("x", 1.23456), ("yy", float("nan")), ("z", 1e-5)])
    lines = table.splitlines()
    assert all(ln == ln.rstrip() for ln in lines)
    assert lines[0] == "T" and "1.235" in table and "nan" in table and "1.00e-05" in table
    assert len({len(ln.rstrip()) for ln in lines[1:2] + lines[3:4] + lines[-1:]}) == 1


def _write_idx(path: Path, arr: np.ndarray, code: int, compress: bool) -> None:
    header = bytes([0, 0, code, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    raw = header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


def test_cnn_runs_on_fashion_mnist_idx_files(tmp_path):
    from gradtx import sgd
    from gradtx.demo import _cnn

    rng = np.random.default_rng(0)
    for prefix, n, gz in (("train", 64, True), ("t10k", 40, False)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        ext = ".gz" if gz else ""
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte{ext}", images, 0x08, gz)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte{ext}", labels, 0x08, gz)
    cfg = Config(mode="smoke", data_dir=tmp_path, progress=False)
    data = _cnn.load_data(cfg)
    assert data.name == "Fashion-MNIST" and data.x_train.shape == (64, 28, 28)
    h = _cnn.train(cfg, sgd, np.array([0.01, 0.0], np.float32), data, batch_size=32, epochs=1)
    assert h.test_acc.shape == (2, 1) and np.all(np.isfinite(h.train_loss))
    # lr 0 leaves the (shared) initial params untouched; lr 0.01 moves them.
    p0 = _cnn.init_params(data)
    import jax

    moved = [
        np.abs(np.asarray(a)[0] - b).max()
        for a, b in zip(jax.tree.leaves(h.params), jax.tree.leaves(p0), strict=True)
    ]
    still = [
        np.abs(np.asarray(a)[1] - b).max()
        for a, b in zip(jax.tree.leaves(h.params), jax.tree.leaves(p0), strict=True)
    ]
    assert max(moved) > 0 and max(still) == 0
