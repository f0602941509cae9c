"""GaLore in gradtx.contrib (issue 15): equal to its float64 reference
(``tests/reference/contrib_curvature_ref.py``, Zhao et al.'s Algorithm 1 with an Adam
base) and to optax.contrib over 50 steps, jitted (one compiled function) and eagerly;
both projection sides (a (3, 4) matrix is projected from the right, its transpose view
from the left), dimension numbers on a 3-D leaf, optax's signature and state tree.

Singular vectors are defined up to sign, and the base optimiser's state persists across
projector refreshes, so a NumPy SVD can only be compared where the sign cannot matter:
one projector for the whole run (``update_proj_gap`` > 50) with Adam, or frequent
refreshes with a sign-equivariant stateless base (``scale_by_sign``). Against optax
(the same ``jnp.linalg.svd``) every case is compared.
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
    run_eager,
    run_jitted,
    run_reference_on,
    signature_matches,
    skeleton,
)
from reference.harness import assert_close, make_problem

import gradtx
import gradtx.contrib

# Slow (many compiles, eager 50-step runs): deselect with -m "not slow"; CI runs it.
pytestmark = pytest.mark.slow

RTOL_REF, FLOOR_REF = 1e-4, 1e-5
RTOL_OPTAX, FLOOR_OPTAX = 1e-5, 1e-6


def problem(n=50):
    params, grads = make_problem(n)
    rng = np.random.default_rng(4)
    params["kernel"] = jnp.asarray(rng.normal(size=(2, 3, 5)), jnp.float32)
    grads["kernel"] = jnp.asarray(rng.normal(size=(n, 2, 3, 5)), jnp.float32)
    return params, grads


def _top(m):
    return gradtx if m is gradtx.contrib else optax


SHAPE3 = (2, 3, 5)
DEFAULT_VIEWS = {"matrix": (lambda x: x, lambda y: y)}  # 2-D leaves only, as (3, 4)
TRANSPOSED_VIEWS = {
    "matrix": (lambda x: x.T, lambda y: y.T),  # (4, 3): projected from the left
    "kernel": (lambda x: x.reshape(6, 5), lambda y: y.reshape(SHAPE3)),  # axes (0, 1) x 2
}


def _dims(m):
    dn = m.GaLoreDimensionNumbers
    return {"matrix": dn(1, 0), "vector": None, "scalar": None, "kernel": dn((0, 1), 2)}


class _Sign:
    def __call__(self, g):
        return np.sign(g)


CASES = [
    ("galore_one_projector", lambda m: m.galore(0.01, rank=2, update_proj_gap=100),
     lambda: C.GaLore(0.01, 2, 100, DEFAULT_VIEWS), True, {}),
    ("galore_left_and_3d_wd",
     lambda m: m.galore(0.01, rank=2, update_proj_gap=100, scale=0.25, weight_decay=0.1,
                        weight_dimension_numbers=_dims(m)),
     lambda: C.GaLore(0.01, 2, 100, TRANSPOSED_VIEWS, scale=0.25, weight_decay=0.1), True, {}),
    ("galore_refresh_every_5_sign",
     lambda m: m.galore(0.01, rank=1, update_proj_gap=5,
                        base_optimizer=_top(m).scale_by_sign(),
                        weight_dimension_numbers=_dims(m)),
     lambda: C.GaLore(0.01, 1, 5, TRANSPOSED_VIEWS, base=_Sign), True, {}),
    ("galore_refresh_every_7_adam", lambda m: m.galore(0.01, rank=2, update_proj_gap=7),
     None, True, {}),
]


@pytest.fixture(scope="module")
def jitted():
    params, grads = problem()
    return run_jitted(CASES, params, grads)


@pytest.mark.parametrize("name", [c[0] for c in CASES if c[2] is not None])
def test_matches_numpy_reference_with_jit(jitted, name):
    params, grads = problem()
    ref = next(c[2] for c in CASES if c[0] == name)()
    assert_close(jitted[name][0], run_reference_on(ref, params, grads), RTOL_REF, FLOOR_REF)


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_equals_optax_contrib(jitted, name):
    ours, theirs = jitted[name]
    assert_close(ours, theirs, RTOL_OPTAX, FLOOR_OPTAX)


def test_matches_numpy_reference_without_jit():
    params, grads = problem()
    _, make, ref, _, _ = CASES[1]
    updates = run_eager(make(gradtx.contrib), params, grads)
    assert_close(updates, run_reference_on(ref(), params, grads), RTOL_REF, FLOOR_REF)


def _placeholders_as_gradtx(state):
    """optax's state with its (0, 0) projector placeholders (leaves not projected) as
    gradtx's 0-d zeros: orbax refuses to save a zero-size array (the one named difference
    of the state trees; see scale_by_galore's docstring)."""
    galore = state[0]
    projector = jax.tree.map(
        lambda x: jnp.zeros((), x.dtype) if x.shape == (0, 0) else x, galore.projector)
    return (galore._replace(projector=projector), *state[1:])


