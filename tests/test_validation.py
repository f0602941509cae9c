"""Bad input fails loudly: invalid hyperparameters at construction, mismatched trees and
non-float gradients at update, and the step counter saturates instead of overflowing."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference.harness import make_problem

import gradtx

PARAMS, GRADS = make_problem(1)
G = jax.tree.map(lambda x: x[0], GRADS)

nan = float("nan")

# (constructor, the parameter its error must name, the bad value it must show)
BAD_HYPERPARAMETERS = [
    (lambda: gradtx.sgd(-0.1), "learning_rate", "-0.1"),
    (lambda: gradtx.sgd(None), "learning_rate", "None"),
    (lambda: gradtx.sgd(0.1, momentum=1.5), "momentum", "1.5"),
    (lambda: gradtx.sgd(0.1, momentum=-0.1), "momentum", "-0.1"),
    (lambda: gradtx.sgd(0.1, nesterov=True), "momentum", "None"),
    (lambda: gradtx.adagrad(-1.0), "learning_rate", "-1.0"),
    (lambda: gradtx.adagrad(0.1, initial_accumulator_value=-0.1), "initial_accumulator_value",
     "-0.1"),
    (lambda: gradtx.adagrad(0.1, eps=-1e-7), "eps", "-1e-07"),
    (lambda: gradtx.rmsprop(0.1, decay=1.0), "decay", "1.0"),
    (lambda: gradtx.rmsprop(0.1, eps=-1.0), "eps", "-1.0"),
    (lambda: gradtx.rmsprop(0.1, initial_scale=-1.0), "initial_scale", "-1.0"),
    (lambda: gradtx.rmsprop(0.1, momentum=2.0), "momentum", "2.0"),
    (lambda: gradtx.rmsprop(0.1, nesterov=True), "momentum", "None"),
    (lambda: gradtx.adadelta(-1.0), "learning_rate", "-1.0"),
    (lambda: gradtx.adadelta(rho=1.0), "rho", "1.0"),
    (lambda: gradtx.adadelta(eps=-1e-6), "eps", "-1e-06"),
    (lambda: gradtx.adadelta(weight_decay=-0.1), "weight_decay", "-0.1"),
    (lambda: gradtx.adam(-1e-3), "learning_rate", "-0.001"),
    (lambda: gradtx.adam(nan), "learning_rate", "nan"),
    (lambda: gradtx.adam(jnp.float32(-1.0)), "learning_rate", "-1"),
    (lambda: gradtx.adam(1e-3, b1=-0.1), "b1", "-0.1"),
    (lambda: gradtx.adam(1e-3, b1=1.0), "b1", "1.0"),
    (lambda: gradtx.adam(1e-3, b2=1.5), "b2", "1.5"),
    (lambda: gradtx.adam(1e-3, b2=None), "b2", "None"),
    (lambda: gradtx.adam(1e-3, eps=-1e-8), "eps", "-1e-08"),
    (lambda: gradtx.adam(1e-3, eps_root=-1.0), "eps_root", "-1.0"),
    (lambda: gradtx.adamw(1e-3, weight_decay=-1e-4), "weight_decay", "-0.0001"),
    (lambda: gradtx.amsgrad(1e-3, b2=1.0), "b2", "1.0"),
    (lambda: gradtx.nadam(1e-3, b1=2.0), "b1", "2.0"),
    (lambda: gradtx.yogi(-1.0), "learning_rate", "-1.0"),
    (lambda: gradtx.yogi(1e-2, eps=-1e-3), "eps", "-0.001"),
    (lambda: gradtx.adabound(-1e-3), "learning_rate", "-0.001"),
    (lambda: gradtx.adabound(final_lr=-0.1), "final_lr", "-0.1"),
    (lambda: gradtx.adabound(gamma=0.0), "gamma", "0.0"),
    (lambda: gradtx.adabound(gamma=-1e-3), "gamma", "-0.001"),
    (lambda: gradtx.adabound(b1=1.0), "b1", "1.0"),
    (lambda: gradtx.adabound(eps=-1.0), "eps", "-1.0"),
    (lambda: gradtx.adabound(weight_decay=-0.1), "weight_decay", "-0.1"),
    (lambda: gradtx.amsbound(b2=1.0), "b2", "1.0"),
    (lambda: gradtx.amsbound(gamma=0.0), "gamma", "0.0"),
    (lambda: gradtx.bound_lr(gamma=0.0), "gamma", "0.0"),
    (lambda: gradtx.bound_lr(None), "learning_rate", "None"),
    (lambda: gradtx.trace(1.0), "decay", "1.0"),
    (lambda: gradtx.trace(None), "decay", "None"),
    (lambda: gradtx.scale_by_learning_rate(-0.1), "learning_rate", "-0.1"),
    (lambda: gradtx.scale_by_rss(-1.0), "initial_accumulator_value", "-1.0"),
    (lambda: gradtx.scale_by_rms(decay=-0.5), "decay", "-0.5"),
    (lambda: gradtx.scale_by_adadelta(rho=1.5), "rho", "1.5"),
    (lambda: gradtx.scale_by_adam(b1=1.0), "b1", "1.0"),
    (lambda: gradtx.scale_by_amsgrad(eps=-1.0), "eps", "-1.0"),
    (lambda: gradtx.scale_by_yogi(initial_accumulator_value=-1.0), "initial_accumulator_value",
     "-1.0"),
    (lambda: gradtx.add_decayed_weights(-1e-4), "weight_decay", "-0.0001"),
    (lambda: gradtx.clip_by_global_norm(0.0), "max_norm", "0.0"),
    (lambda: gradtx.clip_by_global_norm(-1.0), "max_norm", "-1.0"),
    (lambda: gradtx.add_noise(-0.01, 0.55), "eta", "-0.01"),
    (lambda: gradtx.add_noise(0.01, -0.55), "gamma", "-0.55"),
    (lambda: gradtx.adam(float("inf")), "learning_rate", "inf"),
    (lambda: gradtx.sgd(np.float32(np.inf)), "learning_rate", "inf"),
    (lambda: gradtx.adam(1e-3, b1=jnp.bfloat16(1.5)), "b1", "1.5"),
]  # fmt: skip

BAD_TYPES = [
    (lambda: gradtx.scale_by_schedule(0.1), "step_size_fn"),
    (lambda: gradtx.scale_by_schedule("cosine"), "step_size_fn"),
    (lambda: gradtx.adam("0.1"), "learning_rate"),
    (lambda: gradtx.adam(True), "learning_rate"),
    (lambda: gradtx.scale("a"), "step_size"),
    (lambda: gradtx.adam(1e-3, b1=1j), "b1"),
    (lambda: gradtx.chain(gradtx.adam(1e-3), 0.1), "argument 1"),
    (lambda: gradtx.adam([0.1, 0.2]), "learning_rate"),
    (lambda: gradtx.sgd(jnp.ones(3)), "learning_rate"),
    (lambda: gradtx.add_noise(0.01, 0.55, 1.5), "key"),
    (lambda: gradtx.bound_lr(1e-3, final_lr=lambda t: 0.1), "final_lr"),
    (lambda: gradtx.adabound(1e-3, final_lr=lambda t: 0.1), "final_lr"),
]


@pytest.mark.parametrize("make, name, value", BAD_HYPERPARAMETERS)
def test_bad_hyperparameter_raises_value_error_naming_it(make, name, value):
    with pytest.raises(ValueError, match=rf"\b{name}\b") as info:
        make()
    assert value in str(info.value)


@pytest.mark.parametrize("make, name", BAD_TYPES)
def test_wrong_type_raises_type_error_naming_it(make, name):
    with pytest.raises(TypeError, match=re.escape(name)):
        make()


@pytest.mark.parametrize("value", [0.0, 1e-3, 1, np.float32(0.5), jnp.asarray(0.1)])
def test_valid_learning_rates_are_accepted(value):
    gradtx.adam(value)
    gradtx.sgd(value, momentum=0.0)


OPTIMIZERS = {
    "sgd": lambda: gradtx.sgd(0.1),
    "sgd_momentum": lambda: gradtx.sgd(0.1, 0.9),
    "adagrad": lambda: gradtx.adagrad(0.1),
    "rmsprop": lambda: gradtx.rmsprop(0.1, centered=True, momentum=0.9),
    "adadelta": lambda: gradtx.adadelta(),
    "adam": lambda: gradtx.adam(1e-3),
    "adamw": lambda: gradtx.adamw(1e-3),
    "amsgrad": lambda: gradtx.amsgrad(1e-3),
    "nadam": lambda: gradtx.nadam(1e-3),
    "yogi": lambda: gradtx.yogi(1e-2),
    "adabound": lambda: gradtx.adabound(),
    "amsbound": lambda: gradtx.amsbound(weight_decay=1e-4),
}
STATEFUL_BLOCKS = {
    "trace": lambda: gradtx.trace(0.9),
    "scale_by_rss": gradtx.scale_by_rss,
    "scale_by_rms": lambda: gradtx.scale_by_rms(centered=True),
    "scale_by_adadelta": gradtx.scale_by_adadelta,
    "scale_by_adam": gradtx.scale_by_adam,
    "scale_by_amsgrad": gradtx.scale_by_amsgrad,
    "scale_by_yogi": gradtx.scale_by_yogi,
    "bound_lr": lambda: gradtx.bound_lr(amsbound=True),
}
ALL_BLOCKS = {
    **STATEFUL_BLOCKS,
    "scale": lambda: gradtx.scale(0.1),
    "scale_by_learning_rate": lambda: gradtx.scale_by_learning_rate(0.1),
    "scale_by_schedule": lambda: gradtx.scale_by_schedule(lambda c: 0.1),
    "add_decayed_weights": lambda: gradtx.add_decayed_weights(0.1),
    "clip_by_global_norm": lambda: gradtx.clip_by_global_norm(1.0),
    "add_noise": lambda: gradtx.add_noise(0.01, 0.55, 0),
}

MISSING_LEAF = {"matrix": G["matrix"], "vector": G["vector"]}
AS_LIST = [G["matrix"], G["vector"], G["scalar"]]
WRONG_SHAPE = {**G, "vector": jnp.zeros(5)}


def _step(tx, grads, jit=False):
    def step(grads, state, params):
        updates, state = tx.update(grads, state, params)
        return gradtx.apply_updates(params, updates), state

    return (jax.jit(step) if jit else step)(grads, tx.init(PARAMS), PARAMS)


@pytest.mark.parametrize("name", sorted({**OPTIMIZERS, **STATEFUL_BLOCKS}))
@pytest.mark.parametrize("grads", [MISSING_LEAF, AS_LIST], ids=["missing_leaf", "list"])
def test_tree_structure_mismatch_raises_naming_both_trees(name, grads):
    tx = {**OPTIMIZERS, **STATEFUL_BLOCKS}[name]()
    with pytest.raises(ValueError, match="tree does not match") as info:
        _step(tx, grads)
    message = str(info.value)
    assert "scalar" in message  # the structure that was expected is shown


@pytest.mark.parametrize("name", sorted({**OPTIMIZERS, **STATEFUL_BLOCKS}))
def test_leaf_shape_mismatch_raises_naming_the_leaf_and_shapes(name):
    tx = {**OPTIMIZERS, **STATEFUL_BLOCKS}[name]()
    with pytest.raises(ValueError, match=r"leaf \['vector'\].*shape \(5,\).*\(4,\)"):
        _step(tx, WRONG_SHAPE)


def test_mismatch_is_also_caught_under_jit():
    with pytest.raises(ValueError, match=r"leaf \['vector'\]"):
        _step(gradtx.adam(1e-3), WRONG_SHAPE, jit=True)
    with pytest.raises(ValueError, match="tree does not match"):
        _step(gradtx.adam(1e-3), MISSING_LEAF, jit=True)


@pytest.mark.parametrize("name", sorted({**OPTIMIZERS, **ALL_BLOCKS}))
@pytest.mark.parametrize("dtype", [jnp.int32, jnp.bool_, jnp.uint8])
def test_integer_or_boolean_gradients_raise_type_error(name, dtype):
    tx = {**OPTIMIZERS, **ALL_BLOCKS}[name]()
    grads = {**G, "vector": jnp.zeros(4, dtype)}
    with pytest.raises(TypeError, match=r"gradient leaf \['vector'\] has dtype"):
        tx.update(grads, tx.init(PARAMS), PARAMS)


def test_chain_rejects_a_state_of_the_wrong_length():
    opt = gradtx.adam(1e-3)
    with pytest.raises(ValueError, match="chain of 2 transformations"):
        opt.update(G, opt.init(PARAMS)[:1], PARAMS)


def test_adadelta_without_weight_decay_needs_no_params():
    opt = gradtx.adadelta()
    updates, _ = opt.update(G, opt.init(PARAMS))
    # Descent: every coordinate moves against its gradient.
    signs = jax.tree.map(lambda u, g: bool(jnp.all(jnp.sign(u) == -jnp.sign(g))), updates, G)
    assert all(jax.tree.leaves(signs))
    with pytest.raises(ValueError, match="params"):
        gradtx.adadelta(weight_decay=0.1).update(G, gradtx.adadelta(weight_decay=0.1).init(PARAMS))


def test_weight_decay_needs_params_and_a_matching_mask():
    tx = gradtx.add_decayed_weights(0.1)
    with pytest.raises(ValueError, match="needs the params"):
        tx.update(G, tx.init(PARAMS))
    bad_mask = gradtx.add_decayed_weights(0.1, mask={"matrix": True, "other": False})
    with pytest.raises(ValueError, match="mask"):
        bad_mask.update(G, bad_mask.init(PARAMS), PARAMS)


def test_apply_updates_rejects_mismatched_trees():
    with pytest.raises(ValueError, match=r"leaf \['vector'\]"):
        gradtx.apply_updates(PARAMS, WRONG_SHAPE)


# ---------------------------------------------------------------------------------------
# The step counter saturates at 2**31 - 1.
# ---------------------------------------------------------------------------------------

INT32_MAX = 2**31 - 1
COUNTED = {
    **OPTIMIZERS,
    "rmsprop_bias_corrected": lambda: gradtx.rmsprop(0.1, bias_correction=True),
    "adam_schedule": lambda: gradtx.adam(lambda count: 1e-3 * 0.5 ** (count / 1e9)),
    "adabound_schedule": lambda: gradtx.adabound(lambda count: 1e-3 / (1 + count / 1e9)),
    "scale_by_schedule": lambda: gradtx.scale_by_schedule(lambda count: 1.0 / (1.0 + count)),
    "add_noise": lambda: gradtx.add_noise(0.01, 0.55, 0),
    "add_decayed_weights_schedule": lambda: gradtx.add_decayed_weights(lambda c: 1e-4),
}


def _set_counts(state, value):
    """Every ``count`` field in a (possibly chained) state set to ``value``."""

    def set_one(path, leaf):
        last = path[-1] if path else None
        if isinstance(last, jax.tree_util.GetAttrKey) and last.name == "count":
            return jnp.asarray(value, leaf.dtype)
        return leaf

    return jax.tree_util.tree_map_with_path(set_one, state)


def _counts(state):
    return [
        int(leaf)
        for path, leaf in jax.tree_util.tree_leaves_with_path(state)
        if path and isinstance(path[-1], jax.tree_util.GetAttrKey) and path[-1].name == "count"
    ]


# plain sgd and adagrad keep no counter
WITH_COUNTER = sorted(name for name, make in COUNTED.items() if _counts(make().init(PARAMS)))


@pytest.mark.parametrize("name", WITH_COUNTER)
def test_step_counter_saturates_without_overflow_or_nan(name):
    tx = COUNTED[name]()
    state = _set_counts(tx.init(PARAMS), INT32_MAX - 2)
    assert set(_counts(state)) == {INT32_MAX - 2}
    params = PARAMS
    for _ in range(4):  # steps past 2**31 - 1
        updates, state = tx.update(G, state, params)
        params = gradtx.apply_updates(params, updates)
        for leaf in jax.tree.leaves(updates):
            assert np.all(np.isfinite(np.asarray(leaf))), name
    assert set(_counts(state)) == {INT32_MAX}
    for leaf in jax.tree.leaves(params):
        assert np.all(np.isfinite(np.asarray(leaf)))


def test_safe_increment_saturates():
    count = jnp.asarray(INT32_MAX - 1, jnp.int32)
    assert int(gradtx.safe_increment(count)) == INT32_MAX
    assert int(gradtx.safe_increment(gradtx.safe_increment(count))) == INT32_MAX
    assert int(gradtx.safe_increment(jnp.asarray(0, jnp.int32))) == 1
