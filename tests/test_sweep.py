"""vmap_sweep: N copies under N schedules in one compiled function == N separate runs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx import schedules

RNG = np.random.default_rng(1)
X = RNG.normal(size=(24, 3)).astype(np.float32)
Y = np.tanh(X @ np.array([1.0, -1.0, 0.5], np.float32)).astype(np.float32)
STEPS = 12


def params0(seed=0):
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    return {
        "w1": jax.random.normal(k1, (3, 4)) * 0.5,
        "w2": jax.random.normal(k2, (4,)) * 0.5,
        "b": jnp.zeros((), jnp.float32),
    }


TRACES = []


def loss_fn(p, batch):
    TRACES.append(1)  # counts traces: one per compilation of the enclosing jit
    x, y = batch
    return jnp.mean((jnp.tanh(x @ p["w1"]) @ p["w2"] + p["b"] - y) ** 2)


def warm_cosine(peak):
    return schedules.warmup(schedules.cosine_decay(peak, STEPS - 3), warmup_steps=3)


def momentum_sgd(schedule):
    return gradtx.sgd(schedule, momentum=0.9)


def test_sweep_equals_separate_runs_and_compiles_once():
    peaks = [0.01, 0.05, 0.1, 0.3]
    sweep = gradtx.vmap_sweep(momentum_sgd, loss_fn, STEPS, shared_params=True)
    run = gradtx.scan_train(momentum_sgd, loss_fn, STEPS)
    TRACES.clear()
    result = sweep(gradtx.stack_schedules(*map(warm_cosine, peaks)), params0(), (X, Y))
    assert len(TRACES) == 1 and result.losses.shape == (4, STEPS)
    for i, peak in enumerate(peaks):
        single = run(warm_cosine(peak), params0(), (X, Y))
        for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(result), strict=True):
            np.testing.assert_allclose(b[i], a, rtol=1e-5, atol=1e-6)
    assert len(TRACES) == 2  # the separate runs share one compilation too
    other = sweep(
        gradtx.stack_schedules(*map(warm_cosine, [0.2, 0.02, 0.4, 0.04])), params0(), (X, Y)
    )
    assert len(TRACES) == 2  # a new batch of schedules of the same structure: no retrace
    assert not np.allclose(other.losses, result.losses)
    # larger peaks learn faster here: the sweep does distinguish the schedules
    assert result.losses[3, -1] < result.losses[0, -1]


def test_sweep_over_a_dict_of_hyperparameters_with_per_step_and_per_copy_data():
    """Each copy has its own params, data stream and {schedule, momentum}; the chain
    includes reduce_on_plateau, which gets the loss as ``value``."""

    def make(h):
        return gradtx.chain(
            gradtx.sgd(h["lr"], momentum=h["momentum"]),
            gradtx.reduce_on_plateau(factor=0.5, patience=2),
        )

    n = 3
    hps = [
        {"lr": schedules.exponential_lr(lr, gamma=0.9), "momentum": m}
        for lr, m in [(0.05, 0.0), (0.1, 0.5), (0.2, 0.9)]
    ]
    idx = RNG.integers(0, len(X), size=(n, STEPS, 8))
    data = (X[idx], Y[idx])  # shapes (n, STEPS, 8, 3) and (n, STEPS, 8)
    params = gradtx.stack_schedules(*[params0(seed) for seed in range(n)])
    sweep = gradtx.vmap_sweep(make, loss_fn, STEPS, per_step_data=True, shared_data=False)
    result = sweep(gradtx.stack_schedules(*hps), params, data)
    run = gradtx.scan_train(make, loss_fn, STEPS, per_step_data=True)
    for i in range(n):
        single = run(hps[i], params0(i), (data[0][i], data[1][i]))
        for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(result), strict=True):
            np.testing.assert_allclose(b[i], a, rtol=1e-5, atol=1e-6)
    # the NumPy loss of copy 0's first step, written out, equals the recorded loss
    p = jax.tree.map(np.asarray, params0(0))
    x, y = data[0][0, 0], data[1][0, 0]
    expected = np.mean((np.tanh(x @ p["w1"]) @ p["w2"] + p["b"] - y) ** 2)
    np.testing.assert_allclose(result.losses[0, 0], expected, rtol=1e-5)


def test_bad_input():
    with pytest.raises(ValueError, match="different structure"):
        gradtx.stack_schedules(warm_cosine(0.1), schedules.constant(0.1))
    with pytest.raises(ValueError, match="at least one"):
        gradtx.stack_schedules()
    with pytest.raises(ValueError, match="num_steps must be a positive integer, got 0"):
        gradtx.vmap_sweep(momentum_sgd, loss_fn, 0)
    with pytest.raises(TypeError, match="loss_fn"):
        gradtx.scan_train(momentum_sgd, "loss", 3)
