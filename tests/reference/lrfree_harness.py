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

from .harness import unstack

SHAPES = {"matrix": (3, 4), "vector": (4,), "scalar": ()}
N_STEPS = 50


def make_problem(n_steps: int = N_STEPS, seed: int = 0, scale: float = 1.0,
                 param_scale: float = 1.0, dtype: Any = jnp.float32):  # fmt: skip
    """Params (normal, times ``param_scale``), gradients stacked on a leading axis
    (log-normal magnitudes per step, times ``scale``) and one positive loss value per step
    (decreasing, with noise).

    The learning-rate-free optimisers start with steps of ~1e-6 and estimate the distance
    travelled, ``|x - x_0|``: float32 params of size 1 carry that distance with only a
    digit or two (their ulp is 1e-7), so those tests start near 0 (``param_scale``
    1e-3), where the first steps are resolved."""
    rng = np.random.default_rng(seed)
    params = {k: jnp.asarray(param_scale * rng.normal(size=s), dtype)
              for k, s in SHAPES.items()}  # fmt: skip
    scales = scale * np.exp(0.5 * rng.normal(size=n_steps))
    grads = {
        k: jnp.asarray(
            rng.normal(size=(n_steps, *s)) * scales.reshape((-1,) + (1,) * len(s)), dtype
        )
        for k, s in SHAPES.items()
    }
    values = jnp.asarray(
        2.0 / (1.0 + 0.1 * np.arange(n_steps)) + 0.2 * rng.uniform(size=n_steps), dtype
    )
    return params, grads, values


def make_quadratic(seed: int = 1, curvature: float = 1.0):
    """``(h, target)``, float64 dicts: the gradient at ``p`` of step ``k`` is then
    ``h * (p - target) + noise_k`` (``noise_k`` the problem's gradient of step ``k``), so
    the learning-rate-free estimates see a distance to a solution (a run whose gradients
    ignore the params never moves far from the start, and float32 params then carry the
    distance ``|x - x_0|`` with few correct digits)."""
    rng = np.random.default_rng(seed)
    h = {k: curvature * np.exp(0.3 * rng.normal(size=s)) for k, s in SHAPES.items()}
    target = {k: 2.0 * rng.normal(size=s) for k, s in SHAPES.items()}
    return h, target


def _grad(quad: Any, p: Any, noise: Any, xp: Any) -> Any:
    if quad is None:
        return noise
    h, target = quad
    dt = next(iter(p.values())).dtype
    return {k: xp.asarray(h[k], dt) * (p[k] - xp.asarray(target[k], dt)) + noise[k] for k in p}


def _run_one(tx: Any, params: Any, grads: Any, values: Any, with_value: bool, quad: Any = None):
    def body(carry, xs):
        state, p = carry
        g, v = xs
        g = _grad(quad, p, g, jnp)
        kw = {"value": v} if with_value else {}
        u, state = tx.update(g, state, p, **kw)
        return (state, gradtx.apply_updates(p, u)), u

    (state, p), us = jax.lax.scan(body, (tx.init(params), params), (grads, values))
    return us, state, p


def run_cases(cases: dict[str, Any], params: Any, grads: Any, values: Any,
              with_value: bool = False, quad: Any = None) -> dict[str, Any]:  # fmt: skip
    """Runs every transformation of ``cases`` (name -> tx) inside ONE jitted function
    (one compile for the whole table); returns name -> (updates stacked, final state,
    final params)."""

    @jax.jit
    def run_all(params, grads, values):
        return {k: _run_one(tx, params, grads, values, with_value, quad)
                for k, tx in cases.items()}  # fmt: skip

    return run_all(params, grads, values)


def run_eager(tx: Any, params: Any, grads: Any, values: Any, with_value: bool = False,
              n_steps: int | None = None, quad: Any = None) -> Any:  # fmt: skip
    """The same run without jit (a Python loop of eager steps); returns the updates
    stacked on a leading axis."""
    n = n_steps or jax.tree.leaves(grads)[0].shape[0]
    state, p, out = tx.init(params), params, []
    for i, g_i in zip(range(n), unstack(grads), strict=False):
        g = _grad(quad, p, g_i, jnp)
        kw = {"value": values[i]} if with_value else {}
        u, state = tx.update(g, state, p, **kw)
        p = gradtx.apply_updates(p, u)
        out.append(u)
    return jax.tree.map(lambda *xs: jnp.stack(xs), *out)


