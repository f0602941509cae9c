"""The one table of every public constructor, for the property tests.

Each property test (dtypes, complex params, checkpoints, sharding, buffer aliasing, ...)
runs over :data:`TRANSFORMS` (and :data:`SCHEDULES` where it applies to schedules), so a
new public transform, optimiser, wrapper or schedule is covered by adding one row here.
``tests/test_constructor_table.py`` fails for a public name that has no row (or is not
listed in :data:`NOT_CONSTRUCTORS`).

A row builds one configuration from the ``gradtx`` module ``m``. ``extra_args`` are the
keyword arguments its ``update`` needs on every step (``reduce_on_plateau`` needs
``value``). ``names`` are the public names a row exercises (for the coverage check).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

import gradtx
import gradtx.contrib  # noqa: F401  (rows use m.contrib)


class Row(NamedTuple):
    id: str
    make: Callable[[Any], Any]  # m -> GradientTransformation
    names: tuple[str, ...]  # public names this row exercises
    extra_args: dict[str, Any] = {}


def _r(id: str, make: Callable[[Any], Any], *names: str, **extra: Any) -> Row:
    return Row(id, make, names or (id,), extra)


def _is_1d(params):
    return jax.tree.map(lambda p: jnp.ndim(p) <= 1, params)


def _not_1d(params):
    return jax.tree.map(lambda p: jnp.ndim(p) > 1, params)


def _w_or_b(params):
    return jax.tree.map(lambda p: "w" if jnp.ndim(p) > 1 else "b", params)


def _abs(tree):
    return jax.tree.map(jnp.abs, tree)


def _on_plain_params(m, tx):
    """``tx`` (which acts on ``LookaheadParams``) as a transformation of plain params: the
    slow copy lives in the state, so every property test can run the row like the others
    (lookahead's own math is unchanged: its fast updates are returned, its slow updates
    applied to the stored copy)."""

    def init(params):
        slow = jax.tree.map(jnp.copy, params)
        return (tx.init(m.LookaheadParams.init_synced(params)), slow)

    def update(updates, state, params=None, **extra_args):
        inner, slow = state
        u, inner = tx.update(updates, inner, m.LookaheadParams(fast=params, slow=slow),
                             **extra_args)
        return u.fast, (inner, m.apply_updates(slow, u.slow))

    return m.GradientTransformation(init, update)
def _sq_norm(p):
    return sum(jax.numpy.sum(jax.numpy.abs(x) ** 2) for x in jax.tree.leaves(p))


def _backtracking(m):
    """The line search with the value and gradient of ``|p|^2`` supplied at each update
    (its ``update`` needs ``value``, ``grad`` and ``value_fn``)."""
    ls = m.scale_by_backtracking_linesearch(5, store_grad=True)

    def update(updates, state, params=None, **extra):
        value, grad = jax.value_and_grad(_sq_norm)(params)
        grad = jax.tree.map(jnp.conj, grad)  # gradtx's convention, as _with_loss
        return ls.update(updates, state, params, value=value, grad=grad, value_fn=_sq_norm)

    return m.GradientTransformation(ls.init, update)


def _with_loss(m, tx):
    """``tx`` (a line search, or a chain ending in one) with the value, gradient and
    value_fn of ``|p|^2`` supplied at each update; the gradient in gradtx's convention
    (docs/dtypes.md), ``conj(jax.grad)``: the real split's gradient for a complex leaf."""

    def update(updates, state, params=None, **extra):
        value, grad = jax.value_and_grad(_sq_norm)(params)
        grad = jax.tree.map(jnp.conj, grad)
        return tx.update(updates, state, params, value=value, grad=grad, value_fn=_sq_norm)

    return m.GradientTransformation(tx.init, update)


def _zoom(m):
    return _with_loss(m, m.scale_by_zoom_linesearch(5))


