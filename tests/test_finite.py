"""Non-finite steps: apply_if_finite skips NaN/Inf steps (inner state and params
untouched) and gives up after max_consecutive_errors; zero_nans zeroes NaNs."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx

STEPS = 10
NAN_AT = {2: np.nan, 5: np.inf, 6: -np.inf, 7: np.nan}  # step -> bad value injected
MAX_ERRORS = 2


def _grads():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(STEPS, 3)).astype(np.float32)
    b = rng.normal(size=(STEPS,)).astype(np.float32)
    for t, bad in NAN_AT.items():
        w[t, 1] = bad
    return {"w": jnp.asarray(w), "b": jnp.asarray(b)}


def _expected_rule():
    """The rule, straight from its definition: counts and which steps go through."""
    count, total, rows = 0, 0, []
    for t in range(STEPS):
        finite = t not in NAN_AT
        count = 0 if finite else count + 1
        total += 0 if finite else 1
        rows.append((count, finite, total, finite or count > MAX_ERRORS))
    return [np.array(col) for col in zip(*rows, strict=True)]


def _run(tx, grads):
    params = {"w": jnp.ones(3), "b": jnp.zeros(())}

    def step(carry, g):
        p, s = carry
        u, s = tx.update(g, s, p)
        p = optax.apply_updates(p, u)
        return (p, s), (u, p, s)

    return jax.lax.scan(step, (params, tx.init(params)), grads)[1]


def _at(tree, t):
    return jax.tree.map(lambda x: x[t], tree)


def test_apply_if_finite_skips_counts_gives_up_and_equals_optax():
    grads = _grads()
    ours = jax.jit(_run, static_argnums=0)(
        gradtx.apply_if_finite(gradtx.adam(0.1), MAX_ERRORS), grads
    )
    theirs = jax.jit(_run, static_argnums=0)(
        optax.apply_if_finite(optax.adam(0.1), MAX_ERRORS), grads
    )
    u, p, s = ours
    count, last_finite, total, applied = _expected_rule()
    np.testing.assert_array_equal(s.notfinite_count, count)
    np.testing.assert_array_equal(s.last_finite, last_finite)
    np.testing.assert_array_equal(s.total_notfinite, total)
    # Steps that went through advance Adam's count; skipped ones leave everything as is.
    np.testing.assert_array_equal(s.inner_state[0].count, np.cumsum(applied))
    for t in np.flatnonzero(~applied):
        chex.assert_trees_all_equal(_at(u, t), {"w": jnp.zeros(3), "b": jnp.zeros(())})
        chex.assert_trees_all_equal(_at((p, s.inner_state), t), _at((p, s.inner_state), t - 1))
    # Step 7 is the third consecutive non-finite one (> MAX_ERRORS): it gives up.
    assert applied.tolist() == [1, 1, 0, 1, 1, 0, 0, 1, 1, 1]
    assert not np.isfinite(np.asarray(u["w"][7])).all()
    # Equal to optax, leaf by leaf (NaNs in the same places after giving up).
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


class ApplyIfFiniteVariantsTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_skipped_step_leaves_params_and_momentum_untouched(self):
        tx = gradtx.apply_if_finite(gradtx.sgd(0.1, momentum=0.9), max_consecutive_errors=0)
        update = self.variant(tx.update)
        params = {"w": jnp.asarray([1.0, 2.0])}
        state = tx.init(params)
        u, state = update({"w": jnp.asarray([1.0, 1.0])}, state, params)
        params = gradtx.apply_updates(params, u)
        trace_before = state.inner_state[0].trace
        # max_consecutive_errors=0: the first NaN step already goes through ...
        u, s_nan = update({"w": jnp.asarray([np.nan, 1.0])}, state, params)
        assert np.isnan(np.asarray(u["w"][0])) and int(s_nan.notfinite_count) == 1
        # ... while with max 1 it is skipped: zero update, same momentum.
        tx1 = gradtx.apply_if_finite(gradtx.sgd(0.1, momentum=0.9), max_consecutive_errors=1)
        u, s1 = self.variant(tx1.update)(
            {"w": jnp.asarray([np.inf, 1.0])}, tx1.init(params)._replace(
                inner_state=state.inner_state), params
        )
        chex.assert_trees_all_equal(u, {"w": jnp.zeros(2)})
        chex.assert_trees_all_equal(s1.inner_state[0].trace, trace_before)
        chex.assert_trees_all_equal(gradtx.apply_updates(params, u), params)
        assert not bool(s1.last_finite) and int(s1.total_notfinite) == 1


def test_zero_nans_matches_numpy_and_optax():
    g = {
        "w": jnp.asarray([[1.0, np.nan], [np.inf, -2.0]]),
        "b": jnp.asarray(3.0),
        "c": jnp.asarray([np.nan, np.nan, -np.inf]),
    }
    tx = gradtx.zero_nans()
    state = tx.init(g)
    chex.assert_trees_all_equal(state.found_nan, {"w": False, "b": False, "c": False})
    u, state = jax.jit(tx.update)(g, state)
    expected = {
        "w": np.where(np.isnan(np.asarray(g["w"])), 0.0, np.asarray(g["w"])),
        "b": np.float32(3.0),
        "c": np.array([0.0, 0.0, -np.inf]),
    }
    chex.assert_trees_all_equal(jax.tree.map(np.asarray, u), expected, strict=False)
    chex.assert_trees_all_equal(
        jax.tree.map(np.asarray, state.found_nan), {"w": True, "b": False, "c": True},
        strict=False,
    )
    ou, ostate = optax.zero_nans().update(g, optax.zero_nans().init(g))
    chex.assert_trees_all_equal(u, ou)
    chex.assert_trees_all_equal(state.found_nan, ostate.found_nan)
    # First link of a chain: the optimiser never sees the NaN.
    chained = gradtx.chain(gradtx.zero_nans(), gradtx.sgd(0.5))
    u, _ = chained.update({"w": jnp.asarray([np.nan, 2.0])}, chained.init({"w": jnp.zeros(2)}))
    np.testing.assert_array_equal(np.asarray(u["w"]), [0.0, -1.0])


def test_bad_arguments():
    for bad in (-1, 1.5, True, None):
        with pytest.raises(ValueError, match="max_consecutive_errors must be an integer >= 0"):
            gradtx.apply_if_finite(gradtx.sgd(0.1), bad)
    with pytest.raises(TypeError, match="inner must be a gradient transformation"):
        gradtx.apply_if_finite(0.1, 3)
    tx = gradtx.apply_if_finite(gradtx.sgd(0.1), 3)
    with pytest.raises(TypeError, match="floating point"):
        tx.update({"w": jnp.asarray([1, 2])}, tx.init({"w": jnp.zeros(2)}))
