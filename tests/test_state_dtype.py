"""Optimiser state that must not overflow in float16 (issue 11, class 3), over every row
of ``constructors.TRANSFORMS``, and the state dtype arguments.

float16 ends at 65504: ``g**2`` overflows for ``|g| > 256`` and a momentum sum
``g / (1 - 0.9)`` for ``|g| > 6550``. By default (docs/dtypes.md) the state of float16
params is float32, so:

* gradient 300, every row, 10 steps: every update is finite, the params still move at the
  last step, and the run stays close to the float32 run fed the same numbers;
* gradient 8000, the momentum rows, 20 steps (the float16 trace would pass 65504 at step
  17): the same, on the updates;
* every floating state leaf of a float16 run is float32; an explicit ``bfloat16`` request
  stays ``bfloat16``; a non-float dtype argument raises ``TypeError`` naming it.

One jitted program per table run.
"""

from __future__ import annotations

import functools

import chex
import constructors as C
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx import native

# Slow (many compiles): deselect with -m "not slow" for the fast core; CI runs it.
pytestmark = pytest.mark.slow

ROWS = {row.id: row for row in C.TRANSFORMS}
SHAPES = {"w": (3,), "m": (2, 2)}
# Rows whose state holds a momentum trace (the 8000 case).
MOMENTUM_ROWS = ("sgd_momentum", "sgd_nesterov", "trace", "inject_hyperparams_schedule")
# max |p16 - p32| / max |p32| (final params, p0 = 0) measured over the rows: 1.8e-3
# (reduce_on_plateau; float16 rounds the params after each step, 2^-11 = 4.9e-4 each, over
# 10 steps). With gradient 8000 the momentum updates are equal (float32 trace, exact
# inputs) except the warmup-scheduled row, 4.5e-4.
REL_TOL = 1e-2
NAN_IN_FLOAT32_TOO = frozenset({"adabound_schedule"})
# MultiSteps takes its inner step every 2nd call: the params do not move on odd calls.
EVERY_OTHER_STEP = frozenset({"MultiSteps"})


def _run(tx, params, grads, extra):
    def body(carry, g):
        state, p = carry
        u, state = tx.update(g, state, p, **extra)
        return (state, gradtx.apply_updates(p, u)), (u, p)

    (state, p), (updates, before) = jax.lax.scan(body, (tx.init(params), params), grads)
    return updates, before, p, state


@functools.partial(jax.jit, static_argnames=("ids", "dtype", "n", "value", "apply"))
def _table(ids, dtype, n, value, apply):
    """Per row: (updates of every step, params before every step, final params, state)
    for params 0 in ``dtype`` and the constant gradient ``value``. With ``apply=False``
    the params are held at 0 (rows without a learning rate would leave float16's range
    through their params, not their state)."""
    params = {k: jnp.zeros(s, dtype) for k, s in SHAPES.items()}
    grads = {k: jnp.full((n, *s), value, dtype) for k, s in SHAPES.items()}
    out = {}
    for row_id in ids:
        row = ROWS[row_id]
        tx = C.build(row)
        if apply:
            out[row_id] = _run(tx, params, grads, row.extra_args)
        else:

            def body(state, g, tx=tx, row=row):
                u, state = tx.update(g, state, params, **row.extra_args)
                return state, u

            state, updates = jax.lax.scan(body, tx.init(params), grads)
            out[row_id] = (updates, None, None, state)
    return out


@functools.cache
def _pair(case):
    ids, n, value, apply = (
        (tuple(ROWS), 10, 300.0, True) if case == "g300" else (MOMENTUM_ROWS, 20, 8000.0, False)
    )
    return _table(ids, jnp.float16, n, value, apply), _table(ids, jnp.float32, n, value, apply)


def _rel(a, b, scale):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b))) / max(float(np.max(np.abs(scale))), 1e-30)


@pytest.mark.parametrize("row_id", list(ROWS))
def test_float16_gradient_300_keeps_training(row_id):
    f16, f32 = (r[row_id] for r in _pair("g300"))
    updates, _, final, _ = f16
    if row_id in NAN_IN_FLOAT32_TOO:
        # bound_lr's final rate final_lr * lr_t / lr_0 with lr_0 = schedule(0) = 0 of a
        # warmup is NaN in float32 too (an issue of its own, reported): not a float16
        # issue. Fails once fixed, so that this entry goes.
        assert not all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(f32[0]))
        return
    for leaf in jax.tree.leaves(updates):
        assert np.all(np.isfinite(np.asarray(leaf, np.float32))), row_id
    for k in SHAPES:
        u = np.asarray(updates[k], np.float32)
        # the params keep moving: every update is nonzero (an overflowed nu gives
        # m / inf = 0), from step 2 on (the warmup schedules start at lr 0)
        moving = u[1::2] if row_id in EVERY_OTHER_STEP else u[1:]
        assert np.all(moving != 0), (row_id, k, u[:, 0])
        moved = np.asarray(f32[2][k], np.float64)
        assert _rel(final[k], f32[2][k], moved) <= REL_TOL, (row_id, k)


