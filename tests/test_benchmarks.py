"""The benchmark suite runs end to end (smoke sizes) and writes its table, JSON and plot.

No timing is asserted: this only checks that the suite works in the test environment.
"""

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("optax")
pytest.importorskip("matplotlib")

ROOT = str(Path(__file__).resolve().parents[1])  # benchmarks/ is not an installed package
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import run  # noqa: E402

# Slow (many compiles): deselect with -m "not slow" for the fast core; CI runs it.
pytestmark = pytest.mark.slow


def test_smoke_run_writes_table_json_and_plot(tmp_path, capsys):
    out = tmp_path / "out"
    result = run.main(["--smoke", "--json", str(tmp_path / "r.json"), "--out", str(out),
                       "--no-torch"])
    table = capsys.readouterr().out
    assert "| shape | optimizer | gradtx (best impl) | optax |" in table
    assert "state bytes/param gradtx / optax |" in table
    assert "| flat 1e4 | adam |" in table and "| 20x100 | adam |" in table
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["meta"]["mode"] == "smoke"
    impls = {(r["shape"], r["impl"]) for r in data["rows"]}
    assert {("flat 1e4", "gradtx"), ("flat 1e4", "optax"), ("flat 1e4", "copy"),
            ("20x100", "gradtx-pack"), ("20x100", "gradtx-packed")} <= impls
    for s in data["summary"]:
        assert s["gradtx_ms"] > 0 and s["ratio_optax"] > 0 and s["compile_optax_s"] > 0
    assert result["summary"] == data["summary"]
    png = (out / "step_time.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def test_unknown_optimizer_is_rejected():
    with pytest.raises(SystemExit):
        run.main(["--smoke", "--optimizers", "adam,nonesuch"])


def test_torch_is_optional(monkeypatch):
    from benchmarks import _impls

    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    assert _impls.torch_module() is None


def test_every_row_builds_and_state_bytes_match_optax():
    """Every OPTIMIZERS row builds in gradtx and (asgd aside) in optax, and the state bytes
    per parameter agree: Adam 8, Adafactor and SM3 far less on the ResNet-50-like tree."""
    import jax
    import jax.numpy as jnp

    from benchmarks import _impls

    params = {"w": jnp.ones((3, 4)), "b": jnp.ones(4)}
    for name in _impls.OPTIMIZERS:
        tx = _impls.gradtx_opt(name)
        assert (_impls.optax_opt(name) is None) == (name in ("adabound", "asgd")), name
        # a donated state must not hold one buffer twice nor a params buffer (adan's and
        # adafactor's inits once shared their zeros, asgd's held the params)
        ptrs = [x.unsafe_buffer_pointer() for x in jax.tree.leaves((params, tx.init(params)))
                if x.ndim]
        assert len(set(ptrs)) == len(ptrs), name
    cfg = dict(run.MODES["smoke"], resnet_scale=1)  # full-size tree: shapes only, cheap
    table = run.state_bytes_table(cfg, ("adam", "adafactor", "sm3", "asgd"))
    for opt, per_shape in table.items():
        for shape, (g, o) in per_shape.items():
            assert o is None if opt == "asgd" else g == pytest.approx(o), (opt, shape)
    assert table["adam"]["resnet50"][0] == pytest.approx(8, abs=1e-3)
    assert table["adafactor"]["resnet50"][0] < 2 and table["sm3"]["resnet50"][0] < 6


def test_quick_runs_the_new_optimisers_on_flat_1e6_only():
    cases = run._cases(run.MODES["quick"], ("adam", "lion"), None)
    by_label = {label: opts for label, _, _, opts, _ in cases}
    assert by_label["flat 1e6"] == ("adam", "lion") and by_label["flat 1e7"] == ("adam",)
    assert by_label["resnet50"] == ("adam",) and by_label["2000x1000"] == ("adam",)
    full = {label: opts for label, _, _, opts, _ in run._cases(run.MODES["full"], ("lion",), None)}
    assert all(opts == ("lion",) for opts in full.values()) and len(full) == 5


# --- benchmarks.contrib (issue 15): every gradtx.contrib optimiser vs optax.contrib ---
def test_contrib_rows_cover_every_optax_contrib_optimiser():
    import inspect

    import optax.contrib

    from benchmarks import contrib

    # the public optax.contrib functions that return a transformation, less the ones that
    # are parts of another row (scale_by_*, Sophia's Hessian estimator) or return params
    names = {n for n, f in vars(optax.contrib).items()
             if inspect.isfunction(f) and not n.startswith(("_", "scale_by_"))}
    names -= {"hutchinson_estimator_diag_hessian", "schedule_free_eval_params"}
    assert set(contrib.ROWS) == names | {"soap"}


def test_contrib_rows_build_with_optax_state_bytes():
    """Every row builds in both libraries with the same state bytes per parameter (shapes
    only: ``jax.eval_shape``, nothing compiled)."""
    import jax
    import numpy as np

    import gradtx
    from benchmarks import contrib
    from benchmarks._shapes import transformer_shapes

    shapes = transformer_shapes(1, 8)
    n = sum(np.prod(s) for s in shapes.values())
    for name, row in contrib.ROWS.items():
        params = {k: jax.ShapeDtypeStruct(s, row.dtype) for k, s in shapes.items()}
        got = [contrib._state_bytes_per_param(jax.eval_shape(tx.init, params), n)
               for tx in (row.build(gradtx), contrib._reference_tx(name))]
        assert got[0] == pytest.approx(got[1], rel=0.05 if name == "soap" else 1e-9), name


def test_contrib_smoke_run_writes_table_and_json(tmp_path, capsys):
    """The rows that need extra inputs (a loss value, obj_fn, per-example gradients,
    complex params, the plain SOAP reference) run end to end at tiny size."""
    from benchmarks import contrib

    opts = "momo,sophia,dpsgd,split_real_and_imaginary,soap"
    result = contrib.main(["--smoke", "--optimizers", opts, "--shapes", "flat",
                           "--json", str(tmp_path / "c.json")])
    result2 = contrib.main(["--smoke", "--optimizers", "normalize", "--shapes", "transformer"])
    table = capsys.readouterr().out
    assert "| gradtx/ref median | gradtx/ref mean |" in table
    assert "| soap (plain) | flat 1e3 |" in table and "| normalize | transformer 1x8 |" in table
    data = json.loads((tmp_path / "c.json").read_text())
    assert [r["optimizer"] for r in data["rows"]] == opts.split(",")
    for r in data["rows"] + result2["rows"]:
        ref = r["reference"]
        assert r["ratio_median"] > 0 and r[ref]["compile_s"] > 0 and r["gradtx"]["n"] >= 2
        bpp = r["gradtx"]["state_bytes_per_param"]
        assert bpp == pytest.approx(r[ref]["state_bytes_per_param"], rel=0.05)
    assert data["rows"][3]["dtype"] == "complex64" and result["meta"]["mode"] == "smoke"
    with pytest.raises(SystemExit):
        contrib.main(["--smoke", "--optimizers", "nonesuch"])
