"""Typical optax training code runs unchanged with ``import gradtx as optax`` (issue 13).

Each entry of :data:`SNIPPETS` is a short piece of optax user code, written from the
idioms of optax's documentation (the quick start, the optimiser and schedule
how-tos, gradient accumulation, parameter groups, freezing, EMA/lookahead, NaN
handling, tree utilities, flax's ``TrainState``). It runs twice: with ``optax`` bound to
``gradtx``, and with ``optax`` bound to the real optax 0.2.8. ``optax_real`` is bound to
optax both times and is used for losses only (gradtx leaves losses to optax). Every
snippet ends by setting ``result`` (a pytree of numbers: parameters, logged values,
schedule values); the two runs' results must be equal to rtol 1e-5.

Tiny problem, a few steps each, mostly eager: the file runs in a few seconds.
"""

from __future__ import annotations

import textwrap
import warnings

import jax
import numpy as np
import optax
import pytest

import gradtx

# Slow (many compiles): deselect with -m "not slow" for the fast core; CI runs it.
pytestmark = pytest.mark.slow

RTOL, ATOL = 1e-5, 1e-7

# Shared by every snippet: a tiny linear regression / classification problem.
PRELUDE = """
import jax
import jax.numpy as jnp
import numpy as np

x = jnp.linspace(-1.0, 1.0, 12, dtype=jnp.float32).reshape(4, 3)
y = jnp.array([[1.0, -2.0], [0.5, 3.0], [-1.0, 0.0], [2.0, 1.0]])
labels = jnp.array([0, 1, 1, 0])
params = {"w": jnp.array([[0.1, -0.2], [0.3, 0.0], [-0.1, 0.2]]), "b": jnp.array([0.0, 0.1])}

def loss_fn(params, x=x, y=y):
    return jnp.mean(optax_real.l2_loss(x @ params["w"] + params["b"], y))

def ce_loss_fn(params, x=x, labels=labels):
    logits = x @ params["w"] + params["b"]
    return optax_real.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

def fit(optimizer, params=params, steps=3, loss_fn=loss_fn):
    opt_state = optimizer.init(params)
    for _ in range(steps):
        grads = jax.grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    return params
"""

