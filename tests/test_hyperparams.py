"""inject_hyperparams / set_hyperparams: hyperparameters (schedules included) as state."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from gradtx import schedules

W0 = np.array([1.0, -2.0, 3.0], np.float32)
SCALES = np.array([1.0, 2.0, 3.0], np.float32)


def loss(p):
    return jnp.sum(SCALES * p["w"] ** 2) + p["b"] ** 4


def params0():
    return {"w": W0.copy(), "b": np.float32(0.5)}


def run(opt, n, apply=gradtx.apply_updates):
    """``n`` steps of one jitted update; returns the params and every state."""
    p, s = params0(), opt.init(params0())
    update = jax.jit(opt.update)
    states = []
    for _ in range(n):
        u, s = update(jax.grad(loss)(p), s, p)
        p = apply(p, u)
        states.append(s)
    return p, states


def test_equals_optax_inject_hyperparams_adam_with_schedule():
    sched = schedules.warmup_cosine_decay(0.0, 0.1, warmup_steps=3, decay_steps=10)
    osched = optax.warmup_cosine_decay_schedule(0.0, 0.1, warmup_steps=3, decay_steps=10)
    opt = gradtx.inject_hyperparams(gradtx.adam)(learning_rate=sched, b1=0.8, eps=1e-6)
    oopt = optax.inject_hyperparams(optax.adam)(learning_rate=osched, b1=0.8, eps=1e-6)
    p, states = run(opt, 12)
    q, ostates = run(oopt, 12, optax.apply_updates)
    chex.assert_trees_all_close(p, q, rtol=1e-5, atol=1e-7)
    for s, o in zip(states, ostates, strict=True):
        # optax's tree: hyperparams holds the value the last step used (a plain leaf, as
        # optax), the schedule itself is in hyperparams_states
        assert s._fields == o._fields and set(s.hyperparams) == set(o.hyperparams)
        assert set(o.hyperparams_states) == {"learning_rate"}  # optax: WrappedScheduleState
        assert set(s.hyperparams_states) == {"learning_rate_schedule"}  # the schedule
        sched_in_state = s.hyperparams_states["learning_rate_schedule"]
        assert isinstance(sched_in_state, schedules.warmup_cosine_decay)
        np.testing.assert_allclose(
            sched_in_state(jnp.maximum(s.count - 1, 0)), o.hyperparams["learning_rate"], 1e-6
        )
        np.testing.assert_allclose(
            float(s.hyperparams["learning_rate"]), o.hyperparams["learning_rate"], 1e-6
        )
        for k in ("b1", "b2", "eps", "eps_root"):
            assert s.hyperparams[k].dtype == jnp.float32
            np.testing.assert_allclose(s.hyperparams[k], o.hyperparams[k])
    chex.assert_trees_all_close(
        jax.tree.leaves(states[-1].inner_state), jax.tree.leaves(ostates[-1].inner_state), rtol=1e-5
    )


def test_plain_callable_is_evaluated_and_its_value_stored_like_optax():
    fn = lambda k: 0.1 / (1.0 + k)  # noqa: E731 - a closure, not a pytree
    opt = gradtx.inject_hyperparams(gradtx.sgd)(learning_rate=fn, momentum=0.5)
    oopt = optax.inject_hyperparams(optax.sgd)(learning_rate=fn, momentum=0.5)
    p, states = run(opt, 5)
    q, ostates = run(oopt, 5, optax.apply_updates)
    chex.assert_trees_all_close(p, q, rtol=1e-6)
    for s, o in zip(states, ostates, strict=True):
        np.testing.assert_allclose(s.hyperparams["learning_rate"], o.hyperparams["learning_rate"])
        assert s.hyperparams["learning_rate"].dtype == jnp.float32
    # numpy reference: heavy-ball v = g + 0.5 v, p -= lr_k v
    w, b, vw, vb = W0.astype(np.float64), 0.5, 0.0, 0.0
    for k in range(5):
        gw, gb = 2 * SCALES * w, 4 * b**3
        vw, vb = gw + 0.5 * vw, gb + 0.5 * vb
        w, b = w - 0.1 / (1 + k) * vw, b - 0.1 / (1 + k) * vb
    np.testing.assert_allclose(p["w"], w, rtol=1e-5)


def test_replacing_hyperparams_between_steps_does_not_recompile():
    traces = []
    opt = gradtx.inject_hyperparams(gradtx.sgd)(
        learning_rate=schedules.step_lr(0.1, step_size=2, gamma=0.5), momentum=0.0
    )

    @jax.jit
    def step(p, s):
        traces.append(1)
        u, s = opt.update(jax.grad(loss)(p), s, p)
        return u, s

    p = params0()
    s = opt.init(p)
    g = jax.grad(loss)(p)
    u, s = step(p, s)  # lr = 0.1 at step 0
    chex.assert_trees_all_close(u, jax.tree.map(lambda x: -0.1 * x, g), rtol=1e-6)
    s = gradtx.set_hyperparams(s, learning_rate=schedules.step_lr(2.0, step_size=2, gamma=0.25))
    s = gradtx.set_hyperparams(s, momentum=0.0)
    u, s = step(p, s)  # the new schedule at step 1: 2.0
    chex.assert_trees_all_close(u, jax.tree.map(lambda x: -2.0 * x, g), rtol=1e-6)
    s = s._replace(hyperparams={**s.hyperparams, "momentum": jnp.asarray(0.9, jnp.float32)})
    _, s = step(p, s)
    assert len(traces) == 1
    assert int(s.count) == 3 and s.inner_state[0].trace is not None


def test_set_hyperparams_in_a_chain_and_its_errors():
    opt = gradtx.chain(
        gradtx.clip_by_global_norm(1.0), gradtx.inject_hyperparams(gradtx.adam)(1e-3)
    )
    s = opt.init(params0())
    s2 = gradtx.set_hyperparams(s, learning_rate=5e-4, b2=0.99)
    assert s2[1].hyperparams["learning_rate"].dtype == jnp.float32
    np.testing.assert_allclose(s2[1].hyperparams["learning_rate"], 5e-4)
    np.testing.assert_allclose(s[1].hyperparams["learning_rate"], 1e-3)  # not mutated
    with pytest.raises(KeyError, match="'momentum'"):
        gradtx.set_hyperparams(s, momentum=0.9)
    with pytest.raises(ValueError, match="learning_rate.*structure"):
        gradtx.set_hyperparams(s, learning_rate=schedules.constant(1e-3))
    with pytest.raises(ValueError, match="shape"):
        gradtx.set_hyperparams(s, learning_rate=np.ones(2))
    with pytest.raises(TypeError, match="inject_hyperparams"):
        gradtx.set_hyperparams(gradtx.adam(1e-3).init(params0()), learning_rate=1.0)


def test_bad_values_raise_at_construction_and_static_args():
    with pytest.raises(ValueError, match=r"b2 must be in \[0, 1\), got 1.5"):
        gradtx.inject_hyperparams(gradtx.adam)(learning_rate=0.1, b2=1.5)
    with pytest.raises(ValueError, match="static_args"):
        gradtx.inject_hyperparams(gradtx.adam, static_args="nope")
    with pytest.raises(TypeError, match="inner_factory"):
        gradtx.inject_hyperparams(3)
    with pytest.raises(TypeError, match="inner_factory.*must be a gradient transformation"):
        gradtx.inject_hyperparams(lambda learning_rate: learning_rate)(0.1)
    # a mask function is not a schedule: static_args keeps it out of the state
    mask = lambda p: {"w": True, "b": False}  # noqa: E731
    opt = gradtx.inject_hyperparams(gradtx.adamw, static_args="mask")(
        1e-2, weight_decay=0.5, mask=mask
    )
    s = opt.init(params0())
    assert "mask" not in s.hyperparams and "weight_decay" in s.hyperparams
    oopt = optax.inject_hyperparams(optax.adamw, static_args="mask")(
        1e-2, weight_decay=0.5, mask=mask
    )
    p, _ = run(opt, 3)
    q, _ = run(oopt, 3, optax.apply_updates)
    chex.assert_trees_all_close(p, q, rtol=1e-5)


def test_dtypes_follow_params_and_stay_fixed_in_a_scan():
    # float16, not bfloat16: gradtx._checks.check_number rejects concrete bfloat16
    # arrays (NumPy dtype kind "V"); reported to the core engineer.
    p = jax.tree.map(lambda x: jnp.asarray(x, jnp.float16), params0())
    opt = gradtx.inject_hyperparams(gradtx.adam)(
        learning_rate=schedules.exponential_lr(0.1, gamma=0.9), b1=lambda k: 0.9
    )
    s = opt.init(p)
    # Float hyperparameters are stored in at least float32 (docs/dtypes.md): float16
    # would round eps = 1e-8 to 0 (optax stores them in the params' float16).
    assert s.hyperparams["b2"].dtype == jnp.float32
    assert s.hyperparams["b1"].dtype == jnp.float32
    assert {x.dtype for x in jax.tree.leaves(s.hyperparams_states["learning_rate_schedule"])} == {
        jnp.dtype(jnp.float32)
    }
    # the schedule's value for the step too (float16 would store 0.1 as 0.09998)
    assert s.hyperparams["learning_rate"].dtype == jnp.float32

    def body(carry, _):
        p, s = carry
        g = jax.tree.map(lambda x: jnp.ones_like(x), p)
        u, s = opt.update(g, s)  # params=None: dtypes come from the state
        return (gradtx.apply_updates(p, u), s), None

    (p2, s2), _ = jax.jit(lambda c: jax.lax.scan(body, c, None, length=3))((p, s))
    chex.assert_trees_all_equal_dtypes(s2, s)
    f32 = gradtx.inject_hyperparams(gradtx.adam, hyperparam_dtype=jnp.float32)(0.1).init(p)
    assert f32.hyperparams["learning_rate"].dtype == jnp.float32


def test_hyperparams_traced_under_jit_vmap_and_grad():
    """Construction-time checks skip traced values: the optimiser is built inside jit,
    vmapped over learning rates and differentiated with respect to one."""

    def final_loss(lr):
        opt = gradtx.inject_hyperparams(gradtx.sgd)(learning_rate=lr, momentum=0.5)
        p, s = params0(), opt.init(params0())
        for _ in range(3):
            u, s = opt.update(jax.grad(loss)(p), s, p)
            p = gradtx.apply_updates(p, u)
        return loss(p)

    lrs = jnp.array([0.001, 0.01, 0.05], jnp.float32)
    batched = jax.jit(jax.vmap(final_loss))(lrs)
    single = [float(final_loss(float(lr))) for lr in lrs]
    np.testing.assert_allclose(batched, single, rtol=1e-5)
    d = jax.jit(jax.grad(final_loss))(jnp.float32(0.01))
    assert np.isfinite(d) and d < 0  # a larger lr lowers the loss here
