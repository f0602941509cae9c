"""Mixed precision: params keep their dtype (bf16, f16, f32) for every optimiser, and so
do the updates, except that a momentum trace of float16 params is float32 and so are its
updates (docs/dtypes.md); ``mu_dtype`` sets the first moment's storage dtype; the moment
math runs in float32, so a bf16/f16 run stays close to a float32 run fed the same
(rounded) numbers.

Each dtype compiles one program that runs every optimiser over 30 steps (``lax.scan``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference.harness import make_problem, run_scan

import gradtx

# Slow (many compiles): deselect with -m "not slow" for the fast core; CI runs it.
pytestmark = pytest.mark.slow

N_STEPS = 30

OPTIMIZERS = {
    "sgd": lambda: gradtx.sgd(0.1),
    "sgd_nesterov": lambda: gradtx.sgd(0.1, momentum=0.9, nesterov=True),
    "adagrad": lambda: gradtx.adagrad(0.1),
    "rmsprop": lambda: gradtx.rmsprop(0.01),
    "rmsprop_centered_momentum": lambda: gradtx.rmsprop(0.01, centered=True, momentum=0.9),
    "adadelta": lambda: gradtx.adadelta(1.0, weight_decay=0.01),
    "adam": lambda: gradtx.adam(0.01),
    "adamw": lambda: gradtx.adamw(0.01, weight_decay=0.1),
    "amsgrad": lambda: gradtx.amsgrad(0.01),
    "nadam": lambda: gradtx.nadam(0.01),
    "yogi": lambda: gradtx.yogi(0.01),
    "adabound": lambda: gradtx.adabound(0.01, weight_decay=0.01),
    "amsbound": lambda: gradtx.amsbound(0.01, gamma=0.05),
    "clip_noise_chain": lambda: gradtx.chain(
        gradtx.clip_by_global_norm(1.0), gradtx.add_noise(0.01, 0.55, 0), gradtx.sgd(0.1)
    ),
}

LOW = {"bfloat16": jnp.bfloat16, "float16": jnp.float16}
# Moments are computed in float32. For bf16 params they are stored in bf16 (optax's
# default: bf16 has float32's range), so each step rounds them once, 8 bits (2^-8 = 0.4%).
# For f16 params the state policy (docs/dtypes.md) stores them in float32 (f16's range,
# 65504, cannot hold g**2 for |g| > 256), so only the f16 params, gradients and updates
# round. Measured normwise errors over 30 steps: bf16 <= 7.5e-3; f16 <= 2e-3 for every
# optimiser, Adadelta included (with f16 state its E[dx^2] ~ 1e-7 was subnormal: 1.5e-2).
NORM_TOL = {"bfloat16": 2e-2, "float16": 5e-3}
# Optimisers whose last link is a momentum trace: for f16 params the trace is float32 and
# its updates are too (a momentum sum g / (1 - beta) leaves f16's range for |g| > 6550
# before the learning rate scales it); apply_updates casts back to the params' dtype.
F32_UPDATES_FOR_F16 = frozenset({"sgd_nesterov", "rmsprop_centered_momentum"})


@functools.partial(jax.jit, static_argnames="names")
def _run_all(params, grads, names):
    """Updates (all steps) and final params of every named optimiser."""
    out = {}
    for name in names:
        tx = OPTIMIZERS[name]()
        updates = run_scan(tx, params, grads)
        final = jax.tree.map(lambda p, u: p + jnp.sum(u, 0).astype(p.dtype), params, updates)
        out[name] = (updates, final)
    return out


@functools.cache
def _runs(dtype_name):
    """(low-precision run, float32 run fed the same rounded params and gradients)."""
    params, grads = make_problem(N_STEPS, seed=1)
    names = tuple(sorted(OPTIMIZERS))
    dtype = LOW.get(dtype_name, jnp.float32)
    p_low, g_low = jax.tree.map(lambda x: x.astype(dtype), (params, grads))
    p_32, g_32 = jax.tree.map(lambda x: x.astype(jnp.float32), (p_low, g_low))
    return _run_all(p_low, g_low, names), _run_all(p_32, g_32, names)


@pytest.mark.parametrize("dtype_name", ["bfloat16", "float16", "float32"])
def test_params_and_updates_keep_their_dtype(dtype_name):
    low, _ = _runs(dtype_name)
    for name, (updates, final) in low.items():
        for leaf in jax.tree.leaves(final):
            assert leaf.dtype == jnp.dtype(dtype_name), (name, leaf.dtype)
        for leaf in jax.tree.leaves(updates):
            wide = dtype_name == "float16" and name in F32_UPDATES_FOR_F16
            assert leaf.dtype == (jnp.float32 if wide else jnp.dtype(dtype_name)), name
        for leaf in jax.tree.leaves((updates, final)):
            assert np.all(np.isfinite(np.asarray(leaf, np.float32))), name


@pytest.mark.parametrize("dtype_name", ["bfloat16", "float16"])
def test_low_precision_run_stays_close_to_float32(dtype_name):
    """``max |u_low - u_f32| <= tol * max |u_f32|`` for every leaf over all 30 steps."""
    low, f32 = _runs(dtype_name)
    for name in OPTIMIZERS:
        if name == "clip_noise_chain":
            continue  # its noise is drawn in the gradient's dtype: other random numbers
        tol = NORM_TOL[dtype_name]
        for k in f32[name][0]:
            a = np.asarray(low[name][0][k], np.float64)
            e = np.asarray(f32[name][0][k], np.float64)
            assert np.max(np.abs(a - e)) <= tol * np.max(np.abs(e)), (name, k)


def test_bf16_adam_first_step_is_minus_lr_times_sign():
    """In bf16, 0.999 rounds to 1 and 1 - b2^t to 0: the bias corrections must be computed
    in float32, or the first Adam step is inf/NaN instead of -lr * sign(g)."""
    low, _ = _runs("bfloat16")
    _, grads = make_problem(N_STEPS, seed=1)
    for k, g in grads.items():
        first = np.asarray(low["adam"][0][k][0], np.float32)
        expected = -0.01 * np.sign(np.asarray(g[0].astype(jnp.bfloat16), np.float32))
        np.testing.assert_allclose(first, expected, rtol=1e-2)


MU_DTYPE = {
    "adam": lambda mu: gradtx.adam(0.01, mu_dtype=mu),
    "adamw": lambda mu: gradtx.adamw(0.01, mu_dtype=mu),
    "nadam": lambda mu: gradtx.nadam(0.01, mu_dtype=mu),
    "amsgrad": lambda mu: gradtx.amsgrad(0.01, mu_dtype=mu),
    "bound_lr": lambda mu: gradtx.bound_lr(0.01, mu_dtype=mu),
    "sgd_accumulator": lambda mu: gradtx.sgd(0.1, momentum=0.9, accumulator_dtype=mu),
}


def _first_moments(state):
    """The leaves of every ``mu``/``trace`` field in a (chained) state."""
    return [
        leaf
        for path, leaf in jax.tree_util.tree_leaves_with_path(state)
        if any(isinstance(p, jax.tree_util.GetAttrKey) and p.name in ("mu", "trace") for p in path)
    ]


def test_mu_dtype_keeps_the_first_moment_in_bf16():
    params, grads = make_problem(N_STEPS, seed=2)

    @jax.jit
    def run(params, grads):
        out = {}
        for name, make in MU_DTYPE.items():
            results = []
            for mu in (jnp.bfloat16, None):
                tx = make(mu)

                def body(carry, g, tx=tx):
                    state, p = carry
                    u, state = tx.update(g, state, p)
                    return (state, gradtx.apply_updates(p, u)), u

                (state, _), updates = jax.lax.scan(body, (tx.init(params), params), grads)
                results.append((updates, state))
            out[name] = results
        return out

    for name, ((u_bf16, s_bf16), (u_f32, s_f32)) in run(params, grads).items():
        moments = _first_moments(s_bf16)
        assert moments and all(m.dtype == jnp.bfloat16 for m in moments), name
        assert all(m.dtype == jnp.float32 for m in _first_moments(s_f32)), name
        # the second moment and the updates stay float32
        for path, leaf in jax.tree_util.tree_leaves_with_path(s_bf16):
            if any(isinstance(p, jax.tree_util.GetAttrKey) and p.name == "nu" for p in path):
                assert leaf.dtype == jnp.float32, name
        for k in u_f32:
            assert u_bf16[k].dtype == jnp.float32
            e = np.asarray(u_f32[k])
            np.testing.assert_allclose(
                np.asarray(u_bf16[k]), e, rtol=5e-2, atol=1e-2 * np.max(np.abs(e)), err_msg=name
            )
