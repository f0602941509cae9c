"""flax integration: a gradtx optimiser drives flax.training.train_state.TrainState and
flax.nnx.Optimizer exactly as the optax optimiser of the same name does."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen, nnx
from flax.training import train_state

import gradtx

STEPS = 5


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype(np.float32)
    y = np.sin(x.sum(axis=1, keepdims=True)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y)


class LinenMLP(linen.Module):
    @linen.compact
    def __call__(self, x):
        return linen.Dense(1)(jnp.tanh(linen.Dense(8)(x)))


def _train_linen(tx):
    x, y = _data()
    model = LinenMLP()
    state = train_state.TrainState.create(
        apply_fn=model.apply, params=model.init(jax.random.key(0), x), tx=tx
    )

    @jax.jit
    def step(state):
        def loss(params):
            return jnp.mean((state.apply_fn(params, x) - y) ** 2)

        return state.apply_gradients(grads=jax.grad(loss)(state.params))

    for _ in range(STEPS):
        state = step(state)
    return state


def test_linen_train_state_gradtx_adam_equals_optax_adam():
    ours = _train_linen(gradtx.adam(1e-2))
    theirs = _train_linen(optax.adam(1e-2))
    init = LinenMLP().init(jax.random.key(0), _data()[0])
    assert int(ours.step) == STEPS
    moved = jax.tree.leaves(jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()),
                                         ours.params, init))
    assert max(moved) > 1e-3  # the five steps did train
    for a, b in zip(jax.tree.leaves(ours.params), jax.tree.leaves(theirs.params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    # The optimiser states hold the same numbers (Adam's count, mu, nu).
    for a, b in zip(jax.tree.leaves(ours.opt_state), jax.tree.leaves(theirs.opt_state),
                    strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


class NnxMLP(nnx.Module):
    def __init__(self, rngs):
        self.hidden = nnx.Linear(3, 8, rngs=rngs)
        self.out = nnx.Linear(8, 1, rngs=rngs)

    def __call__(self, x):
        return self.out(jnp.tanh(self.hidden(x)))


def _train_nnx(tx):
    x, y = _data()
    model = NnxMLP(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer):
        def loss(model):
            return jnp.mean((model(x) - y) ** 2)

        optimizer.update(model, nnx.grad(loss)(model))

    for _ in range(STEPS):
        step(model, optimizer)
    return model, optimizer


@pytest.mark.parametrize("nesterov", [False, True])
def test_nnx_optimizer_gradtx_sgd_momentum_equals_optax(nesterov):
    ours, opt_ours = _train_nnx(gradtx.sgd(0.1, momentum=0.9, nesterov=nesterov))
    theirs, _ = _train_nnx(optax.sgd(0.1, momentum=0.9, nesterov=nesterov))
    fresh = NnxMLP(nnx.Rngs(0))
    assert int(opt_ours.step[...]) == STEPS
    p_ours, p_theirs = nnx.state(ours, nnx.Param), nnx.state(theirs, nnx.Param)
    p_fresh = nnx.state(fresh, nnx.Param)
    assert max(float(jnp.abs(a - b).max()) for a, b in
               zip(jax.tree.leaves(p_ours), jax.tree.leaves(p_fresh), strict=True)) > 1e-3
    for a, b in zip(jax.tree.leaves(p_ours), jax.tree.leaves(p_theirs), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