def _lbfgs(m):
    zoom = m.scale_by_zoom_linesearch(5, initial_guess_strategy="one")
    return _with_loss(m, m.lbfgs(memory_size=3, linesearch=zoom))


def _with_obj_fn(m, tx):
    """``tx`` (Sophia, Hutchinson's estimator) with ``obj_fn = |p|^2`` at each update."""

    def update(updates, state, params=None, **extra):
        return tx.update(updates, state, params, obj_fn=_sq_norm)

    return m.GradientTransformation(tx.init, update)


def _per_example(m, tx):
    """``tx`` (differentially private aggregation) given each gradient as a batch of one
    example (it clips and averages per-example gradients along a leading axis)."""

    def update(updates, state, params=None, **extra):
        return tx.update(jax.tree.map(lambda g: g[None], updates), state, params)

    return m.GradientTransformation(tx.init, update)


def _sched(m):
    return m.schedules.warmup(m.schedules.cosine_decay(0.01, 50), 5)


TRANSFORMS: list[Row] = [
    # --- optimisers (aliases) ---
    _r("sgd", lambda m: m.sgd(0.1)),
    _r("sgd_momentum", lambda m: m.sgd(0.1, momentum=0.9), "sgd"),
    _r("sgd_nesterov", lambda m: m.sgd(0.1, momentum=0.9, nesterov=True), "sgd"),
    _r("adagrad", lambda m: m.adagrad(0.1)),
    _r("rmsprop", lambda m: m.rmsprop(0.01)),
    _r(
        "rmsprop_centered_momentum",
        lambda m: m.rmsprop(0.01, centered=True, momentum=0.9, bias_correction=True),
        "rmsprop",
    ),
    _r("adadelta", lambda m: m.adadelta(1.0, weight_decay=0.01)),
    _r("adam", lambda m: m.adam(0.01)),
    _r("adam_schedule", lambda m: m.adam(_sched(m)), "adam"),
    _r("adamw", lambda m: m.adamw(0.01, weight_decay=0.1)),
    _r("amsgrad", lambda m: m.amsgrad(0.01)),
    _r("nadam", lambda m: m.nadam(0.01)),
    _r("yogi", lambda m: m.yogi(0.01)),
    _r("adabound", lambda m: m.adabound(0.01, weight_decay=0.01)),
    _r("adabound_schedule", lambda m: m.adabound(_sched(m)), "adabound"),
    _r("amsbound", lambda m: m.amsbound(0.01, gamma=0.05)),
    # issue 14, element-wise optimisers
    _r("lion", lambda m: m.lion(1e-3, weight_decay=0.01)),
    _r("adamax", lambda m: m.adamax(0.01)),
    _r("adamaxw", lambda m: m.adamaxw(0.01, weight_decay=0.1)),
    _r("nadamw", lambda m: m.nadamw(0.01, weight_decay=0.1)),
    _r("radam", lambda m: m.radam(0.01)),
    _r("adabelief", lambda m: m.adabelief(0.01)),
    _r("sign_sgd", lambda m: m.sign_sgd(0.01)),
    _r("signum", lambda m: m.signum(0.01)),
    _r("rprop", lambda m: m.rprop(0.01)),
    _r("rprop_torch", lambda m: m.rprop(0.01, lagged=False), "rprop"),
    _r("noisy_sgd", lambda m: m.noisy_sgd(0.01, key=0)),
    _r("optimistic_gradient_descent", lambda m: m.optimistic_gradient_descent(0.01)),
    _r("optimistic_adam", lambda m: m.optimistic_adam(0.01)),
    _r("optimistic_adam_v2", lambda m: m.optimistic_adam_v2(0.01)),
    _r("adan", lambda m: m.adan(0.01, weight_decay=0.01)),
    _r("novograd", lambda m: m.novograd(0.01, weight_decay=0.01)),
    _r("polyak_sgd", lambda m: m.polyak_sgd(0.5), value=1.0),
    _r("asgd", lambda m: m.asgd(0.01, t0=2)),
    _r("lamb", lambda m: m.lamb(0.01, weight_decay=0.01)),
    _r("lars", lambda m: m.lars(0.1, weight_decay=1e-4)),
    _r(
        "lars_masked_nesterov",
        lambda m: m.lars(0.1, weight_decay=1e-4, weight_decay_mask=lambda p: jax.tree.map(
            lambda x: x.ndim > 1, p), trust_ratio_mask=lambda p: jax.tree.map(
            lambda x: x.ndim > 1, p), nesterov=True),
        "lars",
    ),
    _r("fromage", lambda m: m.fromage(0.01)),
    _r("adafactor", lambda m: m.adafactor(0.01, min_dim_size_to_factor=2)),
    _r(
        "adafactor_momentum_wd",
        lambda m: m.adafactor(_sched(m), momentum=0.9, weight_decay_rate=1e-3),
        "adafactor",
    ),
    _r("sm3", lambda m: m.sm3(0.01)),
    # --- building blocks ---
    _r("identity", lambda m: m.identity()),
    _r("scale", lambda m: m.scale(-0.1)),
    _r("scale_by_learning_rate", lambda m: m.scale_by_learning_rate(0.1)),
    _r("scale_by_schedule", lambda m: m.scale_by_schedule(_sched(m))),
    _r("trace", lambda m: m.trace(0.9, nesterov=True)),
    _r("scale_by_rss", lambda m: m.scale_by_rss()),
    _r("scale_by_rms", lambda m: m.scale_by_rms(bias_correction=True)),
    _r("scale_by_stddev", lambda m: m.scale_by_stddev()),
    _r("scale_by_adadelta", lambda m: m.scale_by_adadelta()),
    _r("scale_by_adam", lambda m: m.scale_by_adam()),
    _r("scale_by_amsgrad", lambda m: m.scale_by_amsgrad()),
    _r("scale_by_yogi", lambda m: m.scale_by_yogi()),
    _r("bound_lr", lambda m: m.bound_lr(0.01)),
    # issue 14, element-wise building blocks
    _r("scale_by_lion", lambda m: m.scale_by_lion()),
    _r("scale_by_lion_smooth", lambda m: m.scale_by_lion(mode="smooth"), "scale_by_lion"),
    _r("scale_by_adamax", lambda m: m.scale_by_adamax()),
    _r("scale_by_radam", lambda m: m.scale_by_radam()),
    _r("scale_by_belief", lambda m: m.scale_by_belief()),
    _r("scale_by_sign", lambda m: m.scale_by_sign()),
    _r("scale_by_rprop", lambda m: m.scale_by_rprop(0.01)),
    _r("scale_by_optimistic_gradient", lambda m: m.scale_by_optimistic_gradient()),
    _r("scale_by_adan", lambda m: m.scale_by_adan()),
    _r("scale_by_novograd", lambda m: m.scale_by_novograd()),
    _r("scale_by_polyak", lambda m: m.scale_by_polyak(), value=1.0),
    _r("bound_lr_amsbound", lambda m: m.bound_lr(0.01, amsbound=True), "bound_lr"),
    _r("scale_by_trust_ratio", lambda m: m.scale_by_trust_ratio(min_norm=1e-6)),
    _r("scale_by_param_block_norm", lambda m: m.scale_by_param_block_norm()),
    _r("scale_by_param_block_rms", lambda m: m.scale_by_param_block_rms()),
    _r("scale_by_factored_rms", lambda m: m.scale_by_factored_rms(min_dim_size_to_factor=2)),
    _r("clip_by_block_rms", lambda m: m.clip_by_block_rms(1.0)),
    _r("scale_by_sm3", lambda m: m.scale_by_sm3()),
    _r(
        "scale_by_distance_over_gradients",
        lambda m: m.scale_by_distance_over_gradients(global_scale=-1.0),
    ),
    _r("scale_by_lbfgs", lambda m: m.scale_by_lbfgs(memory_size=3)),
    _r("scale_by_backtracking_linesearch", _backtracking),
    _r("scale_by_zoom_linesearch", _zoom),
    _r("lbfgs", _lbfgs, "lbfgs", "scale_by_zoom_linesearch"),
    _r("add_decayed_weights", lambda m: m.add_decayed_weights(0.1)),
    _r("clip_by_global_norm", lambda m: m.clip_by_global_norm(1.0)),
    _r("add_noise", lambda m: m.add_noise(0.01, 0.55, 0)),
    _r("add_noise_key", lambda m: m.add_noise(0.01, 0.55, key=0), "add_noise"),
    # optax's layout/monitoring wrappers (tests/test_optax_monitoring.py)
    _r("flatten", lambda m: m.flatten(m.adam(0.01))),
    _r("normalize_by_update_norm", lambda m: m.normalize_by_update_norm()),
    _r("snapshot", lambda m: m.snapshot("norm", m.tree.norm)),
    # optax's clipping and small transforms (tests/test_optax_clipping.py)
    _r("clip", lambda m: m.clip(1.0)),
    _r("clip_by_block_rms", lambda m: m.clip_by_block_rms(1.0)),
    _r("adaptive_grad_clip", lambda m: m.adaptive_grad_clip(0.1)),
    _r("centralize", lambda m: m.centralize()),
    _r(
        "keep_params_nonnegative",
        lambda m: m.chain(m.sgd(0.1), m.keep_params_nonnegative()),
        "keep_params_nonnegative",
    ),
    # --- wrappers and combinators ---
    _r(
        "chain",
        lambda m: m.chain(m.clip_by_global_norm(1.0), m.scale_by_adam(), m.scale(-0.01)),
    ),
    _r("inject_hyperparams", lambda m: m.inject_hyperparams(m.adam)(learning_rate=0.01)),
    _r(
        "inject_hyperparams_schedule",
        lambda m: m.inject_hyperparams(m.sgd)(learning_rate=_sched(m), momentum=0.9),
        "inject_hyperparams",
    ),
    _r(
        "inject_stateful_hyperparams",
        lambda m: m.inject_stateful_hyperparams(m.sgd)(learning_rate=0.01),
    ),
    _r("MultiSteps", lambda m: m.MultiSteps(m.adam(0.01), 2).gradient_transformation()),
    _r("apply_if_finite", lambda m: m.apply_if_finite(m.adam(0.01), 3)),
    _r("zero_nans", lambda m: m.zero_nans()),
    _r(
        "reduce_on_plateau",
        lambda m: m.chain(m.adam(0.01), m.reduce_on_plateau(patience=2)),
        "reduce_on_plateau",
        value=1.0,
    ),
    _r("packed", lambda m: m.packed(m.adam(0.01))),
    # --- optax API: parameter groups and freezing (the mask drops the 1-D leaves) ---
    _r("masked", lambda m: m.masked(m.adam(0.01), _not_1d)),
    _r(
        "partition",
        lambda m: m.partition({"w": m.adam(0.01), "b": m.sgd(0.1)}, _w_or_b),
    ),
    _r(
        "multi_transform",
        lambda m: m.multi_transform({"w": m.adamw(0.01), "b": m.adam(0.01)}, _w_or_b),
    ),
    _r("set_to_zero", lambda m: m.set_to_zero()),
    _r("freeze", lambda m: m.chain(m.adam(0.01), m.freeze(_is_1d))),
    _r("selective_transform", lambda m: m.selective_transform(m.adam(0.01), freeze_mask=False)),
    _r(
        "conditionally_transform",
        lambda m: m.conditionally_transform(m.adam(0.01), lambda step: step % 2 == 0),
    ),
    _r(
        "conditionally_mask",
        lambda m: m.conditionally_mask(m.adam(0.01), lambda step: step % 2 == 1),
    ),
    # --- optax API: composition ---
    _r(
        "named_chain",
        lambda m: m.named_chain(("clip", m.clip_by_global_norm(1.0)), ("adam", m.adam(0.01))),
    ),
    _r("stateless", lambda m: m.stateless(lambda u, p: u)),
    _r("stateless_with_tree_map", lambda m: m.stateless_with_tree_map(lambda u, p: 0.5 * u)),
    _r("with_extra_args_support", lambda m: m.with_extra_args_support(m.adam(0.01))),
    # --- optax API: averaging and update timing ---
    _r("ema", lambda m: m.ema(0.9)),
    _r("ema_no_debias", lambda m: m.ema(0.9, debias=False, accumulator_dtype="float32"), "ema"),
    # the measurement keeps the tree, so the row's updates are shaped like the params
    _r("measure_with_ema", lambda m: m.measure_with_ema(_abs, 0.9)),
    # lookahead's params and updates are LookaheadParams(fast, slow) pairs: the row runs it
    # through _on_plain_params, which keeps the slow params in the state
    _r("lookahead", lambda m: _on_plain_params(m, m.lookahead(m.adam(0.01), 3, 0.5)),
       "lookahead"),
    _r("apply_every", lambda m: m.apply_every(2)),
    _r(
        "MultiSteps_skip_accumulator_dtype",
        lambda m: m.MultiSteps(
            m.adam(0.01), 2, should_skip_update_fn=m.skip_not_finite, accumulator_dtype="float32"
        ).gradient_transformation(),
        "MultiSteps",
    ),
    _r(
        "split_real_and_imaginary",
        lambda m: m.contrib.split_real_and_imaginary(m.adam(0.01)),
    ),
    # --- Muon and SOAP (issue 15): matrices preconditioned, the rest AdamW / plain Adam ---
    _r("muon", lambda m: m.contrib.muon(0.01), "muon", "scale_by_muon"),
    _r(
        "muon_torch_match_rms_adamw",
        lambda m: m.contrib.muon(0.01, weight_decay=0.1, adjust_lr_fn="match_rms_adamw"),
        "muon",
    ),
    _r("soap", lambda m: m.contrib.soap(0.01), "soap", "scale_by_soap"),
    _r(
        "soap_1d_merge_refresh2",
        lambda m: m.contrib.soap(0.01, precondition_1d=True, merge_dims=True,
                                 max_precond_dim=8, precondition_frequency=2),
        "soap",
    ),
    # --- schedule-free and learning-rate-free optimisers (issue 15, branch sfree) ---
    _r("schedule_free_sgd", lambda m: m.contrib.schedule_free_sgd(0.01, warmup_steps=2)),
    _r("schedule_free_adamw", lambda m: m.contrib.schedule_free_adamw(0.01, weight_decay=0.01)),
    _r("schedule_free", lambda m: m.contrib.schedule_free(m.adam(0.01, b1=0.0), 0.01)),
    _r("prodigy", lambda m: m.contrib.prodigy(weight_decay=0.01)),
    _r("dadapt_adamw", lambda m: m.contrib.dadapt_adamw(weight_decay=0.01)),
    _r("dog", lambda m: m.contrib.dog(weight_decay=0.01)),
    _r("dowg", lambda m: m.contrib.dowg()),
    _r("cocob", lambda m: m.contrib.cocob(weight_decay=0.01)),
    _r("scale_by_cocob", lambda m: m.contrib.scale_by_cocob()),
    _r("mechanize", lambda m: m.contrib.mechanize(m.adam(0.01))),
    _r("momo", lambda m: m.contrib.momo(0.1, weight_decay=0.01), value=jnp.asarray(1.0)),
    _r("momo_adam", lambda m: m.contrib.momo_adam(0.01, adapt_lower_bound=True),
       value=jnp.asarray(1.0)),
    # --- end schedule-free and learning-rate-free ---
    # --- optax.contrib: Adam variants, normalize (issue 15, helper advar) ---
    _r("ademamix", lambda m: m.contrib.ademamix(0.01, b3=0.99, weight_decay=0.01)),
    _r("scale_by_ademamix", lambda m: m.contrib.scale_by_ademamix()),
    _r("simplified_ademamix", lambda m: m.contrib.simplified_ademamix(1e-3, weight_decay=0.01)),
    _r("scale_by_simplified_ademamix", lambda m: m.contrib.scale_by_simplified_ademamix(alpha=1.0)),
    _r("adopt", lambda m: m.contrib.adopt(0.01)),
    _r("scale_by_adopt", lambda m: m.contrib.scale_by_adopt(nesterov=True)),
    _r("acprop", lambda m: m.contrib.acprop(0.01, weight_decay=0.01)),
    _r("scale_by_acprop", lambda m: m.contrib.scale_by_acprop()),
    _r("madgrad", lambda m: m.contrib.madgrad(0.01, weight_decay=0.01)),
    _r("scale_by_madgrad", lambda m: m.contrib.scale_by_madgrad(0.01)),
    _r("normalize", lambda m: m.contrib.normalize()),
    # SAM as a plain transformation: its calls alternate ascent and outer steps
    _r("sam", lambda m: m.contrib.sam(
        m.sgd(0.01, momentum=0.9), m.chain(m.contrib.normalize(), m.sgd(0.05)))),
    # Sophia and Hutchinson's estimator need obj_fn; GaLore projects matrices (rank 1 here);
    # DP aggregation takes per-example gradients (a batch of one here)
    _r("sophia", lambda m: _with_obj_fn(m, m.contrib.sophia(0.01)), "sophia", "scale_by_sophia"),
    _r("hutchinson_estimator_diag_hessian",
       lambda m: _with_obj_fn(m, m.contrib.hutchinson_estimator_diag_hessian())),
    _r("galore", lambda m: m.contrib.galore(0.01, rank=1), "galore", "scale_by_galore"),
    _r("dpsgd", lambda m: _per_example(m, m.contrib.dpsgd(0.01, 1.0, 0.1, 0)),
       "dpsgd", "differentially_private_aggregate"),
    # --- end advar ---
]

