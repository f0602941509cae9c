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

import gradtx


class Row(NamedTuple):
    id: str
    make: Callable[[Any], Any]  # m -> GradientTransformation
    names: tuple[str, ...]  # public names this row exercises
    extra_args: dict[str, Any] = {}


def _r(id: str, make: Callable[[Any], Any], *names: str, **extra: Any) -> Row:
    return Row(id, make, names or (id,), extra)


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
    _r("bound_lr_amsbound", lambda m: m.bound_lr(0.01, amsbound=True), "bound_lr"),
    _r("add_decayed_weights", lambda m: m.add_decayed_weights(0.1)),
    _r("clip_by_global_norm", lambda m: m.clip_by_global_norm(1.0)),
    _r("add_noise", lambda m: m.add_noise(0.01, 0.55, 0)),
    _r("add_noise_key", lambda m: m.add_noise(0.01, 0.55, key=0), "add_noise"),
    # optax's layout/monitoring wrappers (tests/test_optax_monitoring.py)
    _r("flatten", lambda m: m.flatten(m.adam(0.01))),
    _r("normalize_by_update_norm", lambda m: m.normalize_by_update_norm()),
    _r("monitor", lambda m: m.monitor({"norm": m.tree.norm})),
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

# Public callables that build no transformation or schedule (helpers, step builders,
# tools). Their own test modules cover them.
NOT_CONSTRUCTORS = frozenset(
    {
        "apply_updates",
        "batch_size_schedule",
        "bytes_per_device",
        "fsdp_shardings",
        "global_norm",
        "gradient_noise_scale",
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
        "unpack",
        "update_and_apply",
        "vmap_sweep",
    }
)
# Schedules helpers that are not schedule kinds.
NOT_SCHEDULES = frozenset({"Schedule", "as_schedule", "plot", "values"})


def build(row: Row) -> Any:
    return row.make(gradtx)
