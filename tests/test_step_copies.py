"""``gradtx.make_step`` compiles to no more full-array copies than a user's jitted step.

Over every row of ``tests/constructors.py``, on a flat float32 vector and on a 2-leaf
tree, the compiled ``make_step(tx)`` (params and state donated) is held against the step a
user writes, ``jax.jit`` of ``tx.update`` + ``apply_updates`` with the same donation: it
may have no more ``copy`` ops of a full leaf, and no more temporary bytes (up to
``SLACK`` bytes for the native kernel's table of per-leaf scalars, far below one leaf).

Cheap by construction: both steps are first *traced* on the tree (not lowered, not
compiled; the state is ``jax.eval_shape(tx.init, params)``, no eager init). Where the two
jaxprs are equal (same equations, same constants, same donated arguments: the pure-JAX
path, which calls the same ``update`` + ``apply_updates``), they lower to the same
StableHLO module and XLA compiles them to the same executable, and that path does not
depend on the leaf count, so the row is done. Otherwise both are lowered, and where the
two StableHLO modules are equal (debug info dropped) the row is done too. Only the rows
whose modules differ (the native kernel's rows on CPU) are compiled and counted, on the
tree and again on the flat vector. No timing. (Lowering every row's two steps to
StableHLO, as this test first did, cost 10 s of CPU more for the same verdicts: the
jaxprs and the modules were equal for the same 132 rows.)

Measured when this test was written (jax 0.10.2, CPU): for every pure-JAX row the two
modules are equal, so make_step's executable *is* the plain step's (the extra copies once
blamed on make_step, e.g. Rprop's 1 and optimistic gradient descent's 2 full-leaf copies,
are in the plain step and in optax's step alike: XLA:CPU computes each output of an
element-wise update in its own loop fusion, and copies a donated state leaf that one
fusion overwrites while another still reads it). The native rows have fewer copies.
"""

from __future__ import annotations

import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests.constructors import TRANSFORMS, Row

# Many lowerings and a few dozen compiles: deselect with -m "not slow"; CI runs it.
pytestmark = pytest.mark.slow

N = 4096  # the flat vector; the tree's leaves are 64x64 and 2048 floats
SLACK = 1024  # bytes: the native kernel's scalar table (15 float32 per leaf)

_COPY = re.compile(r"= (\w+)\[([\d,]*)\]\S* copy\(")


def _params(kind: str) -> Any:
    if kind == "flat":
        return jnp.linspace(-1.0, 1.0, N, dtype=jnp.float32)
    return {
        "w": jnp.linspace(-1.0, 1.0, 4096, dtype=jnp.float32).reshape(64, 64),
        "b": jnp.linspace(-0.5, 0.5, 2048, dtype=jnp.float32),
    }


def full_copies(hlo: str, min_size: int) -> int:
    """The ``copy`` ops of the compiled module ``hlo`` whose result holds at least
    ``min_size`` elements (a leaf, not a scalar or a key)."""
    count = 0
    for _, dims in _COPY.findall(hlo):
        size = 1
        for d in filter(None, dims.split(",")):
            size *= int(d)
        count += size >= min_size
    return count


def _plain_step(tx: Any):
    def step(params, grads, state, **extra_args):  # same names as make_step's step
        updates, state = tx.update(grads, state, params, **extra_args)
        return gradtx.apply_updates(params, updates), state

    return jax.jit(step, donate_argnums=(0, 2))


def _measure(lowered: Any, min_size: int) -> tuple[int, int]:
    compiled = lowered.compile()
    return full_copies(compiled.as_text(), min_size), compiled.memory_analysis().temp_size_in_bytes


_COMPILED: dict[str, list[str]] = {"flat": [], "tree": []}  # rows whose modules differed
_SEEN: dict[str, list[str]] = {"flat": [], "tree": []}  # rows the table test ran
_SAME_ON_TREE: dict[str, bool] = {}  # row id -> the two modules were equal on the tree