# Public schedules, one configuration (or more) each.
SCHEDULES: list[tuple[str, Callable[[Any], Any]]] = [
    ("constant", lambda s: s.constant(0.1)),
    ("step_lr", lambda s: s.step_lr(0.1, 10, 0.5)),
    ("multistep_lr", lambda s: s.multistep_lr(0.1, [10, 20], 0.5)),
    ("piecewise_constant", lambda s: s.piecewise_constant(0.1, {10: 0.5, 20: 0.1})),
    ("factor", lambda s: s.factor(0.1, 0.9, 1e-3)),
    ("exponential_lr", lambda s: s.exponential_lr(0.1, 0.95)),
    ("exp_decay", lambda s: s.exp_decay(0.1, 0.05)),
    ("exponential_decay", lambda s: s.exponential_decay(0.1, 10, 0.5)),
    ("inverse_time", lambda s: s.inverse_time(0.1, 0.1)),
    ("polynomial", lambda s: s.polynomial(0.1, 0.001, 2.0, 30)),
    ("linear", lambda s: s.linear(0.1, 0.001, 30)),
    ("cosine_annealing", lambda s: s.cosine_annealing(0.1, 30)),
    ("cosine_decay", lambda s: s.cosine_decay(0.1, 30)),
    ("warmup_cosine_decay", lambda s: s.warmup_cosine_decay(0.0, 0.1, 5, 30)),
    ("cosine_warm_restarts", lambda s: s.cosine_warm_restarts(0.1, 10)),
    ("warmup", lambda s: s.warmup(s.cosine_decay(0.1, 30), 5)),
    ("cyclic", lambda s: s.cyclic(0.001, 0.1, 5)),
    ("one_cycle", lambda s: s.one_cycle(0.1, 30)),
    ("join", lambda s: s.join([s.constant(0.1), s.linear(0.1, 0.0, 10)], [10])),
    ("from_function", lambda s: s.from_function(lambda k: 0.1 / (1.0 + k))),
    # optax's names (also gradtx.<name>; tests/test_optax_schedules.py)
    ("constant_schedule", lambda s: s.constant_schedule(0.1)),
    ("polynomial_schedule", lambda s: s.polynomial_schedule(0.1, 0.001, 2.0, 30)),
    ("linear_schedule", lambda s: s.linear_schedule(0.1, 0.001, 30)),
    ("warmup_constant_schedule", lambda s: s.warmup_constant_schedule(0.0, 0.1, 5)),
    ("piecewise_constant_schedule", lambda s: s.piecewise_constant_schedule(0.1, {10: 0.5})),
    ("cosine_decay_schedule", lambda s: s.cosine_decay_schedule(0.1, 30)),
    ("warmup_cosine_decay_schedule", lambda s: s.warmup_cosine_decay_schedule(0.0, 0.1, 5, 30)),
    (
        "warmup_exponential_decay_schedule",
        lambda s: s.warmup_exponential_decay_schedule(0.0, 0.1, 5, 10, 0.5),
    ),
    ("join_schedules", lambda s: s.join_schedules([0.1, s.linear_schedule(0.1, 0.0, 10)], [10])),
    (
        "sgdr_schedule",
        lambda s: s.sgdr_schedule(
            [dict(init_value=0.0, peak_value=0.1, warmup_steps=2, decay_steps=10)] * 2
        ),
    ),
    (
        "piecewise_interpolate_schedule",
        lambda s: s.piecewise_interpolate_schedule("cosine", 0.1, {10: 0.5, 20: 0.1}),
    ),
    ("cosine_onecycle_schedule", lambda s: s.cosine_onecycle_schedule(30, 0.1)),
    ("linear_onecycle_schedule", lambda s: s.linear_onecycle_schedule(30, 0.1)),
]

