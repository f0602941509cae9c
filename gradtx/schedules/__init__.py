"""Learning-rate schedules as pytrees.

Each schedule is a frozen dataclass registered as a JAX pytree and callable as
``schedule(step) -> value`` (``float32``) on a Python int or a (traced) integer array.
``schedule(k)`` is the value used for the k-th update, ``k = 0, 1, ...``; negative
steps are clamped to 0.

* Float hyperparameters are leaves: ``jax.tree_util.tree_leaves(s)`` lists them; two
  schedules of one kind and structure go through a jitted function with one
  compilation; ``jax.vmap`` over a stacked batch
  (``jax.tree.map(lambda *x: jnp.stack(x), s1, s2)``) evaluates each; ``jax.grad``
  differentiates with respect to them.
* Integer/discrete structure (step counts, milestones, periods, modes, nested
  schedule kinds) is static.
* Bad arguments raise ``ValueError`` naming the parameter at construction.

torch-named schedules (``step_lr``, ``multistep_lr``, ``exponential_lr``,
``cosine_annealing``, ``cosine_warm_restarts``, ``cyclic``, ``one_cycle``) reproduce
``torch.optim.lr_scheduler``'s values for the same arguments; optax-named ones
(``piecewise_constant``, ``exponential_decay``, ``polynomial``, ``linear``,
``cosine_decay``, ``warmup_cosine_decay``, ``join``) optax's. optax's own names
(``cosine_decay_schedule``, ``linear_schedule``, ``join_schedules``, ...; also at the top
level, ``gradtx.linear_schedule``) take optax's arguments and give optax's values at every
step, negative steps included (``_optax_names.py``). See docs/schedules.md.
"""

from gradtx.schedules._base import (
    Schedule,
    as_schedule,
    from_function,
)
from gradtx.schedules._combine import join, warmup
from gradtx.schedules._cosine import (
    cosine_annealing,
    cosine_decay,
    cosine_warm_restarts,
    warmup_cosine_decay,
)
from gradtx.schedules._cyclic import cyclic, one_cycle
from gradtx.schedules._decay import (
    exp_decay,
    exponential_decay,
    exponential_lr,
    factor,
    inverse_time,
    linear,
    polynomial,
)
from gradtx.schedules._optax_names import (
    constant_schedule,
    cosine_decay_schedule,
    cosine_onecycle_schedule,
    join_schedules,
    linear_onecycle_schedule,
    linear_schedule,
    piecewise_constant_schedule,
    piecewise_interpolate_schedule,
    polynomial_schedule,
    sgdr_schedule,
    warmup_constant_schedule,
    warmup_cosine_decay_schedule,
    warmup_exponential_decay_schedule,
)
from gradtx.schedules._plot import label, plot, values
from gradtx.schedules._stateful import StatefulSchedule, WrappedSchedule
from gradtx.schedules._steps import constant, multistep_lr, piecewise_constant, step_lr

__all__ = [
    "Schedule",
    "StatefulSchedule",
    "WrappedSchedule",
    "as_schedule",
    "constant",
    "constant_schedule",
    "cosine_annealing",
    "cosine_decay",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "cosine_warm_restarts",
    "cyclic",
    "exp_decay",
    "exponential_decay",
    "exponential_lr",
    "factor",
    "from_function",
    "inverse_time",
    "join",
    "join_schedules",
    "linear",
    "linear_onecycle_schedule",
    "linear_schedule",
    "multistep_lr",
    "one_cycle",
    "piecewise_constant",
    "label",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "plot",
    "polynomial",
    "polynomial_schedule",
    "sgdr_schedule",
    "step_lr",
    "values",
    "warmup",
    "warmup_constant_schedule",
    "warmup_cosine_decay",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
]

# optax.schedules also holds inject_hyperparams and its state types; gradtx keeps them in
# gradtx.schedules._inject (which imports this package), so they resolve here lazily, for
# ``import gradtx as optax; optax.schedules.inject_hyperparams(...)``.
_FROM_GRADTX = frozenset(
    {
        "InjectHyperparamsState",
        "InjectStatefulHyperparamsState",
        "inject_hyperparams",
        "inject_stateful_hyperparams",
    }
)


def __getattr__(name: str) -> object:
    if name in _FROM_GRADTX:
        import gradtx

        return getattr(gradtx, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
