"""Every public callable's docstring: its ``Example`` runs as a doctest, and it documents
``Args`` (where it takes any), ``Returns`` and an ``Example``.

The examples of one public module run in one test (they share the JAX compile cache);
a failing example is reported with the name of the object it belongs to.
``UNDOCUMENTED`` lists the public names whose docstrings do not have those sections yet:
it may only shrink (a test fails for a listed name that is now documented, so the list
stays true), and a new public name must arrive documented.
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

MODULES = ["gradtx", "gradtx.schedules", "gradtx.native", "gradtx.contrib"]

# Public names documented without Args/Returns/Example so far (issue 12: to be emptied).
UNDOCUMENTED = frozenset({
    "gradtx.adabound", "gradtx.adadelta", "gradtx.adagrad", "gradtx.adam", "gradtx.adamw",
    "gradtx.add_decayed_weights", "gradtx.add_noise", "gradtx.amsbound", "gradtx.amsgrad",
    "gradtx.apply_if_finite", "gradtx.apply_updates", "gradtx.batch_size_schedule",
    "gradtx.bound_lr", "gradtx.bytes_per_device", "gradtx.chain", "gradtx.clip_by_global_norm",
    "gradtx.fsdp_shardings", "gradtx.global_norm", "gradtx.gradient_noise_scale",
    "gradtx.identity", "gradtx.inject_hyperparams", "gradtx.linear_scaling_rule",
    "gradtx.lr_range_test", "gradtx.make_step", "gradtx.make_train_step", "gradtx.nadam",
    "gradtx.pack", "gradtx.packed", "gradtx.reduce_on_plateau", "gradtx.rmsprop",
    "gradtx.safe_increment", "gradtx.scale", "gradtx.scale_by_adadelta",
    "gradtx.scale_by_adam", "gradtx.scale_by_amsgrad", "gradtx.scale_by_learning_rate",
    "gradtx.scale_by_rms", "gradtx.scale_by_rss", "gradtx.scale_by_schedule",
    "gradtx.scale_by_stddev", "gradtx.scale_by_yogi", "gradtx.scan_train",
    "gradtx.set_hyperparams", "gradtx.sgd", "gradtx.smith_le_noise_scale",
    "gradtx.sqrt_scaling_rule", "gradtx.stack_schedules", "gradtx.state_shardings",
    "gradtx.trace", "gradtx.unpack", "gradtx.vmap_sweep", "gradtx.yogi", "gradtx.zero_nans",
    "gradtx.MultiSteps",
    "gradtx.schedules.as_schedule", "gradtx.schedules.constant",
    "gradtx.schedules.cosine_annealing", "gradtx.schedules.cosine_decay",
    "gradtx.schedules.cosine_warm_restarts", "gradtx.schedules.cyclic",
    "gradtx.schedules.exp_decay", "gradtx.schedules.exponential_decay",
    "gradtx.schedules.exponential_lr", "gradtx.schedules.factor",
    "gradtx.schedules.from_function", "gradtx.schedules.inverse_time",
    "gradtx.schedules.join", "gradtx.schedules.linear", "gradtx.schedules.multistep_lr",
    "gradtx.schedules.one_cycle", "gradtx.schedules.piecewise_constant",
    "gradtx.schedules.plot", "gradtx.schedules.polynomial", "gradtx.schedules.step_lr",
    "gradtx.schedules.values", "gradtx.schedules.warmup",
    "gradtx.schedules.warmup_cosine_decay",
})


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
        if inspect.isclass(obj) and name != "MultiSteps":  # states and types: fields only
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
        if missing and qual not in UNDOCUMENTED:
            bad[qual] = missing
    assert not bad, f"document these (Args/Returns/Raises/Example with >>>): {bad}"


def test_undocumented_list_is_current():
    documented = {q for m in MODULES for q, o in _public_callables(m) if not _missing_sections(o)}
    stale = sorted(UNDOCUMENTED & documented)
    assert not stale, f"remove from UNDOCUMENTED (now documented): {stale}"


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
