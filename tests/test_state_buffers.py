"""No optimiser state shares a buffer with its caller (issue 11, class 8).

A donated step (``gradtx.make_step``) deletes the buffers of the state it is given; a
state leaf that *is* one of the caller's arrays (the params, a hyperparameter passed as
an array, a schedule leaf, a PRNG key) would delete the caller's array with it. Every
``init`` must copy what it was handed.

The table test builds every row of ``tests/constructors.py`` with each float argument
replaced by a fresh ``jax.Array`` (recorded), calls ``init`` on params that are jax
arrays, and compares buffer pointers; it runs eagerly (no compilation) over the table.
"""

from __future__ import annotations

import functools
import types
from typing import Any

import jax
import jax.numpy as jnp
import pytest

import gradtx
from tests.constructors import SCHEDULES, TRANSFORMS, Row

# Slow (many compiles): deselect with -m "not slow" for the fast core; CI runs it.
pytestmark = pytest.mark.slow


class ArrayArgs:
    """A view of a module whose callables receive every Python ``float`` argument as a
    fresh float32 ``jax.Array``; the arrays are recorded in ``given``."""

    def __init__(self, module: Any, given: list[jax.Array]):
        self._module, self._given = module, given

    def _convert(self, value: Any) -> Any:
        if type(value) is float:
            arr = jnp.asarray(value, jnp.float32)
            self._given.append(arr)
            return arr
        # floats inside plain containers too (sgdr_schedule's list of dicts)
        if type(value) in (list, tuple):
            return type(value)(self._convert(v) for v in value)
        if type(value) is dict:
            return {k: self._convert(v) for k, v in value.items()}
        return value

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._module, name)
        if isinstance(attr, types.ModuleType):
            return ArrayArgs(attr, self._given)
        if not callable(attr):
            return attr
        if isinstance(attr, type):  # a schedule class: its calls convert, its
            return _ClassView(attr, self._convert)  # classmethods stay reachable

        @functools.wraps(attr)  # keeps the signature (inject_hyperparams reads it)
        def call(*args: Any, **kwargs: Any) -> Any:
            args = tuple(self._convert(a) for a in args)
            kwargs = {k: self._convert(v) for k, v in kwargs.items()}
            return attr(*args, **kwargs)

        return call


class _ClassView:
    """A class whose calls receive converted arguments; other attributes (classmethods
    such as ``LookaheadParams.init_synced``) are the class's own."""

    def __init__(self, cls: type, convert: Any):
        self._cls, self._convert = cls, convert

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        args = tuple(self._convert(a) for a in args)
        return self._cls(*args, **{k: self._convert(v) for k, v in kwargs.items()})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cls, name)


def _params() -> dict[str, jax.Array]:
    return {"w": jnp.asarray([[0.5, -1.0], [2.0, 0.25]]), "b": jnp.asarray([0.1, -0.2])}


def _pointers(tree: Any) -> dict[int, str]:
    out = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        if isinstance(leaf, jax.Array):
            out[leaf.unsafe_buffer_pointer()] = jax.tree_util.keystr(path)
    return out


def _shared(state: Any, *caller: Any) -> list[str]:
    theirs = {}
    for tree in caller:
        theirs.update(_pointers(tree))
    return [
        f"state{where} shares the buffer of {theirs[ptr]}"
        for ptr, where in _pointers(state).items()
        if ptr in theirs
    ]


@pytest.mark.parametrize("row", TRANSFORMS, ids=[r.id for r in TRANSFORMS])
def test_init_copies_every_array_it_was_handed(row: Row):
    given: list[jax.Array] = []
    tx = row.make(ArrayArgs(gradtx, given))
    params = _params()
    state = tx.init(params)
    problems = _shared(state, params, given)
    assert not problems, problems
    # Nor do two state leaves share one buffer (a donation would donate it twice).
    leaves = [x for x in jax.tree.leaves(state) if isinstance(x, jax.Array)]
    assert len({x.unsafe_buffer_pointer() for x in leaves}) == len(leaves)
    # A set_hyperparams with an array (or a schedule of arrays, for a scheduled
    # learning rate) puts a copy in the state too.
    for inner in _states(state):
        lr = jax.tree.map(lambda x: jnp.array(x, copy=True), _stored_lr(inner))
        new = gradtx.set_hyperparams(state, learning_rate=lr)
        assert not _shared(new, lr)


