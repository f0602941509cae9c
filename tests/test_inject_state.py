"""inject_hyperparams' state layout (gradtx/_inject_state.py): the value each step used is
a plain float leaf (``state.hyperparams["learning_rate"]``, optax's ``tree_get``), the
pytree schedule stays in the state and swaps without recompiling, and the tree equals
optax 0.2.8's (field names, keys, dtypes, values) for numbers and plain callables, so
checkpoints restore both ways."""

from __future__ import annotations

import flax.serialization as ser
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from gradtx import schedules

P = {"w": jnp.array([1.0, -2.0, 0.5]), "b": jnp.array([0.3])}
G = jax.tree.map(lambda x: 0.1 * x + 0.05, P)


def _paths(state):
    return [(jax.tree_util.keystr(k), v) for k, v in jax.tree_util.tree_leaves_with_path(state)]


def _run(opt, n, jit):
    update = jax.jit(opt.update) if jit else opt.update
    state, states = opt.init(P), []
    for _ in range(n):
        _, state = update(G, state, P)
        states.append(state)
    return update, states


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_logged_value_is_the_value_used(jit):
    sched = schedules.warmup_cosine_decay(0.0, 0.1, warmup_steps=2, decay_steps=6)
    opt = gradtx.inject_hyperparams(gradtx.sgd)(learning_rate=sched, momentum=0.9)
    assert float(opt.init(P).hyperparams["learning_rate"]) == float(sched(0))
    _, states = _run(opt, 7, jit)
    for k, s in enumerate(states):
        lr = float(s.hyperparams["learning_rate"])  # a plain float leaf
        np.testing.assert_allclose(lr, float(sched(k)), rtol=1e-6, atol=1e-9)
        assert float(optax.tree_utils.tree_get(s, "learning_rate")) == lr
        assert float(gradtx.tree_utils.tree_get(s, "learning_rate")) == lr
        assert s.hyperparams_states["learning_rate_schedule"] == sched


def test_schedule_swaps_without_recompiling():
    sched = schedules.exponential_lr(0.1, 0.5)
    opt = gradtx.inject_hyperparams(gradtx.adam)(learning_rate=sched)
    update, states = _run(opt, 2, jit=True)
    s = gradtx.set_hyperparams(states[-1], learning_rate=schedules.exponential_lr(1.0, 0.25))
    _, s = update(G, s, P)
    np.testing.assert_allclose(float(s.hyperparams["learning_rate"]), 1.0 * 0.25**2, rtol=1e-6)
    assert update._cache_size() == 1
    with pytest.raises(ValueError, match="learning_rate"):  # a number for a schedule
        gradtx.set_hyperparams(s, learning_rate=0.1)


CASES = [
    ("numbers", lambda m: m.inject_hyperparams(m.adam)(learning_rate=0.01, b1=0.8)),
    (
        "plain_callable",
        lambda m: m.inject_hyperparams(m.sgd)(
            learning_rate=optax.linear_schedule(0.1, 0.0, 5), momentum=0.9
        ),
    ),
]


@pytest.mark.parametrize("make", [c[1] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_state_tree_equals_optax(make, jit):
    _, ours = _run(make(gradtx), 4, jit)
    _, theirs = _run(make(optax), 4, jit)
    for s, o in zip(ours, theirs, strict=True):
        a, b = _paths(s), _paths(o)
        assert [k for k, _ in a] == [k for k, _ in b]
        for (_, x), (_, y) in zip(a, b, strict=True):
            assert jnp.result_type(x) == jnp.result_type(y)
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("make", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_checkpoints_restore_both_ways(make):
    gopt, oopt = make(gradtx), make(optax)
    _, ours = _run(gopt, 2, jit=False)
    _, theirs = _run(oopt, 2, jit=False)
    into_optax = ser.from_state_dict(oopt.init(P), ser.to_state_dict(ours[-1]))
    into_gradtx = ser.from_state_dict(gopt.init(P), ser.to_state_dict(theirs[-1]))
    _, o_next = oopt.update(G, into_optax, P)
    _, g_next = gopt.update(G, into_gradtx, P)
    for x, y in zip(jax.tree.leaves(g_next), jax.tree.leaves(o_next), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)