SNIPPETS: dict[str, str] = {
    # --- the quick start ---
    "adam_loop": """
optimizer = optax.adam(learning_rate=1e-2)
opt_state = optimizer.init(params)
for _ in range(3):
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
result = params, loss
""",
    "jit_step_sgd_nesterov": """
optimizer = optax.sgd(learning_rate=0.1, momentum=0.9, nesterov=True)
opt_state = optimizer.init(params)

@jax.jit
def step(params, opt_state):
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

losses = []
for _ in range(4):
    params, opt_state, loss = step(params, opt_state)
    losses.append(loss)
result = params, losses
""",
    "classification_cross_entropy": """
optimizer = optax.adamw(learning_rate=0.05)
opt_state = optimizer.init(params)
for _ in range(3):
    grads = jax.grad(ce_loss_fn)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
result = params, ce_loss_fn(params)
""",
    "chain_clip_adamw": """
optimizer = optax.chain(
    optax.clip_by_global_norm(1.0),
    optax.adamw(learning_rate=1e-2, weight_decay=1e-4),
)
result = fit(optimizer)
""",
    "custom_chain_from_blocks": """
optimizer = optax.chain(
    optax.scale_by_adam(b1=0.9, b2=0.99),
    optax.add_decayed_weights(1e-3),
    optax.scale_by_learning_rate(1e-2),
)
result = fit(optimizer)
""",
    "clip_trace_scale": """
optimizer = optax.chain(optax.clip(0.5), optax.trace(decay=0.9), optax.scale(-0.1))
result = fit(optimizer)
""",
    "global_norm_logging": """
optimizer = optax.sgd(0.1)
opt_state = optimizer.init(params)
norms = []
for _ in range(3):
    grads = jax.grad(loss_fn)(params)
    norms.append(optax.global_norm(grads))
    updates, opt_state = optimizer.update(grads, opt_state)
    norms.append(optax.tree_utils.tree_norm(updates))
    params = optax.apply_updates(params, updates)
result = params, norms
""",
    "custom_gradient_transformation": """
def scale_by_sign_flip():
    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: -jnp.sign(g) * jnp.abs(g) ** 0.5, updates), state

    return optax.GradientTransformation(init_fn, update_fn)

optimizer = optax.chain(scale_by_sign_flip(), optax.scale(0.05))
result = fit(optimizer)
""",
    "stateless_weight_decay": """
decay = optax.stateless_with_tree_map(lambda g, p: g + 1e-2 * p)
optimizer = optax.chain(decay, optax.sgd(0.1))
result = fit(optimizer)
""",
    # --- schedules ---
    "warmup_cosine_decay_schedule": """
schedule = optax.warmup_cosine_decay_schedule(
    init_value=0.0, peak_value=0.1, warmup_steps=2, decay_steps=10, end_value=1e-3
)
optimizer = optax.adam(learning_rate=schedule)
result = fit(optimizer, steps=4), [schedule(i) for i in range(12)]
""",
    "join_schedules": """
warmup = optax.linear_schedule(init_value=0.0, end_value=0.1, transition_steps=3)
decay = optax.cosine_decay_schedule(init_value=0.1, decay_steps=5, alpha=0.1)
schedule = optax.join_schedules(schedules=[warmup, decay], boundaries=[3])
result = [schedule(i) for i in range(10)], fit(optax.sgd(schedule), steps=4)
""",
    "piecewise_constant_schedule": """
schedule = optax.piecewise_constant_schedule(
    init_value=0.1, boundaries_and_scales={2: 0.5, 4: 0.1}
)
result = [schedule(i) for i in range(6)], fit(optax.sgd(schedule, momentum=0.9), steps=5)
""",
    "exponential_decay": """
schedule = optax.exponential_decay(
    init_value=0.1, transition_steps=2, decay_rate=0.5, transition_begin=1, staircase=True,
    end_value=0.01,
)
result = [schedule(i) for i in range(10)], fit(optax.rmsprop(schedule), steps=3)
""",
    "onecycle_schedules": """
cos = optax.cosine_onecycle_schedule(transition_steps=10, peak_value=0.1)
lin = optax.linear_onecycle_schedule(transition_steps=10, peak_value=0.1)
result = [cos(i) for i in range(12)], [lin(i) for i in range(12)]
""",
    "polynomial_sgdr_interpolate": """
poly = optax.polynomial_schedule(init_value=0.1, end_value=0.0, power=2, transition_steps=6)
sgdr = optax.sgdr_schedule([
    dict(init_value=0.0, peak_value=0.1, warmup_steps=1, decay_steps=4, end_value=0.0),
    dict(init_value=0.0, peak_value=0.05, warmup_steps=1, decay_steps=4, end_value=0.0),
])
interp = optax.piecewise_interpolate_schedule(
    "linear", init_value=0.1, boundaries_and_scales={2: 0.5, 5: 0.2}
)
result = [(poly(i), sgdr(i), interp(i)) for i in range(10)]
""",
    "warmup_constant_and_exponential": """
a = optax.warmup_constant_schedule(init_value=0.0, peak_value=0.1, warmup_steps=3)
b = optax.warmup_exponential_decay_schedule(
    init_value=0.0, peak_value=0.1, warmup_steps=2, transition_steps=2, decay_rate=0.5
)
result = [(a(i), b(i)) for i in range(8)]
""",
    "scale_by_schedule": """
optimizer = optax.chain(
    optax.scale_by_adam(),
    optax.scale_by_schedule(lambda count: -0.1 * 0.9**count),
)
result = fit(optimizer, steps=4)
""",
    "schedule_under_jit": """
schedule = optax.linear_schedule(0.1, 0.01, transition_steps=5)
optimizer = optax.sgd(schedule)
opt_state = optimizer.init(params)

@jax.jit
def step(params, opt_state):
    grads = jax.grad(loss_fn)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

for _ in range(6):
    params, opt_state = step(params, opt_state)
result = params
""",
    # --- hyperparameters in the state ---
    "inject_hyperparams_read_lr": """
schedule = optax.exponential_decay(0.1, transition_steps=1, decay_rate=0.5)
optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=schedule, b1=0.8)
opt_state = optimizer.init(params)
lrs = []
for _ in range(3):
    grads = jax.grad(loss_fn)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    lrs.append(opt_state.hyperparams["learning_rate"])
result = params, lrs, opt_state.hyperparams["b1"]
""",
    "inject_hyperparams_set_lr": """
optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=0.9)
opt_state = optimizer.init(params)
for step in range(4):
    if step == 2:
        opt_state.hyperparams["learning_rate"] = jnp.asarray(0.01)
    grads = jax.grad(loss_fn)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
result = params
""",
    "tree_get_learning_rate": """
optimizer = optax.chain(
    optax.clip_by_global_norm(1.0),
    optax.inject_hyperparams(optax.adamw)(learning_rate=0.02, weight_decay=1e-3),
)
opt_state = optimizer.init(params)
grads = jax.grad(loss_fn)(params)
updates, opt_state = optimizer.update(grads, opt_state, params)
result = (
    optax.tree_utils.tree_get(opt_state, "learning_rate"),
    [v for _, v in optax.tree_utils.tree_get_all_with_path(opt_state, "count")],
    optax.apply_updates(params, updates),
)
""",
    # --- gradient accumulation ---
    "multisteps_accumulation": """
optimizer = optax.MultiSteps(optax.adam(1e-2), every_k_schedule=2)
opt_state = optimizer.init(params)

@jax.jit
def step(params, opt_state, xb, yb):
    grads = jax.grad(loss_fn)(params, xb, yb)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

updated = []
for i in range(4):
    params, opt_state = step(params, opt_state, x[i : i + 1], y[i : i + 1])
    updated.append(optimizer.has_updated(opt_state))
result = params, updated, opt_state.mini_step, opt_state.gradient_step
""",
    "multisteps_as_transformation": """
optimizer = optax.chain(
    optax.clip_by_global_norm(1.0),
    optax.MultiSteps(optax.sgd(0.1, momentum=0.5), every_k_schedule=3).gradient_transformation(),
)
opt_state = optimizer.init(params)

@jax.jit
def step(params, opt_state):
    grads = jax.grad(loss_fn)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

for _ in range(6):
    params, opt_state = step(params, opt_state)
result = params
""",
    "apply_every": """
optimizer = optax.chain(optax.apply_every(k=2), optax.sgd(0.1))
result = fit(optimizer, steps=4)
""",
    # --- parameter groups, masks, freezing ---
    "adamw_mask_no_decay_on_bias": """
mask = lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
optimizer = optax.adamw(learning_rate=1e-2, weight_decay=0.1, mask=mask)
result = fit(optimizer)
""",
    "masked_decayed_weights": """
optimizer = optax.chain(
    optax.masked(optax.add_decayed_weights(0.1), {"w": True, "b": False}),
    optax.sgd(0.1),
)
result = fit(optimizer)
""",
    "multi_transform_param_groups": """
param_labels = {"w": "adam", "b": "sgd"}
optimizer = optax.multi_transform(
    {"adam": optax.adam(1e-2), "sgd": optax.sgd(0.1, momentum=0.9)}, param_labels
)
result = fit(optimizer)
""",
    "partition_with_label_fn": """
def label_fn(params):
    return jax.tree.map(lambda x: "matrix" if x.ndim == 2 else "vector", params)

optimizer = optax.partition(
    {"matrix": optax.lion(1e-3), "vector": optax.adagrad(0.1)}, label_fn
)
result = fit(optimizer)
""",
    "freeze_with_set_to_zero": """
optimizer = optax.multi_transform(
    {"trainable": optax.adam(1e-2), "frozen": optax.set_to_zero()},
    {"w": "frozen", "b": "trainable"},
)
params_after = fit(optimizer)
result = params_after, params_after["w"] - params["w"]
""",
    "freeze_and_selective_transform": """
a = optax.chain(optax.adam(1e-2), optax.freeze({"w": True, "b": False}))
b = optax.selective_transform(optax.sgd(0.1), freeze_mask={"w": False, "b": True})
result = fit(a), fit(b)
""",
    # --- averaging, lookahead, NaN handling ---
    "ema_of_params": """
optimizer = optax.adam(1e-2)
ema = optax.ema(decay=0.9)
opt_state, ema_state = optimizer.init(params), ema.init(params)
for _ in range(3):
    grads = jax.grad(loss_fn)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    ema_params, ema_state = ema.update(params, ema_state)
result = params, ema_params
""",
    "target_network_updates": """
online = fit(optax.sgd(0.1), steps=2)
target = params
soft = optax.incremental_update(online, target, step_size=0.1)
hard = [optax.periodic_update(online, target, jnp.asarray(s), update_period=2) for s in (1, 2)]
result = soft, hard
""",
    "lookahead": """
optimizer = optax.lookahead(optax.adam(1e-2), sync_period=2, slow_step_size=0.5)
lookahead_params = optax.LookaheadParams.init_synced(params)
opt_state = optimizer.init(lookahead_params)
for _ in range(5):
    grads = jax.grad(loss_fn)(lookahead_params.fast)
    updates, opt_state = optimizer.update(grads, opt_state, lookahead_params)
    lookahead_params = optax.apply_updates(lookahead_params, updates)
result = lookahead_params.slow, lookahead_params.fast
""",
    "apply_if_finite_skips_nan": """
optimizer = optax.apply_if_finite(optax.sgd(0.1), max_consecutive_errors=3)
opt_state = optimizer.init(params)

@jax.jit
def step(params, opt_state, bad):
    grads = jax.grad(loss_fn)(params)
    grads = jax.tree.map(lambda g: jnp.where(bad, jnp.nan, g), grads)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

for i in range(4):
    params, opt_state = step(params, opt_state, i == 1)
result = params, opt_state.notfinite_count, opt_state.total_notfinite
""",
    "zero_nans": """
optimizer = optax.chain(optax.zero_nans(), optax.sgd(0.1))
opt_state = optimizer.init(params)
grads = jax.grad(loss_fn)(params)
grads = {"w": grads["w"].at[0, 0].set(jnp.nan), "b": grads["b"]}
updates, opt_state = optimizer.update(grads, opt_state, params)
result = optax.apply_updates(params, updates), opt_state[0].found_nan
""",
    "skip_not_finite_multisteps": """
optimizer = optax.MultiSteps(
    optax.adam(1e-2), every_k_schedule=2, should_skip_update_fn=optax.skip_not_finite
)
opt_state = optimizer.init(params)

@jax.jit
def step(params, opt_state, bad):
    grads = jax.grad(loss_fn)(params)
    grads = jax.tree.map(lambda g: jnp.where(bad, jnp.inf, g), grads)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

for i in range(4):
    params, opt_state = step(params, opt_state, i == 1)
result = params, opt_state.skip_state
""",
    # --- tree utilities ---
    "tree_utils_math": """
tu = optax.tree_utils
grads = jax.grad(loss_fn)(params)
result = (
    tu.tree_norm(grads),
    tu.tree_norm(grads, ord=1),
    tu.tree_vdot(grads, params),
    tu.tree_sum(grads),
    tu.tree_add(params, tu.tree_scale(0.5, grads)),
    tu.tree_add_scale(params, -0.1, grads),
    tu.tree_sub(params, grads),
    tu.tree_zeros_like(params),
    tu.tree_full_like(params, 2.0),
    tu.tree_max(grads),
    tu.tree_clip(grads, -0.1, 0.1),
)
""",
    "tree_map_params_and_set": """
optimizer = optax.sgd(0.1, momentum=0.9)
opt_state = optimizer.init(params)
doubled = optax.tree_utils.tree_map_params(optimizer, lambda p: p * 2 + 1, opt_state)
opt_state = optax.tree_utils.tree_set(doubled)
result = optax.tree_utils.tree_get_all_with_path(doubled, "trace")[0][1]
""",
    # --- flax ---
    "flax_train_state": """
from flax.training import train_state

state = train_state.TrainState.create(
    apply_fn=lambda p, x: x @ p["w"] + p["b"],
    params=params,
    tx=optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-2, weight_decay=1e-2)),
)
for _ in range(3):
    grads = jax.grad(loss_fn)(state.params)
    state = state.apply_gradients(grads=grads)
result = state.params, state.step
""",
    # --- the optimiser zoo (contrib-free) ---
    "lion_lamb_lars": """
result = [fit(opt) for opt in (optax.lion(1e-3), optax.lamb(1e-2), optax.lars(0.1))]
""",
    "adafactor_radam_novograd": """
result = [
    fit(opt)
    for opt in (optax.adafactor(1e-2), optax.radam(1e-2), optax.novograd(1e-2))
]
""",
    "classic_adaptive": """
result = [
    fit(opt)
    for opt in (
        optax.adagrad(0.1),
        optax.adadelta(1.0),
        optax.rmsprop(1e-2, centered=True, momentum=0.9),
        optax.amsgrad(1e-2),
        optax.yogi(1e-2),
    )
]
""",
    "adam_family": """
result = [
    fit(opt)
    for opt in (
        optax.adam(1e-2, nesterov=True),
        optax.nadamw(1e-2, weight_decay=1e-3),
        optax.adamax(1e-2),
        optax.adamaxw(1e-2),
        optax.adabelief(1e-2),
        optax.adan(1e-2),
    )
]
""",
    "sign_and_sm3_family": """
result = [
    fit(opt)
    for opt in (
        optax.sign_sgd(1e-2),
        optax.signum(1e-2),
        optax.sm3(0.1),
        optax.fromage(1e-2),
        optax.rprop(1e-2),
        optax.optimistic_gradient_descent(1e-2),
    )
]
""",
    "named_chain_state_access": """
optimizer = optax.named_chain(
    ("clip", optax.clip_by_global_norm(1.0)), ("adam", optax.scale_by_adam()),
    ("lr", optax.scale(-1e-2)),
)
opt_state = optimizer.init(params)
grads = jax.grad(loss_fn)(params)
updates, opt_state = optimizer.update(grads, opt_state, params)
result = optax.apply_updates(params, updates), opt_state["adam"].mu, opt_state["adam"].count
""",
}