# Transformations the property tables cannot carry through ``lax.scan``, each covered by
# its own test file instead, and why.
OWN_TESTS = {
    "monitor": "its state tree grows after the first update (optax's too): "
    "tests/test_optax_monitoring.py",
}

# Public callables that build no transformation or schedule (helpers, step builders,
# tools). Their own test modules cover them.
NOT_CONSTRUCTORS = frozenset(
    {
        "Schedule",  # a type name (optax.Schedule), not a schedule
        "apply_updates",
        "batch_size_schedule",
        "bytes_per_device",
        "fsdp_shardings",
        "global_norm",
        "gradient_noise_scale",
        "incremental_update",
        "init_empty_state",
        "periodic_update",
        "skip_large_updates",
        "skip_not_finite",
        "tree_map_params",
        "linear_scaling_rule",
        "lr_range_test",
        "make_step",
        "make_train_step",
        "pack",
        "per_example_global_norm_clip",
        "per_example_layer_norm_clip",
        "scale_gradient",
        "safe_increment",
        "safe_int32_increment",
        "safe_norm",
        "safe_root_mean_squares",
        "scan_train",
        "set_hyperparams",
        "smith_le_noise_scale",
        "sqrt_scaling_rule",
        "stack_schedules",
        "state_shardings",
        "global_batch",
        "schedule_free_eval_params",  # gradtx.contrib: params from a state, not a transform
        "unpack",
        "update_and_apply",
        "value_and_grad_from_state",
        "vmap_sweep",
        # optax's utilities (tests/test_optax_utilities.py)
        "matrix_inverse_pth_root",
        "microbatch",
        "multi_normal",
        "nnls",
        "power_iteration",
    }
)
# Schedules helpers that are not schedule kinds.
NOT_SCHEDULES = frozenset({"Schedule", "as_schedule", "label", "plot", "values"})


def build(row: Row) -> Any:
    return row.make(gradtx)
