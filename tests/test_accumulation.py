"""Gradient accumulation (gradtx.MultiSteps): k micro-batches == one step on their
concatenation; optax.MultiSteps semantics; the inner state is untouched in between."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx

D = 3  # features of the linear least-squares model
M = 4  # rows per micro-batch


def _data(rows, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, D)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.1 * rng.normal(size=rows)).astype(np.float32)
    return x, y


def _loss(params, x, y):
    return 0.5 * jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def _params():
    return {"w": jnp.zeros(D, jnp.float32), "b": jnp.zeros((), jnp.float32)}


OPTIMIZERS = {
    "sgd": lambda: gradtx.sgd(0.1),
    "momentum": lambda: gradtx.sgd(0.1, momentum=0.9),
    "adam": lambda: gradtx.adam(0.05),
    "adabound": lambda: gradtx.adabound(0.05, final_lr=0.1),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_k_micro_batches_equal_one_step_on_the_concatenated_batch(name):
    k, outer = 4, 5
    x, y = _data(outer * k * M)
    opt = OPTIMIZERS[name]()
    acc = gradtx.MultiSteps(opt, every_k_schedule=k)

    @jax.jit
    def run(params):
        def full_step(carry, batch):
            p, s = carry
            u, s = opt.update(jax.grad(_loss)(p, *batch), s, p)
            return (gradtx.apply_updates(p, u), s), None

        def micro_step(carry, batch):
            p, s = carry
            u, s = acc.update(jax.grad(_loss)(p, *batch), s, p)
            return (gradtx.apply_updates(p, u), s), acc.has_updated(s)

        full = (x.reshape(outer, k * M, D), y.reshape(outer, k * M))
        micro = (x.reshape(outer * k, M, D), y.reshape(outer * k, M))
        (p_full, _), _ = jax.lax.scan(full_step, (params, opt.init(params)), full)
        (p_acc, s_acc), updated = jax.lax.scan(micro_step, (params, acc.init(params)), micro)
        return p_full, p_acc, s_acc, updated

    p_full, p_acc, s_acc, updated = run(_params())
    chex.assert_trees_all_close(p_acc, p_full, rtol=1e-5, atol=1e-7)
    assert float(jnp.abs(p_full["w"]).sum()) > 0.1  # the steps did move the params
    np.testing.assert_array_equal(np.asarray(updated), np.tile([0, 0, 0, 1], outer).astype(bool))
    assert int(s_acc.gradient_step) == outer and int(s_acc.mini_step) == 0


def test_variable_k_matches_numpy_momentum_on_concatenated_batches():
    ks = [1, 3, 2, 4, 2]
    lr, mom = 0.1, 0.9
    x, y = _data(sum(ks) * M, seed=1)
    k_table = jnp.asarray(ks, jnp.int32)
    acc = gradtx.MultiSteps(
        gradtx.sgd(lr, momentum=mom), lambda step: k_table[jnp.minimum(step, len(ks) - 1)]
    )

    @jax.jit
    def run(params):
        def micro_step(carry, batch):
            p, s = carry
            u, s = acc.update(jax.grad(_loss)(p, *batch), s, p)
            return (gradtx.apply_updates(p, u), s), u

        micro = (x.reshape(-1, M, D), y.reshape(-1, M))
        return jax.lax.scan(micro_step, (params, acc.init(params)), micro)

    (params, state), updates = run(_params())

    # NumPy: heavy-ball momentum (torch convention v = g + mom v), one step per
    # concatenated batch of ks[t] micro-batches.
    w, b = np.zeros(D), 0.0
    vw, vb = np.zeros(D), 0.0
    start = 0
    for k in ks:
        xb, yb = x[start : start + k * M], y[start : start + k * M]
        start += k * M
        r = xb @ w + b - yb
        gw, gb = xb.T @ r / len(r), r.mean()
        vw, vb = gw + mom * vw, gb + mom * vb
        w, b = w - lr * vw, b - lr * vb
    chex.assert_trees_all_close(params, {"w": w, "b": b}, rtol=1e-5, atol=1e-6)
    # Zero updates on every call that is not the k-th of its window.
    emitted = np.cumsum(ks) - 1
    nonzero = np.flatnonzero(np.abs(np.asarray(updates["w"])).sum(axis=1) > 0)
    np.testing.assert_array_equal(nonzero, emitted)
    assert int(state.gradient_step) == len(ks)


class MultiStepsVsOptaxTest(chex.TestCase):
    # Jitted only: the eager path is exercised by test_sum_mode_inner_state_and_chaining
    # (an eager lax.cond recompiles on every call, too slow for the suite's budget).
    @chex.variants(with_jit=True)
    def test_equals_optax_multisteps_with_variable_k_and_skips(self):
        steps = 8
        x, y = _data(steps * M, seed=2)
        x = x.reshape(steps, M, D)
        y = y.reshape(steps, M)
        y[4, 1] = np.nan  # a NaN batch: should_skip_update_fn drops it

        def every_k(step):
            return jnp.where(step < 1, 2, 3)

        ours = gradtx.MultiSteps(
            gradtx.adam(0.05), every_k, should_skip_update_fn=optax.skip_not_finite
        )
        theirs = optax.MultiSteps(
            optax.adam(0.05), every_k, should_skip_update_fn=optax.skip_not_finite
        )
        update = self.variant(ours.update)
        their_update = jax.jit(theirs.update)
        grad = jax.jit(jax.grad(_loss))
        p1 = p2 = _params()
        s1, s2 = ours.init(p1), theirs.init(p2)
        skipped = []
        for t in range(steps):
            g1, g2 = grad(p1, x[t], y[t]), grad(p2, x[t], y[t])
            inner_before = s1.inner_opt_state
            u1, s1 = update(g1, s1, p1)
            u2, s2 = their_update(g2, s2, p2)
            chex.assert_trees_all_close(u1, u2, rtol=1e-5, atol=1e-7)
            p1, p2 = gradtx.apply_updates(p1, u1), optax.apply_updates(p2, u2)
            assert bool(ours.has_updated(s1)) == bool(theirs.has_updated(s2))
            for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s2), strict=True):
                np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
            if not bool(ours.has_updated(s1)):  # inner state bit-for-bit unchanged
                chex.assert_trees_all_equal(s1.inner_opt_state, inner_before)
            skipped.append(bool(s1.skip_state["should_skip"]))
        assert skipped == [t == 4 for t in range(steps)]
        assert int(s1.gradient_step) == 2  # windows of 2 and 3 (+ the skipped call)
        assert int(s1.mini_step) == 2
        assert all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree.leaves(p1))


def test_sum_mode_inner_state_and_chaining():
    opt = gradtx.sgd(1.0)
    acc = gradtx.MultiSteps(opt, 3, use_grad_mean=False)
    params = {"w": jnp.zeros(2)}
    state = acc.init(params)
    outs = []
    for g in ([1.0, 2.0], [3.0, -1.0], [0.5, 0.5], [1.0, 1.0]):
        u, state = acc.update({"w": jnp.asarray(g)}, state, params)
        outs.append(np.asarray(u["w"]))
    np.testing.assert_allclose(outs, [[0, 0], [0, 0], [-4.5, -1.5], [0, 0]])
    chex.assert_trees_all_close(state.acc_grads, {"w": jnp.asarray([1.0, 1.0])})
    # As a link of a chain (gradtx and optax), with the wrapped state inside.
    for chain in (gradtx.chain, optax.chain):
        tx = chain(gradtx.clip_by_global_norm(1.0), acc.gradient_transformation())
        s = tx.init(params)
        for _ in range(3):
            u, s = tx.update({"w": jnp.asarray([3.0, 4.0])}, s, params)
        np.testing.assert_allclose(np.asarray(u["w"]), [-1.8, -2.4], rtol=1e-6)
    assert acc.inner_opt is opt


def test_bad_arguments():
    opt = gradtx.sgd(0.1)
    for k in (0, -2, 1.5, True, None):
        with pytest.raises(ValueError, match="every_k_schedule"):
            gradtx.MultiSteps(opt, k)
    with pytest.raises(TypeError, match="opt must be a gradient transformation"):
        gradtx.MultiSteps(lambda g: g, 2)
    with pytest.raises(TypeError, match="use_grad_mean"):
        gradtx.MultiSteps(opt, 2, use_grad_mean="yes")
    with pytest.raises(ValueError, match=r"every_k_schedule\(0\) must be an integer >= 1"):
        gradtx.MultiSteps(opt, lambda step: 0).init({"w": jnp.zeros(2)})
    acc = gradtx.MultiSteps(opt, 2, should_skip_update_fn=lambda u, s, p: (jnp.zeros(2), ()))
    with pytest.raises(ValueError, match="boolean scalar"):
        acc.update({"w": jnp.ones(2)}, acc.init({"w": jnp.zeros(2)}))
    acc = gradtx.MultiSteps(opt, 2)
    with pytest.raises(ValueError, match="does not match"):
        acc.update({"v": jnp.ones(2)}, acc.init({"w": jnp.zeros(2)}))