def test_signatures_and_state_tree_equal_optax():
    signature_matches("galore")
    signature_matches("scale_by_galore")
    params, grads = problem(1)
    g = jax.tree.map(lambda x: x[0], grads)

    def make(m):
        return m.galore(0.01, rank=2, weight_dimension_numbers=_dims(m))

    ours_tx, theirs_tx = make(gradtx.contrib), make(optax.contrib)
    ours, theirs = ours_tx.init(params), theirs_tx.init(params)
    assert skeleton(ours) == skeleton(_placeholders_as_gradtx(theirs))
    assert skeleton(ours) != skeleton(theirs)  # the placeholders ("vector", "scalar")
    # a checkpoint moves both ways: each library's leaves run in the other's tree
    structure = jax.tree.structure(ours)
    u_theirs, _ = theirs_tx.update(g, theirs, params)
    u_ours, _ = ours_tx.update(g, ours, params)
    u_moved_in, _ = ours_tx.update(g, jax.tree.unflatten(structure, jax.tree.leaves(theirs)),
                                   params)
    u_moved_out, _ = theirs_tx.update(
        g, jax.tree.unflatten(jax.tree.structure(theirs), jax.tree.leaves(ours)), params)
    for us in (u_ours, u_moved_in, u_moved_out):
        for a, b in zip(jax.tree.leaves(us), jax.tree.leaves(u_theirs), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)


def test_float16_state_and_no_zero_size_leaf():
    """float16 params: projectors in float32 (the state policy), the base optimiser's
    moments too; the state (placeholders included) has no zero-size leaf for orbax."""
    params = {"w": jnp.ones((4, 3), jnp.float16), "b": jnp.ones(3, jnp.float16)}
    tx = gradtx.contrib.galore(0.01, rank=1)
    _, state = tx.update(jax.tree.map(lambda p: 300 * p, params), tx.init(params), params)
    assert state[0].projector["w"].dtype == jnp.float32
    assert state[0].projector["w"].shape == (4, 1)  # m >= n: P = U[:, :r]
    assert state[0].projector["b"].shape == ()
    assert all(x.size for x in jax.tree.leaves(state))


def test_bad_arguments():
    with pytest.raises(ValueError, match="rank"):
        gradtx.contrib.galore(0.1, rank=0)
    with pytest.raises(TypeError, match="rank"):
        gradtx.contrib.galore(0.1, rank=2.0)
    with pytest.raises(ValueError, match="update_proj_gap"):
        gradtx.contrib.galore(0.1, update_proj_gap=0)
    tx = gradtx.contrib.galore(0.1, weight_dimension_numbers=gradtx.contrib.GaLoreDimensionNumbers(
        (0, 1), 1))
    with pytest.raises(ValueError, match="disjoint"):
        tx.init({"k": jnp.ones((2, 3, 4))})