def run_reference(ref: Any, params: Any, grads: Any, values: Any = None,
                  with_value: bool = False, quad: Any = None) -> dict[str, np.ndarray]:  # fmt: skip
    """Runs a float64 reference (``init(params)``, ``update(grads, params[, value])``)
    on the same problem; returns the updates stacked on a leading axis."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    g_all = {k: np.asarray(v, np.float64) for k, v in grads.items()}
    n = next(iter(g_all.values())).shape[0]
    ref.init(p)
    out = []
    for i in range(n):
        g = _grad(quad, p, {k: v[i] for k, v in g_all.items()}, np)
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


def _to_numpy(tree: Any) -> Any:
    return jax.tree.map(np.asarray, tree)


def family_tests(cases: dict[str, tuple], *, eager: tuple[str, ...], quad: Any = None,
                 with_value: bool = False, noise_scale: float = 1.0, param_scale: float = 1.0,
                 eager_steps: int = 10, rtol32: float = 1e-3, floor32: float = 1e-5,
                 rtol_optax: float = 1e-5, floor_optax: float = 1e-6,
                 atol: float = 0.0, float32_only: tuple[str, ...] = ()):  # fmt: skip
    """The tests of a family, for a test module to bind at module level.

    ``cases``: name -> ``(make(m), ref() or None, in_optax)``; ``make`` builds the
    transformation from ``gradtx`` or (``in_optax``) from ``optax`` with the same call.
    Every case (gradtx and optax) runs 50 steps in ONE jitted function, in float32 and
    again in float64 (``jax.enable_x64``). In float64 gradtx equals the float64
    reference to rtol 1e-9 (the same arithmetic: this is the proof of the rule); in
    float32 it equals optax to ``rtol_optax`` (with the same state tree) and the
    reference to ``rtol32`` (the float32 rounding, amplified by the step-size estimates).
    The ``eager`` cases also run without jit, in float64 (their first ``eager_steps``
    steps: eager dispatch of every op is slow on a shared CPU). The ``float32_only``
    cases are compared with optax in float32 only.

    Returns ``(family32, family64, test_equals_reference_float64,
    test_equals_optax_and_state_tree, test_float32_tracks_reference,
    test_no_jit_equals_reference)``.
    """
    import optax
    import optax.contrib  # noqa: F401
    import pytest

    def _run(dtype):
        params, grads, values = make_problem(scale=noise_scale, param_scale=param_scale,
                                             dtype=dtype)  # fmt: skip
        txs = {}
        for name, (make, _, in_optax) in cases.items():
            txs[name] = make(gradtx)
            if in_optax:
                txs[name + "/optax"] = make(optax)
        out = run_cases(txs, params, grads, values, with_value, quad)
        return _to_numpy((params, grads, values)), _to_numpy(out)

    @pytest.fixture(scope="module")
    def family32():
        return _run(jnp.float32)

    @pytest.fixture(scope="module")
    def family64():
        with jax.enable_x64(True):
            return _run(jnp.float64)

    def _expected(name, problem):
        return run_reference(cases[name][1](), *problem, with_value, quad)

    with_ref = [k for k, c in cases.items() if c[1] is not None]

    @pytest.mark.parametrize("name", with_ref)
    def test_equals_reference_float64(name, family64):
        problem, out = family64
        assert_close(out[name][0], _expected(name, problem), 1e-9, 1e-12)

    @pytest.mark.parametrize("name", [k for k, c in cases.items() if c[2]])
    def test_equals_optax_and_state_tree(name, family32, family64):
        runs = [(family32, rtol_optax, floor_optax)]
        if name not in float32_only:
            runs.append((family64, 1e-9, 1e-12))
        for (_, out), rtol, floor in runs:
            us, state, _ = out[name]
            o_us, o_state, _ = out[name + "/optax"]
            assert_close(us, o_us, rtol, floor, atol if rtol == rtol_optax else 0.0)
            assert_same_state(state, o_state, rtol=max(rtol, 1e-5) if rtol > 1e-9 else 1e-9,
                              atol=1e-6 if rtol > 1e-9 else 1e-12)  # fmt: skip

    @pytest.mark.parametrize("name", with_ref)
    def test_float32_tracks_reference(name, family32):
        problem, out = family32
        assert_close(out[name][0], _expected(name, problem), rtol32, floor32, atol)

    @pytest.mark.parametrize("name", list(eager))
    def test_no_jit_equals_reference(name, family64):
        problem, _ = family64
        expected = {k: v[:eager_steps] for k, v in _expected(name, problem).items()}
        with jax.enable_x64(True):
            params, grads, values = jax.tree.map(jnp.asarray, problem)
            tx = cases[name][0](gradtx)
            actual = _to_numpy(run_eager(tx, params, grads, values, with_value, eager_steps,
                                         quad))  # fmt: skip
        assert_close(actual, expected, 1e-9, 1e-12)

    return (family32, family64, test_equals_reference_float64, test_equals_optax_and_state_tree,
            test_float32_tracks_reference, test_no_jit_equals_reference)  # fmt: skip
