"""The bridge for the tests of gradtx.contrib's schedule-free and learning-rate-free
optimisers: one problem (a matrix, a vector and a scalar leaf, 50 random gradients whose
magnitudes vary, and a positive loss value per step for Momo), one compiled function
that runs every case of a family (gradtx and optax.contrib side by side) in
``lax.scan``, an eager (no-jit) runner, and the float64 reference runner.

The references (``*_ref.py`` next to this file) never import gradtx or optax.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import chex
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

import gradtx

SHAPES = {"matrix": (3, 4), "vector": (4,), "scalar": ()}
N_STEPS = 50


def make_problem(n_steps: int = N_STEPS, seed: int = 0, scale: float = 1.0):
    """Params, gradients stacked on a leading axis (log-normal magnitudes per step) and
    one positive loss value per step (decreasing, with noise)."""
    rng = np.random.default_rng(seed)
    params = {k: jnp.asarray(rng.normal(size=s), jnp.float32) for k, s in SHAPES.items()}
    scales = scale * np.exp(0.5 * rng.normal(size=n_steps))
    grads = {
        k: jnp.asarray(
            rng.normal(size=(n_steps, *s)) * scales.reshape((-1,) + (1,) * len(s)), jnp.float32
        )
        for k, s in SHAPES.items()
    }
    values = jnp.asarray(
        2.0 / (1.0 + 0.1 * np.arange(n_steps)) + 0.2 * rng.uniform(size=n_steps), jnp.float32
    )
    return params, grads, values


def _run_one(tx: Any, params: Any, grads: Any, values: Any, with_value: bool):
    def body(carry, xs):
        state, p = carry
        g, v = xs
        kw = {"value": v} if with_value else {}
        u, state = tx.update(g, state, p, **kw)
        return (state, gradtx.apply_updates(p, u)), u

    (state, p), us = jax.lax.scan(body, (tx.init(params), params), (grads, values))
    return us, state, p


def run_cases(cases: dict[str, Any], params: Any, grads: Any, values: Any,
              with_value: bool = False) -> dict[str, Any]:  # fmt: skip
    """Runs every transformation of ``cases`` (name -> tx) inside ONE jitted function
    (one compile for the whole table); returns name -> (updates stacked, final state,
    final params)."""

    @jax.jit
    def run_all(params, grads, values):
        return {k: _run_one(tx, params, grads, values, with_value) for k, tx in cases.items()}

    return run_all(params, grads, values)


def run_eager(tx: Any, params: Any, grads: Any, values: Any, with_value: bool = False,
              n_steps: int | None = None) -> Any:  # fmt: skip
    """The same run without jit (a Python loop of eager steps); returns the updates
    stacked on a leading axis."""
    n = n_steps or jax.tree.leaves(grads)[0].shape[0]
    state, p, out = tx.init(params), params, []
    for i in range(n):
        g = jax.tree.map(lambda x, i=i: x[i], grads)
        kw = {"value": values[i]} if with_value else {}
        u, state = tx.update(g, state, p, **kw)
        p = gradtx.apply_updates(p, u)
        out.append(u)
    return jax.tree.map(lambda *xs: jnp.stack(xs), *out)


def run_reference(ref: Any, params: Any, grads: Any, values: Any = None,
                  with_value: bool = False) -> dict[str, np.ndarray]:  # fmt: skip
    """Runs a float64 reference (``init(params)``, ``update(grads, params[, value])``)
    on the same problem; returns the updates stacked on a leading axis."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    g_all = {k: np.asarray(v, np.float64) for k, v in grads.items()}
    n = next(iter(g_all.values())).shape[0]
    ref.init(p)
    out = []
    for i in range(n):
        g = {k: v[i] for k, v in g_all.items()}
        u = ref.update(g, p, float(values[i])) if with_value else ref.update(g, p)
        p = {k: p[k] + u[k] for k in p}
        out.append(u)
    return {k: np.stack([u[k] for u in out]) for k in p}


def assert_close(actual: Any, expected: Any, rtol: float, floor: float, atol: float = 0.0):
    """``|a - e| <= rtol |e| + max(floor * max|e|, atol)`` leaf by leaf (``floor``
    relative to the leaf's largest expected value, for elements that are
    near-cancellations; ``atol`` absolute, for updates that are differences of params,
    whose float32 rounding is a few ulp of the params)."""
    for k in expected:
        e = np.asarray(expected[k], np.float64)
        a = np.asarray(actual[k], np.float64)
        tol = max(floor * float(np.max(np.abs(e))), atol)
        chex.assert_trees_all_close(a, e, rtol=rtol, atol=tol)


def max_rel_error(actual: Any, expected: Any, floor: float = 1e-6) -> float:
    worst = 0.0
    for k in expected:
        e = np.asarray(expected[k], np.float64)
        a = np.asarray(actual[k], np.float64)
        denom = np.abs(e) + floor * float(np.max(np.abs(e))) + 1e-30
        worst = max(worst, float(np.max(np.abs(a - e) / denom)))
    return worst


def assert_same_state(gx_state: Any, ox_state: Any, rtol: float = 1e-5, atol: float = 1e-6):
    """The two states serialise (flax's state dict: what a checkpoint holds) to the same
    keys, shapes and dtypes, with close values: a checkpoint moves both ways."""
    a = flax.serialization.to_state_dict(gx_state)
    b = flax.serialization.to_state_dict(ox_state)
    la, ta = jax.tree_util.tree_flatten_with_path(a)
    lb, tb = jax.tree_util.tree_flatten_with_path(b)
    assert [p for p, _ in la] == [p for p, _ in lb], (ta, tb)
    for (path, x), (_, y) in zip(la, lb, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape and x.dtype == y.dtype, (path, x.shape, x.dtype, y.dtype)
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=str(path))


def pairs(make: Callable[[Any], Any], optax_module: Any, name: str) -> dict[str, Any]:
    """``{name: make(gradtx), name + "/optax": make(optax)}``."""
    return {name: make(gradtx), name + "/optax": make(optax_module)}
