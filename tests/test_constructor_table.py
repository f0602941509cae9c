"""The property tables in ``tests/constructors.py`` cover every public constructor: a
public transform, optimiser, wrapper or schedule without a row fails here, so each new
one is added to the tables (and so to every property test) as it is written."""

from __future__ import annotations

import inspect

import constructors as C
import pytest

import gradtx


def _public_callables(module, exclude):
    return {
        name
        for name in module.__all__
        if callable(getattr(module, name))
        and not inspect.ismodule(getattr(module, name))
        and (not inspect.isclass(getattr(module, name)) or name == "MultiSteps")
        and name not in exclude
    }


def test_every_public_transformation_has_a_row():
    covered = {n for row in C.TRANSFORMS for n in row.names}
    covered |= {name for name, _ in C.SCHEDULES}  # optax's schedule names at the top level
    missing = _public_callables(gradtx, C.NOT_CONSTRUCTORS) - covered - set(C.OWN_TESTS)
    assert not missing, f"add rows to tests/constructors.py for: {sorted(missing)}"


def test_every_public_contrib_transformation_has_a_row():
    covered = {n for row in C.TRANSFORMS for n in row.names}
    missing = _public_callables(gradtx.contrib, C.NOT_CONSTRUCTORS) - covered
    assert not missing, f"add rows to tests/constructors.py for gradtx.contrib: {sorted(missing)}"


def test_every_public_schedule_has_a_row():
    covered = {name for name, _ in C.SCHEDULES}
    missing = _public_callables(gradtx.schedules, C.NOT_SCHEDULES) - covered
    assert not missing, f"add rows to tests/constructors.py SCHEDULES for: {sorted(missing)}"


@pytest.mark.parametrize("row", C.TRANSFORMS, ids=lambda r: r.id)
def test_rows_build_transformations(row):
    tx = C.build(row)
    assert callable(tx.init) and callable(tx.update)


@pytest.mark.parametrize("name,make", C.SCHEDULES, ids=[n for n, _ in C.SCHEDULES])
def test_schedule_rows_build_schedules(name, make):
    sched = make(gradtx.schedules)
    assert float(sched(3)) == pytest.approx(float(sched(3)))