def _stored_lr(inner: Any) -> Any:
    """The learning rate as set_hyperparams replaces it: the schedule (its float leaves
    are arrays) where it is scheduled, else the value (optax 0.2.8's layout:
    ``hyperparams_states["learning_rate_schedule"]`` holds the schedule)."""
    states, values = inner.hyperparams_states, inner.hyperparams
    return states.get("learning_rate_schedule", values["learning_rate"])


def _states(state: Any) -> list[Any]:
    is_state = lambda x: isinstance(x, gradtx.InjectHyperparamsState)  # noqa: E731
    return [x for x in jax.tree.leaves(state, is_leaf=is_state) if is_state(x)]


def test_the_table_wraps_arrays_into_the_rows():
    """The table test is not vacuous: the injected rows were handed arrays they store."""
    given: list[jax.Array] = []
    row = next(r for r in TRANSFORMS if r.id == "inject_hyperparams_schedule")
    state = row.make(ArrayArgs(gradtx, given)).init(_params())
    assert given, "no float argument became an array"
    stored = _stored_lr(state)  # warmup(cosine_decay(0.01, 50), 5): its leaves are arrays
    values = {float(x) for x in jax.tree.leaves(stored)}
    assert {float(g) for g in given} & values  # cosine_decay's init_value 0.01
    assert not _shared(state, given)  # stored as copies


def test_issue_example_donated_step_keeps_the_callers_lr():
    """The issue's example: the first donated step deleted the caller's lr, and a second
    ``opt.init(params)`` then failed."""
    lr = jnp.asarray(1e-2)
    opt = gradtx.inject_hyperparams(gradtx.adam)(learning_rate=lr)
    step = gradtx.make_step(opt)
    params = _params()
    grads = jax.tree.map(jnp.ones_like, params)
    new_params, state = step(params, grads, opt.init(params))
    assert not lr.is_deleted()
    state2 = opt.init(_params())  # failed before: "Array has been deleted"
    assert float(state2.hyperparams["learning_rate"]) == pytest.approx(1e-2)
    new_params, state = step(new_params, grads, state)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(new_params))


def test_donated_steps_keep_keys_schedules_and_skip_state():
    """add_noise's key, an injected schedule's array leaf, MultiSteps's skip state that
    holds the params: each survives a donated step."""
    key = jax.random.key(3)
    lr = jnp.asarray(0.1, jnp.float32)
    sched = gradtx.schedules.cosine_decay(lr, 10)
    kept = jnp.asarray([1.0, 2.0])

    def skip(updates, step, params):
        del updates, step
        return jnp.asarray(False), {"kept": kept, "params": params}

    txs = [
        gradtx.add_noise(0.01, 0.55, key),
        gradtx.inject_hyperparams(gradtx.sgd)(learning_rate=sched, momentum=0.9),
        gradtx.MultiSteps(gradtx.sgd(0.1), 2, should_skip_update_fn=skip),
    ]
    step = gradtx.make_step(gradtx.chain(*txs))
    params = _params()
    state = gradtx.chain(*txs).init(params)
    assert not _shared(state, params, [key, lr, kept])
    grads = jax.tree.map(jnp.ones_like, params)
    step(params, grads, state)
    assert params["w"].is_deleted()  # params are donated, by design
    assert not any(x.is_deleted() for x in (key, lr, kept))


@pytest.mark.parametrize("make", [m for _, m in SCHEDULES], ids=[n for n, _ in SCHEDULES])
def test_a_schedule_built_from_arrays_is_stored_as_copies(make):
    """Over SCHEDULES: a schedule whose float arguments are the caller's arrays, injected
    as a learning rate, is stored with its own buffers."""
    given: list[jax.Array] = []
    sched = make(ArrayArgs(gradtx.schedules, given))
    state = gradtx.inject_hyperparams(gradtx.sgd)(learning_rate=sched).init(_params())
    assert not _shared(state, given, _params())
    if gradtx.schedules._inject.is_pytree_schedule(sched) and jax.tree.leaves(sched):
        assert given  # the row was handed arrays
