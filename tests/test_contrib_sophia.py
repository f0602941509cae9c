"""Sophia and Hutchinson's Hessian-diagonal estimator in gradtx.contrib (issue 15).

Sophia equals its float64 reference (``tests/reference/contrib_curvature_ref.py``, the
paper's Algorithm 3 in optax's convention) and optax.contrib over 50 steps, jitted (one
compiled function for the table) and eagerly. The objective has a diagonal Hessian
``2a + 1.2 p^2``, where Hutchinson's estimate is exact whatever the signs, so the
reference needs no random numbers; the estimator itself is checked on a dense Hessian
(the same signs as optax for the same key, and unbiased over many keys). The training
step of ``docs/contrib_training_steps.md`` is run by ``tests/test_contrib_sam.py``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest
from reference import contrib_curvature_ref as C
from reference.contrib_harness import (
    problem,
    run_eager,
    run_jitted,
    run_reference_on,
    signature_matches,
    state_moves_both_ways,
)
from reference.harness import SHAPES, assert_close, decay_schedule

import gradtx
import gradtx.contrib

# Slow (many compiles, eager 50-step runs): deselect with -m "not slow"; CI runs it.
pytestmark = pytest.mark.slow

RTOL_REF, FLOOR_REF = 1e-4, 2e-6
RTOL_OPTAX, FLOOR_OPTAX = 1e-5, 1e-6

_rng = np.random.default_rng(7)
A = {k: _rng.uniform(0.5, 3.0, size=s) for k, s in SHAPES.items()}
A32 = {k: jnp.asarray(v, jnp.float32) for k, v in A.items()}


def obj_fn(p):
    """Separable: the Hessian is diagonal, ``2a + 1.2 p^2``."""
    return sum(jnp.sum(A32[k] * p[k] ** 2 + 0.1 * p[k] ** 4) for k in p)


def hess_diag(p):
    return {k: 2 * A[k] + 1.2 * np.asarray(p[k], np.float64) ** 2 for k in p}


EXTRA = {"obj_fn": obj_fn}
MASK = {"matrix": True, "vector": False, "scalar": True}


def _case(name, make, ref, in_optax=True):
    return (name, make, ref, in_optax, EXTRA)


CASES = [
    _case("sophia", lambda m: m.sophia(0.01), lambda: C.Sophia(0.01, hess_diag)),
    _case(
        "sophia_interval3_schedule_wd",
        lambda m: m.sophia(decay_schedule, b1=0.9, b2=0.9, weight_decay=0.1, gamma=0.05,
                           clip_threshold=0.5, update_interval=3,
                           hessian_diagonal_fn=m.hutchinson_estimator_diag_hessian(
                               jax.random.PRNGKey(3))),
        lambda: C.Sophia(decay_schedule, hess_diag, b1=0.9, b2=0.9, weight_decay=0.1,
                         gamma=0.05, clip_threshold=0.5, update_interval=3),
    ),
    _case(
        "sophia_noclip_interval1",
        lambda m: m.sophia(1e-3, gamma=1.0, clip_threshold=None, update_interval=1),
        lambda: C.Sophia(1e-3, hess_diag, gamma=1.0, clip_threshold=None, update_interval=1),
    ),
]


@pytest.fixture(scope="module")
def jitted():
    params, grads = problem()
    return run_jitted(CASES, params, grads)


@pytest.fixture(scope="module")
def references():
    params, grads = problem()
    return {name: run_reference_on(ref(), params, grads) for name, _, ref, _, _ in CASES}


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_matches_numpy_reference_with_jit(jitted, references, name):
    assert_close(jitted[name][0], references[name], RTOL_REF, FLOOR_REF)


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_equals_optax_contrib(jitted, name):
    ours, theirs = jitted[name]
    assert_close(ours, theirs, RTOL_OPTAX, FLOOR_OPTAX)


def test_matches_numpy_reference_without_jit(references):
    params, grads = problem()
    name, make, _, _, extra = CASES[1]
    # The objective jitted, as a user would pass it: Hutchinson's estimator differentiates
    # it (forward over reverse) every refresh, op by op when it is a plain function (2/3
    # of this test's time); Sophia's update itself still runs eagerly.
    extra = {**extra, "obj_fn": jax.jit(extra["obj_fn"])}
    updates = run_eager(make(gradtx.contrib), params, grads, extra)
    assert_close(updates, references[name], RTOL_REF, FLOOR_REF)


def test_the_paper_s_order_differs_from_optax_s():
    """The paper refreshes h before the step and does not bias-correct m: a different
    run (so the reference's flag is not a no-op); gradtx follows optax."""
    params, grads = problem(12)
    kw = {"gamma": 1.0, "clip_threshold": None}  # unclipped, or both take sign steps
    ours = run_reference_on(C.Sophia(0.01, hess_diag, **kw), params, grads)
    paper = run_reference_on(C.Sophia(0.01, hess_diag, optax=False, **kw), params, grads)
    assert max(float(np.max(np.abs(ours[k] - paper[k]))) for k in ours) > 1e-3


def _dense_problem():
    rng = np.random.default_rng(3)
    m = rng.normal(size=(5, 5))
    h = jnp.asarray(m @ m.T + np.diag(rng.uniform(1, 2, 5)), jnp.float32)
    return h, (lambda p: 0.5 * p["x"] @ h @ p["x"] + jnp.sum(p["y"] ** 2)), {
        "x": jnp.ones(5), "y": jnp.ones(3)}


def test_hutchinson_equals_optax_for_the_same_key_on_a_dense_hessian():
    _, f, p = _dense_problem()
    key = jax.random.PRNGKey(11)
    ours = gradtx.contrib.hutchinson_estimator_diag_hessian(key)
    theirs = optax.contrib.hutchinson_estimator_diag_hessian(key)
    so, st = ours.init(p), theirs.init(p)
    for _ in range(3):
        uo, so = ours.update(p, so, p, obj_fn=f)
        ut, st = theirs.update(p, st, p, obj_fn=f)
        for a, b in zip(jax.tree.leaves(uo), jax.tree.leaves(ut), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_array_equal(jax.random.key_data(so.key), jax.random.key_data(st.key))


def test_hutchinson_is_unbiased_on_a_dense_hessian():
    """The mean of u * (H u) over 4000 keys is diag(H), within 5 standard errors
    (the per-entry standard deviation is sqrt(sum_{j != i} H_ij^2))."""
    h, f, p = _dense_problem()
    n = 4000

    @jax.jit
    def estimates(keys):
        def one(key):
            est = gradtx.contrib.hutchinson_estimator_diag_hessian(key)
            return est.update(p, est.init(p), p, obj_fn=f)[0]["x"]

        return jax.vmap(one)(keys)

    e = np.asarray(estimates(jax.random.split(jax.random.PRNGKey(0), n)), np.float64)
    hn = np.asarray(h, np.float64)
    sd = np.sqrt(np.sum(hn**2, axis=1) - np.diag(hn) ** 2)
    assert np.all(np.abs(e.mean(0) - np.diag(hn)) < 5 * sd / np.sqrt(n))
    assert np.all(e.std(0) > 0.5 * sd)  # the signs do vary: not a constant estimate


def test_hutchinson_and_sophia_need_their_arguments():
    p = {"x": jnp.ones(2)}
    est = gradtx.contrib.hutchinson_estimator_diag_hessian()
    with pytest.raises(ValueError, match="obj_fn"):
        est.update(p, est.init(p), p)
    with pytest.raises(ValueError, match="params"):
        est.update(p, est.init(p), None, obj_fn=lambda q: 0.0)
    tx = gradtx.contrib.sophia(0.1)
    with pytest.raises(ValueError, match="params"):
        tx.update(p, tx.init(p))


def test_signatures_equal_optax():
    signature_matches("hutchinson_estimator_diag_hessian")
    for name in ("sophia",):
        ours = gradtx.contrib.sophia
        import inspect

        a = list(inspect.signature(ours).parameters.values())
        b = list(inspect.signature(getattr(optax.contrib, name)).parameters.values())
        assert [(p.name, p.kind) for p in a] == [(p.name, p.kind) for p in b]
        for x, y in zip(a, b, strict=True):
            if x.name != "hessian_diagonal_fn":  # optax builds its default at import
                assert x.default == y.default, x.name


def test_state_tree_equals_optax_and_moves_both_ways():
    params, grads = problem(1)
    g = jax.tree.map(lambda x: x[0], grads)
    state_moves_both_ways(
        lambda m: m.sophia(0.01, weight_decay_mask=MASK, update_interval=2), params, g, EXTRA)


@pytest.mark.parametrize(
    "kwargs,param",
    [({"b1": 1.0}, "b1"), ({"gamma": 0.0}, "gamma"), ({"eps": 0.0}, "eps"),
     ({"update_interval": 0}, "update_interval"), ({"clip_threshold": -1.0}, "clip_threshold"),
     ({"verbose": True}, "print_win_rate_every_n_steps"), ({"weight_decay": -1.0}, "weight_decay")],
)
def test_bad_hyperparameters_raise_naming_the_parameter(kwargs, param):
    with pytest.raises(ValueError, match=param):
        gradtx.contrib.sophia(0.1, **kwargs)
