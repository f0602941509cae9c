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

Rows for which the scenario itself says otherwise are named in tables below, each with
its reason and its own check (zeros where float32 has zeros; params held at 0 and
float16's resolution; an objective that overflows float16; state leaves that hold
params or a gradient and keep the params' dtype).

Each table runs as jitted programs of ``_xla.ROWS_PER_PROGRAM`` rows (``_xla.in_chunks``).
"""

from __future__ import annotations

import functools

import chex
import constructors as C
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _xla import in_chunks

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

# Learning-rate-free rows that read their step off the distance the params travel
# (|x - x0|): x0 and every sum are float32 (the state policy), but float16 rounds the
# params themselves after every step, and from p = 0 their first steps are float16
# subnormals (spacing 2^-24 = 6e-8). Per row: the tolerance on the final params (in place
# of REL_TOL; None: the params cannot move at all) and the measured reason. optax.contrib
# keeps these states in float16 and does worse (prodigy, mechanize: NaN; dog: no move).
DISTANCE_READ_OFF_FLOAT16_PARAMS = {
    "prodigy": (5e-2, "first steps ~d0 = 1e-6 hold 4-5 bits (-1.013e-6 for -1.000e-6), d "
                "grows from the rounded distance: final params 2.7e-2 from float32's"),
    "dog": (1e-1, "first step r_eps * g/|g| = 3.8e-7 holds 3 bits (3.6e-7), r_bar grows "
            "from the rounded distance: final params 5.2e-2 from float32's"),
    "mechanize": (None, "its first move s_init * adam's step = 1e-8 is below half float16's "
                  "smallest subnormal: it rounds to 0, Delta = (x - x0) / sum(s) stays 0 "
                  "and the scales never grow"),
}

# Rows whose float32 run of this scenario (params 0, gradient 300) itself has zero
# updates: the float16 run must have its zeros in the same places (and move everywhere
# else). Each entry says why float32 does not move there.
SAME_ZEROS_AS_FLOAT32 = {
    "set_to_zero": "its updates are 0 by design",
    "freeze": "the frozen leaf 'w' gets 0 by design",
    "centralize": "a constant gradient minus its mean is 0 on the 2-d leaf 'm'",
    "keep_params_nonnegative": "params start at 0; the negative step is projected back to 0",
    "MultiSteps": "the inner step is taken every 2nd call",
    "MultiSteps_skip_accumulator_dtype": "the inner step is taken every 2nd call",
    "conditionally_mask": "the inner step is taken on odd steps only",
    "apply_every": "the sum of 2 calls is emitted every 2nd call",
}
# Rows run with the params held at 0 (``apply=False``), whose updates must equal the
# float32 run's to float16's resolution (1 ulp, subnormals included): their update is
# scaled by a parameter norm, so the scenario's numbers are not about the state.
HELD_AT_ZERO = {
    "scale_by_param_block_norm": "no learning rate: u = max(|p|, 1e-3) g grows the params "
    "geometrically, out of float32's range too (inf at step 10)",
    "scale_by_param_block_rms": "no learning rate: u = max(rms(p), 1e-3) g, as above",
    "scale_by_trust_ratio": "no learning rate: u = max(|p|, 1e-6) / |g| g doubles the "
    "params each step; at p = 0 the update 5.8e-7 is a float16 subnormal (3 bits)",
    "fromage": "at p = 0 its update lr * 1e-6 / |g| * g = 5.8e-9 is below float16's "
    "smallest subnormal (6e-8): float16 params cannot take it",
    "scale_by_distance_over_gradients": "its first steps are r_eps = 1e-6 times g / |g|: "
    "over 10 steps the params stay below 1.6e-5, float16's subnormals (3-4 bits a step)",
}
# The row's objective |p|^2 is computed by the caller's value_fn in the params' dtype,
# and the scenario's constant gradient 300 is not its gradient (the search direction is an
# ascent direction): once every trial point has |p|^2 > 65504 float16's objective is inf
# there, so the search rightly takes a zero step where float32 accepts one. The float16
# run follows the float32 run up to the first zero step, and zero steps stay zero.
# backtracking: already at step 1 (7 * 98^2 > 65504 at the smallest trial step).
# lbfgs: -P g walks away from 0 by 18.75 a step; from step 7 (|p| = 93.75 + 18.75 = 112.5,
# 7 * 112.5^2 > 65504) every trial point overflows.
OBJECTIVE_OVERFLOWS_FLOAT16 = frozenset({"scale_by_backtracking_linesearch", "lbfgs"})
# State leaves that hold params or a gradient of the caller's, not an accumulator: they
# keep the params' dtype (float16). Keyed by row, the leaves' path prefix and why.
PARAM_DTYPE_LEAVES = {
    "lookahead": (
        "[1]",
        "the row's slow weights: params (lookahead returns them to the caller in a "
        "LookaheadParams next to the fast ones, in the params' dtype), not an accumulator",
    ),
    "scale_by_backtracking_linesearch": (
        ".grad",
        "the gradient of value_fn at the accepted params: value_and_grad_from_state hands "
        "it back in place of jax.grad's result (lax.cond needs jax.grad's dtype, the "
        "params'); it is not a sum and cannot overflow beyond jax.grad itself",
    ),
    "scale_by_zoom_linesearch": (".grad", "as scale_by_backtracking_linesearch's"),
    "lbfgs": ("[2].grad", "its zoom line search's, as scale_by_backtracking_linesearch's"),
}


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
    ids, n, value, apply = {
        "g300": (tuple(ROWS), 10, 300.0, True),
        "g300_held": (tuple(HELD_AT_ZERO), 10, 300.0, False),
        "g8000": (MOMENTUM_ROWS, 20, 8000.0, False),
    }[case]
    return tuple(
        in_chunks(_table, ids, dtype=dtype, n=n, value=value, apply=apply)
        for dtype in (jnp.float16, jnp.float32)
    )


def _rel(a, b, scale):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b))) / max(float(np.max(np.abs(scale))), 1e-30)


def _ulp16(x):
    """float16's spacing at each |x| (2^-24 for subnormals and 0), as float64."""
    return np.spacing(np.abs(np.asarray(x, np.float32)).astype(np.float16)).astype(np.float64)


def _check_objective_overflows(row_id, f16, f32):
    """An ``OBJECTIVE_OVERFLOWS_FLOAT16`` row: float16 equals float32 (``REL_TOL``)
    until its first zero step, which comes where float32's step leads to a point whose
    objective float16 cannot hold; every later float16 step is zero too, while float32
    keeps moving."""
    u16 = {k: np.asarray(f16[0][k], np.float64) for k in SHAPES}
    u32 = {k: np.asarray(f32[0][k], np.float64) for k in SHAPES}
    n = len(u16["w"])
    zero = [all(np.all(u16[k][i] == 0) for k in SHAPES) for i in range(n)]
    assert any(zero), row_id
    first = zero.index(True)
    assert all(zero[first:]), (row_id, zero)
    for k in SHAPES:
        assert np.all(u32[k] != 0), (row_id, k)  # float32 does move
        if first:
            assert _rel(u16[k][:first], u32[k][:first], u32[k]) <= REL_TOL, (row_id, k)
    at = {k: np.asarray(f16[1][k][first], np.float64) + u32[k][first] for k in SHAPES}
    assert sum(np.sum(x * x) for x in at.values()) > 65504.0, (row_id, first)


@pytest.mark.parametrize("row_id", list(ROWS))
def test_float16_gradient_300_keeps_training(row_id):
    if row_id in HELD_AT_ZERO:
        f16, f32 = (r[row_id] for r in _pair("g300_held"))
        for k in SHAPES:
            u16, u32 = np.asarray(f16[0][k], np.float64), np.asarray(f32[0][k], np.float64)
            assert np.all(np.isfinite(u16)), (row_id, k)
            # as close as float16 can hold float32's update, and nonzero wherever
            # float16 can hold it
            assert np.all(np.abs(u16 - u32) <= _ulp16(u32)), (row_id, k, u16[:, 0], u32[:, 0])
            representable = np.asarray(u32, np.float16) != 0
            assert np.all(u16[representable] != 0), (row_id, k)
        return
    f16, f32 = (r[row_id] for r in _pair("g300"))
    updates, _, final, _ = f16
    for leaf in jax.tree.leaves(updates):
        assert np.all(np.isfinite(np.asarray(leaf, np.float32))), row_id
    if row_id in OBJECTIVE_OVERFLOWS_FLOAT16:
        _check_objective_overflows(row_id, f16, f32)
        return
    tol = REL_TOL
    if row_id in DISTANCE_READ_OFF_FLOAT16_PARAMS:
        tol = DISTANCE_READ_OFF_FLOAT16_PARAMS[row_id][0]
        if tol is None:  # float32's first move rounds to 0 in float16: no move, ever
            for k in SHAPES:
                assert np.all(np.abs(np.asarray(f32[0][k])[0]) < 2.0**-25), (row_id, k)
                assert np.all(np.asarray(updates[k], np.float32) == 0), (row_id, k)
            return
    for k in SHAPES:
        u = np.asarray(updates[k], np.float32)
        if row_id in SAME_ZEROS_AS_FLOAT32:
            # float16 moves exactly where float32 moves (see the entry's reason)
            u32 = np.asarray(f32[0][k], np.float32)
            assert np.array_equal(u != 0, u32 != 0), (row_id, k, u[:, 0], u32[:, 0])
        else:
            # the params keep moving: every update is nonzero (an overflowed nu gives
            # m / inf = 0), from step 2 on (the warmup schedules start at lr 0)
            assert np.all(u[1:] != 0), (row_id, k, u[:, 0])
        moved = np.asarray(f32[2][k], np.float64)
        rel = _rel(final[k], f32[2][k], moved)
        assert rel <= tol, (row_id, k, rel)


def test_special_rows_are_rows():
    """Every row named in the tables above exists (a renamed row would drop its rule)."""
    named = {*SAME_ZEROS_AS_FLOAT32, *HELD_AT_ZERO, *OBJECTIVE_OVERFLOWS_FLOAT16,
             *DISTANCE_READ_OFF_FLOAT16_PARAMS}
    assert named <= set(ROWS) and set(PARAM_DTYPE_LEAVES) <= set(ROWS)


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
    packed buffers) is float32 for float16 params, except the leaves of
    ``PARAM_DTYPE_LEAVES`` (params or a caller's gradient), which stay float16."""
    f16, _ = _pair("g300")
    state = f16[row_id][3]
    prefix = PARAM_DTYPE_LEAVES.get(row_id, (None,))[0]
    kept = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        name = jax.tree_util.keystr(path)
        if jnp.issubdtype(leaf.dtype, jnp.floating) and leaf.ndim:
            if prefix is not None and name.startswith(prefix):
                assert leaf.dtype == jnp.float16, (row_id, name, leaf.dtype)
                kept.append(name)
            else:
                assert leaf.dtype == jnp.float32, (row_id, name, leaf.dtype)
    assert prefix is None or kept, (row_id, prefix)  # the exception still applies


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
    "lion": lambda d: gradtx.lion(0.1, mu_dtype=d),
    "signum": lambda d: gradtx.signum(0.1, accumulator_dtype=d),
    "scale_by_novograd": lambda d: gradtx.scale_by_novograd(mu_dtype=d),
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
