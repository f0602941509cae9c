"""Every public callable's docstring (functions, schedule kinds, ``MultiSteps``): its
``Example`` runs as a doctest, and it documents ``Args`` (where it takes any),
``Returns`` and an ``Example``. A new public name must arrive documented.

The examples of one public module run in one test (they share the JAX compile cache);
a failing example is reported with the name of the object it belongs to.
"""

from __future__ import annotations

import doctest
import importlib
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx

MODULES = ["gradtx", "gradtx.schedules", "gradtx.native", "gradtx.contrib", "gradtx.tree",
           "gradtx.tree_utils"]

def _public_callables(modname: str):
    try:
        mod = importlib.import_module(modname)
    except ModuleNotFoundError:
        return []
    out = []
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name)
        if inspect.ismodule(obj) or not callable(obj):
            continue
        # states and types document their fields only; schedule kinds (classes whose
        # constructor is the public call) and MultiSteps are documented like functions
        is_schedule = inspect.isclass(obj) and issubclass(obj, gradtx.schedules.Schedule)
        if inspect.isclass(obj) and name != "MultiSteps" and not is_schedule:
            continue
        if obj is gradtx.schedules.Schedule:
            continue
        if getattr(obj, "__module__", "").startswith("gradtx") or modname != "gradtx":
            out.append((f"{modname}.{name}", obj))
    return out


def _takes_args(obj) -> bool:
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return True
    return any(p.name not in ("self", "cls") for p in params.values())


def _missing_sections(obj) -> list[str]:
    doc = inspect.getdoc(obj) or ""
    missing = [s for s in ("Returns:", "Example") if s not in doc]
    if ">>>" not in doc:
        missing.append(">>> example")
    if _takes_args(obj) and "Args:" not in doc:
        missing.append("Args:")
    return missing


@pytest.mark.parametrize("modname", MODULES)
def test_public_docstrings_have_the_sections(modname):
    bad = {}
    for qual, obj in _public_callables(modname):
        missing = _missing_sections(obj)
        if missing:
            bad[qual] = missing
    assert not bad, f"document these (Args/Returns/Raises/Example with >>>): {bad}"


# Slow (about 160 short examples, each compiling its own small programs: ~30 s of CPU):
# left out of the fast core (-m "not slow"); CI runs it. The section checks above stay.
@pytest.mark.slow
@pytest.mark.parametrize("modname", MODULES)
def test_docstring_examples_run(modname):
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    globs = {"gradtx": gradtx, "jax": jax, "jnp": jnp, "np": np}
    failures = []
    for qual, obj in _public_callables(modname):
        for test in finder.find(obj, qual, globs=dict(globs)):
            result = runner.run(test, out=lambda s: None)
            if result.failed:
                failures.append(qual)
    assert not failures, f"doctest examples fail in: {failures} (run python -m doctest)"
