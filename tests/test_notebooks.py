"""Every notebook in notebooks/ runs, top to bottom, in a fresh Jupyter kernel.

The kernel is this test's own Python (``sys.executable``) through a kernelspec written to
a temporary ``JUPYTER_PATH``, so nothing needs to be registered on the machine (a fresh
CI venv has ipykernel but maybe no kernelspec). ``GRADTX_NOTEBOOK_FAST=1`` makes the
notebooks run their experiments at the tiny "smoke" size; a persistent JAX compilation
cache shared with tests/test_demo.py (same session directory) saves recompiling what the
demo's smoke run already compiled.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

# Slow (many compiles): deselect with -m "not slow" for the fast core; CI runs it.
pytestmark = pytest.mark.slow

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "gradtx-test-python"


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory, jax_cache_env):
    """Writes a kernelspec running ``sys.executable -m ipykernel_launcher`` and returns
    the environment that makes Jupyter find it."""
    root = tmp_path_factory.mktemp("jupyter")
    spec_dir = root / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "gradtx test kernel",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    env = {"JUPYTER_PATH": str(root), "GRADTX_NOTEBOOK_FAST": "1", "JAX_PLATFORMS": "cpu"}
    env.update(jax_cache_env)
    return env


def test_every_theme_has_a_notebook():
    names = {p.name for p in NOTEBOOKS}
    for theme in (
        "01_gradient_descent_sgd",
        "02_momentum_adaptive",
        "03_schedules",
        "04_adabound",
        "05_batch_size_lr_range_test",
    ):
        assert f"{theme}.ipynb" in names


def _outputs_text(nb) -> str:
    return "\n".join(
        o.get("text", "") if o.get("output_type") == "stream"
        else "\n".join(str(v) for k, v in o.get("data", {}).items() if k == "text/plain")
        for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )


def test_notebooks_are_built_from_the_script_with_outputs_that_bear_out_their_text():
    """The committed notebooks are the script's, run at full size: every code cell ran
    (in order), the numbered ones show a plot, and every claim their text makes that the
    run can test was printed by ``check`` as holding (none failed)."""
    sys.path.insert(0, str(ROOT / "notebooks"))
    try:
        import _build_notebooks
    finally:
        sys.path.pop(0)
    built = _build_notebooks.build()
    assert sorted(built) == [p.name for p in NOTEBOOKS]
    for name, nb in built.items():
        on_disk = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        assert [c.source for c in on_disk.cells] == [c.source for c in nb.cells], (
            f"{name} is stale: run python notebooks/_build_notebooks.py --execute"
        )
        code = [c for c in on_disk.cells if c.cell_type == "code"]
        counts = [c.execution_count for c in code]
        assert counts == list(range(1, len(code) + 1)), f"{name} was not run top to bottom"
        assert not any(o.get("output_type") == "error" for c in code for o in c.outputs)
        text = _outputs_text(on_disk)
        assert "CLAIM FAILS" not in text, f"{name}: a claim of its text failed"
        if name[:2].isdigit():
            assert text.count("claim holds:") >= 2, f"{name} checks too few of its claims"
            assert any("image/png" in o.get("data", {}) for c in code for o in c.outputs), (
                f"{name} is committed without its plots"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, kernel_env, monkeypatch):
    for key, value in kernel_env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=300,
        # the kernel is killed after the last cell instead of asked to exit (a graceful
        # shutdown waits ~1.3 s per notebook); its outputs are all in by then
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code)
    if path.name[:2].isdigit():  # the numbered demo notebooks all plot inline
        assert any(
            o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
            for c in code
            for o in c.outputs
        ), f"{path.name} showed no plot"