def _same_jaxpr(ours: Any, theirs: Any) -> bool:
    """Two traced steps with equal equations, constants and donated arguments: the same
    StableHLO module once lowered."""
    a, b = ours.jaxpr, theirs.jaxpr
    donated = [[i.donated for i in jax.tree.leaves(t.args_info)] for t in (ours, theirs)]
    return (donated[0] == donated[1] and str(a.jaxpr) == str(b.jaxpr)
            and len(a.consts) == len(b.consts)
            and all(np.array_equal(np.asarray(x), np.asarray(y))
                    for x, y in zip(a.consts, b.consts, strict=True)))


def _lowered(row: Row, tx: Any, kind: str) -> tuple[Any, Any, bool]:
    """(make_step's lowering, the plain step's, whether the steps are the same program);
    the lowerings are None where the jaxprs already say so."""
    params = jax.eval_shape(lambda: _params(kind))  # shapes and dtypes: all a trace needs
    args = (params, params, jax.eval_shape(tx.init, params))
    ours = gradtx.make_step(tx).trace(*args, **row.extra_args)
    theirs = _plain_step(tx).trace(*args, **row.extra_args)
    if _same_jaxpr(ours, theirs):
        return None, None, True
    ours, theirs = ours.lower(), theirs.lower()
    return ours, theirs, ours.as_text(debug_info=False) == theirs.as_text(debug_info=False)


@pytest.mark.parametrize("kind", ["tree", "flat"])
@pytest.mark.parametrize("row", TRANSFORMS, ids=[r.id for r in TRANSFORMS])
def test_make_step_has_no_more_copies_than_a_plain_jit_step(row: Row, kind: str):
    tx = row.make(gradtx)
    _SEEN[kind].append(row.id)
    if kind == "flat":
        if row.id not in _SAME_ON_TREE:
            _SAME_ON_TREE[row.id] = _lowered(row, tx, "tree")[2]
        if _SAME_ON_TREE[row.id]:
            # the pure-JAX path (equal modules on the tree) does not depend on the leaf
            # count; only the native rows are lowered and compiled again on one leaf
            return
    ours, theirs, same = _lowered(row, tx, kind)
    if kind == "tree":
        _SAME_ON_TREE[row.id] = same
    if same:
        return  # one module, one executable
    _COMPILED[kind].append(row.id)
    min_size = min(x.size for x in jax.tree.leaves(jax.eval_shape(lambda: _params(kind))))
    (our_copies, our_temp), (their_copies, their_temp) = (
        _measure(ours, min_size), _measure(theirs, min_size))
    assert our_copies <= their_copies, (
        f"{row.id} ({kind}): make_step has {our_copies} full-leaf copies, "
        f"a plain jitted step {their_copies}")
    assert our_temp <= their_temp + SLACK, (
        f"{row.id} ({kind}): make_step needs {our_temp} temporary bytes, "
        f"a plain jitted step {their_temp}")


@pytest.mark.parametrize("kind", ["flat", "tree"])
def test_the_table_compiled_the_native_rows_and_only_them(kind: str):
    """Not vacuous: the native rows (Adam) differ from the plain step and were compiled
    and counted; a pure-JAX row (Rprop) shared the plain step's module. Runs after the
    table (pytest keeps file order); alone it checks nothing, so it skips."""
    if not {"adam", "rprop"} <= set(_SEEN[kind]):
        pytest.skip("the table test did not run in this session")
    from gradtx.native import _build

    if _build.available():
        assert "adam" in _COMPILED[kind]
    assert "rprop" not in _COMPILED[kind]


def test_the_copy_counter_sees_a_copy():
    """The counter finds the full-leaf copy a step must make: optimistic gradient descent
    keeps the (not donated) gradient in its state, so the compiled step copies it."""
    tx = gradtx.optimistic_gradient_descent(0.01)
    params = _params("flat")
    lowered = _plain_step(tx).lower(params, params, tx.init(params))
    assert _measure(lowered, N)[0] >= 1
    assert full_copies("%c = f32[8]{0} copy(%x)\n%d = pred[] copy(%y)", 8) == 1