_SNIPPET_IDS = list(SNIPPETS)


def run_snippet(code: str, module: object) -> object:
    """Executes ``PRELUDE + code`` with ``optax`` bound to ``module``; returns ``result``."""
    namespace = {"optax": module, "optax_real": optax}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        exec(compile(PRELUDE + textwrap.dedent(code), "<snippet>", "exec"), namespace)  # noqa: S102
    assert "result" in namespace, "the snippet sets no result"
    return namespace["result"]


def test_snippets_are_optax_code():
    """At least 30 snippets, none naming gradtx: each is plain optax user code; the real
    optax is reached only through the prelude's losses."""
    assert len(SNIPPETS) >= 30, len(SNIPPETS)
    assert not [name for name, code in SNIPPETS.items() if "gradtx" in code]
    assert not [name for name, code in SNIPPETS.items() if "optax_real" in code]


@pytest.mark.parametrize("name", _SNIPPET_IDS)
def test_snippet_runs_with_gradtx_as_optax(name):
    code = SNIPPETS[name]
    ours = run_snippet(code, gradtx)
    theirs = run_snippet(code, optax)
    ours_leaves, ours_tree = jax.tree.flatten(ours)
    theirs_leaves, theirs_tree = jax.tree.flatten(theirs)
    assert ours_tree == theirs_tree, f"result structures differ: {ours_tree} vs {theirs_tree}"
    assert ours_leaves, "the snippet's result has no numbers"
    for i, (a, b) in enumerate(zip(ours_leaves, theirs_leaves, strict=True)):
        np.testing.assert_allclose(
            np.asarray(a, dtype=np.float64),
            np.asarray(b, dtype=np.float64),
            rtol=RTOL,
            atol=ATOL,
            err_msg=f"{name}: leaf {i} of the result",
        )