@pytest.mark.parametrize("row_id", MOMENTUM_ROWS)
def test_float16_momentum_gradient_8000(row_id):
    f16, f32 = (r[row_id] for r in _pair("g8000"))
    for k in SHAPES:
        u16, u32 = np.asarray(f16[0][k], np.float64), np.asarray(f32[0][k], np.float64)
        assert np.all(np.isfinite(u16)) and np.all(u16[1:] != 0), row_id
        assert _rel(u16, u32, u32) <= 1e-3, row_id


@pytest.mark.parametrize("row_id", list(ROWS))
def test_float16_state_is_float32(row_id):
    """Every floating state leaf that is not a scalar (moments, traces, accumulators,
    packed buffers) is float32 for float16 params."""
    f16, _ = _pair("g300")
    state = f16[row_id][3]
    for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        if jnp.issubdtype(leaf.dtype, jnp.floating) and leaf.ndim:
            assert leaf.dtype == jnp.float32, (row_id, jax.tree_util.keystr(path), leaf.dtype)


STATE_DTYPE_ARGS = {
    "adam": lambda d: gradtx.adam(0.1, mu_dtype=d, nu_dtype=d),
    "adamw": lambda d: gradtx.adamw(0.1, mu_dtype=d, nu_dtype=d),
    "nadam": lambda d: gradtx.nadam(0.1, mu_dtype=d, nu_dtype=d),
    "amsgrad": lambda d: gradtx.amsgrad(0.1, mu_dtype=d, nu_dtype=d),
    "yogi": lambda d: gradtx.yogi(0.1, mu_dtype=d, nu_dtype=d),
    "adagrad": lambda d: gradtx.adagrad(0.1, nu_dtype=d),
    "rmsprop": lambda d: gradtx.rmsprop(0.1, nu_dtype=d),
    "adadelta": lambda d: gradtx.adadelta(1.0, nu_dtype=d),
    "adabound": lambda d: gradtx.adabound(0.1, mu_dtype=d, nu_dtype=d),
    "amsbound": lambda d: gradtx.amsbound(0.1, mu_dtype=d, nu_dtype=d),
    "sgd": lambda d: gradtx.sgd(0.1, momentum=0.9, accumulator_dtype=d),
    "trace": lambda d: gradtx.trace(0.9, accumulator_dtype=d),
}


@pytest.mark.parametrize("name", list(STATE_DTYPE_ARGS))
@pytest.mark.parametrize("param_dtype", [jnp.float16, jnp.float32])
def test_explicit_bfloat16_state_stays_bfloat16(name, param_dtype):
    params = {k: jnp.ones(s, param_dtype) for k, s in SHAPES.items()}
    tx = STATE_DTYPE_ARGS[name](jnp.bfloat16)
    state = tx.init(params)
    _, state = jax.jit(tx.update)(jax.tree.map(lambda p: p * 3, params), state, params)
    leaves = [x for x in jax.tree.leaves(state) if x.ndim]
    assert leaves and all(x.dtype == jnp.bfloat16 for x in leaves), name


@pytest.mark.parametrize("name", list(STATE_DTYPE_ARGS))
def test_bad_state_dtype_raises_type_error_naming_it(name):
    for bad in (jnp.int32, jnp.bool_, "not a dtype"):
        with pytest.raises(TypeError, match=r"(mu|nu|accumulator)_dtype must be"):
            STATE_DTYPE_ARGS[name](bad)


@pytest.mark.parametrize(
    "make",
    [
        lambda: gradtx.adam(0.1, nu_dtype=jnp.complex64),
        lambda: gradtx.adagrad(0.1, nu_dtype=jnp.complex64),
        lambda: gradtx.rmsprop(0.1, nu_dtype=jnp.complex64),
        lambda: gradtx.adadelta(nu_dtype=jnp.complex64),
    ],
)
def test_complex_nu_dtype_raises(make):
    """A squared accumulator is real: a complex nu_dtype is refused."""
    with pytest.raises(TypeError, match="nu_dtype must be a real floating dtype"):
        make()


def test_bfloat16_params_keep_bfloat16_state_by_default():
    """bfloat16 has float32's range: its state stays bfloat16 (as in optax)."""
    params = {k: jnp.ones(s, jnp.bfloat16) for k, s in SHAPES.items()}
    for tx in (gradtx.adam(0.1), gradtx.sgd(0.1, momentum=0.9), gradtx.adagrad(0.1)):
        leaves = [x for x in jax.tree.leaves(tx.init(params)) if x.ndim]
        assert leaves and all(x.dtype == jnp.bfloat16 for x in leaves)


def test_native_falls_back_for_float16():
    """gradtx.native's kernels are float32-only: float16 params take the pure-JAX step."""
    params = {k: jnp.ones(s, jnp.float16) for k, s in SHAPES.items()}
    grads = jax.tree.map(lambda p: p * 300, params)
    opt = gradtx.adam(0.1)
    assert native.explain(opt, params).startswith("pure JAX")
    jaxpr = str(jax.make_jaxpr(gradtx.make_step(opt, jit=False))(params, grads, opt.init(params)))
    assert "ffi_call" not in jaxpr
    got = gradtx.make_step(opt, donate=False)(params, grads, opt.init(params))
    u, s = opt.update(grads, opt.init(params), params)
    want = (gradtx.apply_updates(params, u), s)
    chex.assert_trees_all_close(got, want, rtol=0, atol=0)
    assert all(np.all(np.asarray(p, np.float32) < 1) for p in jax.tree.leaves(got[0]))
