"""Hyperparameters are never stored in a dtype that changes them (issue 11, class 2).

``inject_hyperparams(gradtx.adam)(learning_rate=1e-2)`` on bfloat16 params stored
``b2 = 0.999`` as 1.0 (an eager init raised about a b2 the user never passed, a jitted
run gave NaN after 3 steps); on float16 params ``eps = 1e-8`` became 0 (NaN on the first
step for a zero gradient). The policy (docs/dtypes.md, "Hyperparameters"): float
hyperparameters are stored in at least float32; an explicit low-precision
``hyperparam_dtype`` is honoured but a rounding to 0, inf or exactly 1 raises;
``set_hyperparams`` raises rather than truncate or round a value.

The table test wraps every optimiser row of ``tests/constructors.py`` in
``inject_hyperparams`` (rows whose outer call is a wrappable factory).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests.constructors import SCHEDULES, TRANSFORMS, Row

# Slow (many compiles): deselect with -m "not slow" for the fast core; CI runs it.
pytestmark = pytest.mark.slow

# Factories whose numeric hyperparameters inject_hyperparams can move into the state.
WRAPPABLE = {
    "sgd",
    "adagrad",
    "rmsprop",
    "adadelta",
    "adam",
    "adamw",
    "amsgrad",
    "nadam",
    "yogi",
    "adabound",
    "amsbound",
    "scale_by_rss",
    "scale_by_rms",
    "scale_by_stddev",
    "scale_by_adadelta",
    "scale_by_adam",
    "scale_by_amsgrad",
    "scale_by_yogi",
    "bound_lr",
    "trace",
    "scale",
    "scale_by_learning_rate",
    "add_decayed_weights",
    "add_noise",
    "clip_by_global_norm",
}


class Injecting:
    """A view of ``gradtx`` whose wrappable factories are ``inject_hyperparams(f)``; the
    arguments of each call (defaults applied) are recorded in ``calls``."""

    def __init__(self, calls: list[tuple[str, dict[str, Any]]]):
        self.calls = calls

    def __getattr__(self, name: str) -> Any:
        attr = getattr(gradtx, name)
        if name not in WRAPPABLE:
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            bound = inspect.signature(attr).bind(*args, **kwargs)
            bound.apply_defaults()
            self.calls.append((name, dict(bound.arguments)))
            return gradtx.inject_hyperparams(attr)(*args, **kwargs)

        return call


def _rows() -> list[Row]:
    out = []
    for row in TRANSFORMS:
        if any(name.startswith("inject") for name in row.names):
            continue  # already injected (test_issue_examples covers inject(adam))
        calls: list = []
        tx = row.make(Injecting(calls))
        # shapes only (no compile at collection): the state's structure is what counts
        state = jax.eval_shape(tx.init, {"w": jnp.zeros(2)})
        if calls and _injected(state):
            out.append(row)
    return out


def _injected(state: Any) -> list[gradtx.InjectHyperparamsState]:
    is_state = lambda x: isinstance(x, gradtx.InjectHyperparamsState)  # noqa: E731
    return [x for x in jax.tree.leaves(state, is_leaf=is_state) if is_state(x)]


ROWS = _rows()


def test_the_table_covers_the_optimisers():
    ids = {r.id for r in ROWS}
    for name in ("adam", "adamw", "sgd_momentum", "adabound", "amsbound", "rmsprop", "yogi"):
        assert name in ids
    assert len(ROWS) >= 25, sorted(ids)
    assert not {r.id for r in TRANSFORMS if r.id.startswith("inject")} & ids


def _passed_values(calls, state) -> list[tuple[str, Any, Any]]:
    """(name, passed, stored) for every injected hyperparameter, calls and states in
    the same order (one inject per recorded call). For a pytree schedule ``stored`` is
    the schedule kept in ``hyperparams_states[name + "_schedule"]`` (optax's tree, see
    ``gradtx.schedules._inject_state``); its value of the step is checked separately."""
    states = _injected(state)
    assert len(states) == len(calls)
    out = []
    for args, s in _paired(calls, states):
        for name, stored in s.hyperparams.items():
            passed = args[name]
            if gradtx.schedules._inject.is_pytree_schedule(passed):
                value = stored
                stored = s.hyperparams_states[name + "_schedule"]
                out.append((name + "(value)", None, value))
            out.append((name, passed, stored))
    return out


def _paired(calls, states) -> list[tuple[dict[str, Any], Any]]:
    """Each injected state with the call that built it. A combinator's states come in
    tree order (``partition``'s dict sorted by key), not in the order of the calls, so a
    state goes with the unused call that takes all its hyperparameters, gave the numbers
    it holds (float32-rounded) and has the fewest other arguments."""

    def same(given, kept) -> bool:
        if callable(given) or isinstance(given, bool):
            return True
        return bool(np.all(np.asarray(kept, np.float64) == np.float32(given)))

    unused = [args for _, args in calls]
    out = []
    for s in states:
        fits = [
            args
            for args in unused
            if set(s.hyperparams) <= set(args)
            and all(same(args[k], v) for k, v in s.hyperparams.items())
        ]
        assert fits, f"no call gave the hyperparameters {s.hyperparams}"
        args = min(fits, key=lambda a: len(set(a) - set(s.hyperparams)))  # adam before adamw
        unused.remove(args)
        out.append((args, s))
    return out


def _check_stored(calls, state) -> None:
    for name, passed, stored in _passed_values(calls, state):
        is_schedule = gradtx.schedules._inject.is_pytree_schedule(passed)
        if passed is None or (callable(passed) and not is_schedule):
            # the value a schedule gave for the step: a float of at least 32 bits
            assert jnp.finfo(jnp.result_type(stored)).bits >= 32, (name, stored.dtype)
            continue
        if callable(passed):  # a pytree schedule: its leaves
            pairs = zip(jax.tree.leaves(passed), jax.tree.leaves(stored), strict=True)
        else:
            pairs = [(passed, stored)]
        for given, kept in pairs:
            kept_dtype = jnp.result_type(kept)
            if isinstance(given, float) or jnp.issubdtype(jnp.result_type(given), jnp.floating):
                assert jnp.issubdtype(kept_dtype, jnp.floating), (name, kept_dtype)
                assert jnp.finfo(kept_dtype).bits >= 32, (name, kept_dtype)
                assert float(kept) == float(np.float32(given)), (name, given, kept)
            else:
                assert int(kept) == int(given), (name, given, kept)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=["bf16", "f16"])
@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_injected_hyperparams_keep_their_values_and_zero_grads_stay_finite(row, dtype):
    calls: list = []
    tx = row.make(Injecting(calls))
    params = {"w": jnp.asarray([1.0, -2.0, 0.5], dtype), "b": jnp.asarray(0.25, dtype)}
    state = tx.init(params)  # eager: raised about b2 = 1.0 on bfloat16
    _check_stored(calls, state)
    zeros = jax.tree.map(jnp.zeros_like, params)
    if dtype == jnp.float16:
        # eager: eps = 1e-8 stored as 0 gave NaN on the first step of a zero gradient
        u, state = tx.update(zeros, state, params, **row.extra_args)
        for x in jax.tree.leaves(u):
            assert bool(jnp.all(jnp.isfinite(x))), (row.id, x)
        _check_stored(calls, state)
        return

    def steps(params):  # jitted init, then 3 steps (bfloat16's b2 = 1.0 gave NaN)
        def body(carry, _):
            state, params = carry
            u, state = tx.update(zeros, state, params, **row.extra_args)
            return (state, gradtx.apply_updates(params, u)), u

        state = tx.init(params)
        return state, jax.lax.scan(body, (state, params), None, length=3)

    first, ((state, new), updates) = jax.jit(steps)(params)
    for x in jax.tree.leaves((new, updates)):
        assert bool(jnp.all(jnp.isfinite(x))), (row.id, x)
    _check_stored(calls, first)
    _check_stored(calls, state)


def test_issue_examples():
    bf = {"w": jnp.ones(3, jnp.bfloat16)}
    opt = gradtx.inject_hyperparams(gradtx.adam)(learning_rate=1e-2)
    state = opt.init(bf)
    assert state.hyperparams["b2"].dtype == jnp.float32
    assert float(state.hyperparams["b2"]) == float(np.float32(0.999))
    step = jax.jit(opt.update)
    p = bf
    for _ in range(5):
        u, state = step(jax.tree.map(jnp.ones_like, p), state, p)
        p = gradtx.apply_updates(p, u)
    assert bool(jnp.all(jnp.isfinite(p["w"])))
    f16 = {"w": jnp.asarray([1.0, 2.0], jnp.float16)}
    opt = gradtx.inject_hyperparams(gradtx.adam)(learning_rate=1e-2)
    state = opt.init(f16)
    assert float(state.hyperparams["eps"]) == float(np.float32(1e-8))
    u, _ = opt.update({"w": jnp.zeros(2, jnp.float16)}, state, f16)
    assert bool(jnp.all(u["w"] == 0))


def test_float_fields_given_an_int_stay_float_and_int_fields_stay_int():
    opt = gradtx.inject_hyperparams(gradtx.adam)(learning_rate=1)
    state = opt.init({"w": jnp.zeros(2)})
    assert state.hyperparams["learning_rate"].dtype == jnp.float32
    state = gradtx.set_hyperparams(state, learning_rate=0.5)  # was silently 0
    assert float(state.hyperparams["learning_rate"]) == 0.5
    plateau = gradtx.inject_hyperparams(gradtx.reduce_on_plateau)(patience=2)
    state = plateau.init({"w": jnp.zeros(2)})
    assert jnp.issubdtype(state.hyperparams["patience"].dtype, jnp.integer)
    assert int(gradtx.set_hyperparams(state, patience=3.0).hyperparams["patience"]) == 3
    with pytest.raises(TypeError, match=r"'patience'.*2\.5.*truncated to 2"):
        gradtx.set_hyperparams(state, patience=2.5)


def test_set_hyperparams_never_silently_rounds():
    f32 = gradtx.inject_hyperparams(gradtx.adam)(1e-2).init({"w": jnp.zeros(2)})
    # Python floats go into float32 with float32's rounding only.
    assert float(gradtx.set_hyperparams(f32, b2=0.9999).hyperparams["b2"]) == float(
        np.float32(0.9999)
    )
    bf = gradtx.inject_hyperparams(gradtx.adam, hyperparam_dtype=jnp.bfloat16)(
        1e-2, b2=0.5, eps=1e-3
    ).init({"w": jnp.zeros(2)})
    assert bf.hyperparams["learning_rate"].dtype == jnp.bfloat16  # asked for, honoured
    with pytest.raises(ValueError, match=r"'b2'.*bfloat16.*0\.999.*1\.0"):
        gradtx.set_hyperparams(bf, b2=0.999)
    with pytest.raises(ValueError, match=r"'learning_rate'.*bfloat16"):
        gradtx.set_hyperparams(bf, learning_rate=0.01)
    # A value the stored dtype holds exactly is accepted.
    new = gradtx.set_hyperparams(bf, learning_rate=jnp.asarray(0.01, jnp.bfloat16))
    assert new.hyperparams["learning_rate"] == jnp.asarray(0.01, jnp.bfloat16)
    assert gradtx.set_hyperparams(bf, learning_rate=0.5).hyperparams["learning_rate"] == 0.5

    @jax.jit
    def traced(state, lr):
        return gradtx.set_hyperparams(state, learning_rate=lr)

    with pytest.raises(TypeError, match="'learning_rate'.*rounded"):
        traced(bf, jnp.float32(0.01))
    assert traced(f32, jnp.float32(0.25)).hyperparams["learning_rate"] == 0.25


def test_explicit_low_precision_dtype_raises_for_degenerate_roundings():
    params = {"w": jnp.zeros(2)}
    with pytest.raises(ValueError, match=r"'b2'=0\.999.*bfloat16.*1\.0"):
        gradtx.inject_hyperparams(gradtx.adam, hyperparam_dtype=jnp.bfloat16)(1e-2).init(params)
    with pytest.raises(ValueError, match=r"'eps'=1e-08.*float16.*0\.0"):
        gradtx.inject_hyperparams(gradtx.adam, hyperparam_dtype=jnp.float16)(1e-2).init(params)
    with pytest.raises(ValueError, match=r"'learning_rate'=1000000\.0.*float16.*inf"):
        gradtx.inject_hyperparams(gradtx.sgd, hyperparam_dtype=jnp.float16)(1e6).init(params)
    # Roundings that keep the optimiser meaningful are the user's request.
    s = gradtx.inject_hyperparams(gradtx.sgd, hyperparam_dtype=jnp.bfloat16)(1e-2, 0.9)
    state = s.init(params)
    assert state.hyperparams["learning_rate"] == jnp.asarray(1e-2, jnp.bfloat16)


@pytest.mark.parametrize("make", [m for _, m in SCHEDULES], ids=[n for n, _ in SCHEDULES])
def test_injected_schedules_keep_float32_leaves_on_bfloat16_params(make):
    """Over SCHEDULES: an injected schedule's float leaves are stored in float32 with the
    values passed (bfloat16 would round 0.999 to 1.0)."""
    sched = make(gradtx.schedules)
    bf = {"w": jnp.ones(2, jnp.bfloat16)}
    state = gradtx.inject_hyperparams(gradtx.sgd)(learning_rate=sched).init(bf)
    value = state.hyperparams["learning_rate"]  # the value for the first update
    assert value.dtype == jnp.float32
    assert float(value) == float(np.float32(sched(0)))
    if not gradtx.schedules._inject.is_pytree_schedule(sched):
        return  # a plain callable: only its value is stored
    stored = state.hyperparams_states["learning_rate_schedule"]  # the schedule itself
    for given, kept in zip(jax.tree.leaves(sched), jax.tree.leaves(stored), strict=True):
        assert kept.dtype == jnp.float32
        assert float(kept) == float(np.float32(given))
