"""gradtx.make_step / update_and_apply: one step = update + apply_updates, donated."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx


def _tree():
    return {
        "w": jnp.arange(6, dtype=jnp.float32).reshape(3, 2) / 7 - 0.3,
        "b": jnp.linspace(-1, 1, 4).astype(jnp.bfloat16),
        "s": jnp.float32(0.5),
        "n": [jnp.full((2, 2), 0.25, jnp.float32), None],
    }


def _grads(k):
    return jax.tree.map(
        lambda p: (jnp.sin(p.astype(jnp.float32) * (k + 1.0)) - 0.2).astype(p.dtype), _tree()
    )


OPTIMIZERS = {
    "adam": lambda: gradtx.adam(1e-2),
    "sgd": lambda: gradtx.sgd(0.1, momentum=0.9, nesterov=True),
    "adabound": lambda: gradtx.adabound(1e-2, final_lr=0.05),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_make_step_equals_update_then_apply(name):
    tx = OPTIMIZERS[name]()
    step = gradtx.make_step(tx)
    manual = jax.jit(
        lambda p, g, s: (lambda u, s2: (gradtx.apply_updates(p, u), s2))(*tx.update(g, s, p))
    )
    p_ref, s_ref = _tree(), tx.init(_tree())
    p, s = _tree(), tx.init(_tree())
    for k in range(3):
        g = _grads(k)
        p_ref, s_ref = manual(p_ref, g, s_ref)
        old = p
        p, s = step(p, g, s)
        assert old["w"].is_deleted()  # donated
        assert not g["w"].is_deleted()  # grads are not donated by default
    chex.assert_trees_all_close(p, p_ref, rtol=1e-6, atol=1e-7)
    chex.assert_trees_all_close(s, s_ref, rtol=1e-6, atol=1e-7)
    assert jax.tree.map(lambda x: x.dtype, p) == jax.tree.map(lambda x: x.dtype, _tree())


def test_sgd_step_matches_numpy():
    lr, mom = 0.1, 0.9
    step = gradtx.make_step(gradtx.sgd(lr, momentum=mom), donate=False)
    p = {"a": jnp.array([1.0, -2.0, 3.0])}
    s = gradtx.sgd(lr, momentum=mom).init(p)
    ref, v = np.array([1.0, -2.0, 3.0]), np.zeros(3)
    for k in range(3):
        g = np.array([0.5, -1.0, 2.0]) * (k + 1)
        v = g + mom * v
        ref = ref - lr * v
        p_in = p
        p, s = step(p, {"a": jnp.asarray(g, jnp.float32)}, s)
        assert not p_in["a"].is_deleted()  # donate=False keeps the inputs
    np.testing.assert_allclose(np.asarray(p["a"]), ref, rtol=1e-6)


def test_extra_args_reach_the_transform_and_optax_works():
    optax = pytest.importorskip("optax")

    def update(updates, state, params=None, *, value=1.0, **extra):
        return jax.tree.map(lambda g: -value * g, updates), state

    tx = gradtx.GradientTransformation(lambda p: gradtx.EmptyState(), update)
    p = {"a": jnp.ones(2)}
    new, _ = gradtx.make_step(tx, donate=False)(p, {"a": jnp.ones(2)}, (), value=3.0)
    np.testing.assert_allclose(np.asarray(new["a"]), [-2.0, -2.0])
    new, _ = gradtx.update_and_apply(tx, p, {"a": jnp.ones(2)}, (), value=0.5)
    np.testing.assert_allclose(np.asarray(new["a"]), [0.5, 0.5])
    ox = optax.sgd(0.5)
    new, _ = gradtx.make_step(ox, jit=False)(p, {"a": jnp.ones(2)}, ox.init(p))
    np.testing.assert_allclose(np.asarray(new["a"]), [0.5, 0.5])


def test_not_a_transformation():
    with pytest.raises(TypeError, match="gradient transformation"):
        gradtx.make_step(lambda g: g)
