"""Schedule-free SGD / AdamW / wrapper (gradtx.contrib) equal the float64 reference written
from the authors' code and optax.contrib over 50 steps, jit (one compiled function for
the whole table) and no jit; the state serialises like optax's; the evaluation params
``x`` equal the reference's explicitly kept average and beat the raw iterate ``y`` on a
noisy linear regression."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib  # noqa: F401
import pytest
from reference import schedule_free_ref as R
from reference.lrfree_harness import (
    assert_close,
    assert_same_state,
    make_problem,
    run_cases,
    run_eager,
    run_reference,
)

import gradtx
import gradtx.contrib

RTOL_REF, FLOOR_REF = 2e-4, 2e-6
RTOL_OPTAX, FLOOR_OPTAX = 1e-5, 1e-6
ATOL = 5e-7  # 2 ulp of float32 params up to 4 in magnitude (updates are y_{t+1} - y_t)


def _sched(k):
    return 0.05 / (1.0 + 0.02 * k)


# name -> (make(m) for gradtx and optax, reference, in optax)
CASES = {
    "sgd": (lambda m: m.contrib.schedule_free_sgd(0.05), lambda: R.ScheduleFree("sgd", 0.05),
            True),
    "sgd_warmup_wd": (
        lambda m: m.contrib.schedule_free_sgd(0.05, warmup_steps=10, b1=0.8, weight_decay=0.1),
        lambda: R.ScheduleFree("sgd", 0.05, 10, b1=0.8, weight_decay=0.1),
        True,
    ),
    "adamw": (lambda m: m.contrib.schedule_free_adamw(0.02),
              lambda: R.ScheduleFree("adamw", 0.02), True),
    "adamw_warmup_wd": (
        lambda m: m.contrib.schedule_free_adamw(
            0.02, warmup_steps=10, b1=0.95, b2=0.99, eps=1e-3, weight_decay=0.05,
            weight_lr_power=1.0),
        lambda: R.ScheduleFree("adamw", 0.02, 10, b1=0.95, b2=0.99, eps=1e-3,
                               weight_decay=0.05, weight_lr_power=1.0),
        True,
    ),
    "wrapper_adam_b1_0": (
        lambda m: m.contrib.schedule_free(m.adam(0.02, b1=0.0), 0.02),
        lambda: R.ScheduleFree("adamw", 0.02),
        True,
    ),
    "wrapper_schedule": (
        lambda m: m.contrib.schedule_free(m.sgd(_sched), _sched, b1=0.9),
        None,  # the reference has warmup only; checked against optax
        True,
    ),
    # the authors' conventions (not in optax): reference only
    "adamw_authors": (
        lambda m: m.contrib.schedule_free_adamw(
            0.02, warmup_steps=10, weight_decay=0.05, authors_convention=True, r=0.5),
        lambda: R.ScheduleFree("adamw", 0.02, 10, weight_decay=0.05, r=0.5,
                               convention="authors"),
        False,
    ),
    "sgd_authors": (
        lambda m: m.contrib.schedule_free_sgd(0.05, warmup_steps=10, authors_convention=True),
        lambda: R.ScheduleFree("sgd", 0.05, 10, convention="authors"),
        False,
    ),
}


@pytest.fixture(scope="module")
def problem():
    return make_problem()


@pytest.fixture(scope="module")
def jitted(problem):
    params, grads, values = problem
    txs = {}
    for name, (make, _, in_optax) in CASES.items():
        txs[name] = make(gradtx)
        if in_optax:
            txs[name + "/optax"] = make(optax)
    return run_cases(txs, params, grads, values)


@pytest.mark.parametrize("name", [k for k, c in CASES.items() if c[1] is not None])
def test_equals_reference_jit(name, problem, jitted):
    params, grads, values = problem
    expected = run_reference(CASES[name][1](), params, grads)
    assert_close(jitted[name][0], expected, RTOL_REF, FLOOR_REF, ATOL)


@pytest.mark.parametrize("name", [k for k, c in CASES.items() if c[2]])
def test_equals_optax_and_state_tree(name, jitted):
    us, state, _ = jitted[name]
    o_us, o_state, _ = jitted[name + "/optax"]
    assert_close(us, o_us, RTOL_OPTAX, FLOOR_OPTAX, ATOL)
    assert_same_state(state, o_state)


@pytest.mark.parametrize("name", ["adamw_authors"])
def test_no_jit_equals_reference(name, problem):
    params, grads, values = problem
    tx = CASES[name][0](gradtx)
    expected = run_reference(CASES[name][1](), params, grads)
    assert_close(run_eager(tx, params, grads, values), expected, RTOL_REF, FLOOR_REF, ATOL)


def test_eval_params_equal_the_reference_average(problem, jitted):
    params, grads, values = problem
    for name in ("adamw_warmup_wd", "adamw_authors"):
        ref = CASES[name][1]()
        run_reference(ref, params, grads)
        _, state, final = jitted[name]
        x = gradtx.contrib.schedule_free_eval_params(state, final)
        assert_close(x, ref.x, RTOL_REF, FLOOR_REF)
        # optax's function reads gradtx's state (and the other way round)
        chex_x = optax.contrib.schedule_free_eval_params(state, final)
        assert_close(chex_x, {k: np.asarray(v) for k, v in x.items()}, 1e-6, 0.0)


def test_eval_params_beat_the_raw_iterate_on_noisy_regression():
    """Noisy linear regression, minibatch gradients: the loss at the average ``x``
    (the documented evaluation params) is well below the loss at the iterate ``y``."""
    rng = np.random.default_rng(1)
    n, d, batch, steps = 256, 8, 8, 300
    X = rng.normal(size=(n, d))
    w_star = rng.normal(size=d)
    y = X @ w_star + rng.normal(size=n)
    X, y = jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.float32)
    idx = jnp.asarray(rng.integers(0, n, size=(steps, batch)))

    def loss(w, xb, yb):
        return 0.5 * jnp.mean((xb @ w - yb) ** 2)

    @jax.jit
    def train(w0):
        out = {}
        for name, tx in {"sgd": gradtx.contrib.schedule_free_sgd(0.5),
                         "adamw": gradtx.contrib.schedule_free_adamw(0.5)}.items():  # fmt: skip
            def body(carry, i, tx=tx):
                w, s = carry
                g = jax.grad(loss)(w, X[i], y[i])
                u, s = tx.update(g, s, w)
                return (gradtx.apply_updates(w, u), s), None

            (w, s), _ = jax.lax.scan(body, (w0, tx.init(w0)), idx)
            x = gradtx.contrib.schedule_free_eval_params(s, w)
            out[name] = (loss(w, X, y), loss(x, X, y))
        return out

    best = float(loss(jnp.linalg.lstsq(X, y)[0], X, y))
    for name, (at_y, at_x) in train(jnp.zeros(d, jnp.float32)).items():
        excess_y, excess_x = float(at_y) - best, float(at_x) - best
        assert excess_x < 0.5 * excess_y, (name, excess_x, excess_y)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="b1"):
        gradtx.contrib.schedule_free_sgd(b1=0.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        gradtx.contrib.schedule_free_adamw(warmup_steps=0)
    with pytest.raises(ValueError, match="b2"):
        gradtx.contrib.schedule_free_adamw(b2=1.0)
    with pytest.raises(TypeError, match="base_optimizer"):
        gradtx.contrib.schedule_free(object(), 0.1)
    with pytest.raises(ValueError, match="ScheduleFreeState"):
        gradtx.contrib.schedule_free_eval_params(gradtx.adam(0.1).init(jnp.ones(2)), jnp.ones(2))
    tx = gradtx.contrib.schedule_free_sgd()
    with pytest.raises(ValueError, match="params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
