"""Where :func:`gradtx.inject_hyperparams` keeps values and schedules in its state.

The state is optax 0.2.8's tree, field for field (``optax.inject_hyperparams`` returns an
``InjectStatefulHyperparamsState(count, hyperparams, hyperparams_states, inner_state)``):

* ``hyperparams[name]``: the value the last update used (after ``init``: the value for
  the first update), a plain scalar array for every injected name, scheduled or not, so
  ``float(state.hyperparams["learning_rate"])`` logs it and
  ``optax.tree_utils.tree_get(state, "learning_rate")`` finds it;
* ``hyperparams_states``: per-schedule state, as optax. A plain callable (an optax
  schedule, a lambda) gets optax's ``WrappedScheduleState(count)`` under its name. A
  pytree schedule (a :mod:`gradtx.schedules` object) is stored *itself*, its float
  leaves as arrays, under ``name + "_schedule"`` (:data:`SCHEDULE_SUFFIX`), so it is
  checkpointed and :func:`gradtx.set_hyperparams` swaps it without recompiling.

Why this layout: a separate field that optax's tree lacks would break restoring a gradtx
checkpoint into optax and back; optax 0.2.8 already has ``hyperparams_states`` for
per-schedule state, so the pytree schedule goes there. Numbers and plain callables give
exactly optax's tree (field names, order, dtypes, leaves). A pytree schedule's leaves
have no optax counterpart (optax keeps no hyperparameters of a schedule), so that case
cannot restore into optax's tree whatever the key; its key is ``name + "_schedule"``
rather than ``name`` so that ``optax.tree_utils.tree_get(state, "learning_rate")`` finds
one value, the one used (with a plain-callable schedule optax's own state holds the name
twice and ``tree_get`` raises ``KeyError``, in optax as here).

The update itself runs on an internal view ``(count, hyperparams, inner_state)`` where
``hyperparams[name]`` is the schedule for pytree-scheduled names (the layout the rest of
:mod:`gradtx.schedules._inject` computes with); :func:`to_internal` and :func:`to_public`
convert, and nothing else needs to know.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from gradtx.tree._core import safe_increment

SCHEDULE_SUFFIX = "_schedule"


class WrappedScheduleState(NamedTuple):
    """optax's state for a plain-callable schedule (``optax.schedules.WrappedSchedule``)."""

    count: jax.Array  # shape=(), dtype=int32: the number of updates so far


class InternalState(NamedTuple):
    """The layout :mod:`gradtx.schedules._inject` computes with (schedules inside
    ``hyperparams``). Never returned to the user."""

    count: jax.Array  # shape=(), dtype=int32
    hyperparams: dict[str, Any]
    inner_state: Any


def to_public(
    internal: InternalState,
    state_class: type,
    evaluated_at: jax.Array,
    is_schedule: Callable[[Any], bool],
    plain: frozenset[str],
    as_value: Callable[[Any], Any],
) -> Any:
    """The user-facing state: pytree schedules moved to ``hyperparams_states`` and their
    value at ``evaluated_at`` (the step the last update used; 0 after ``init``) put in
    ``hyperparams``; plain callables get ``WrappedScheduleState``."""
    hyperparams, states = {}, {}
    for name, value in internal.hyperparams.items():
        if is_schedule(value):
            states[name + SCHEDULE_SUFFIX] = value
            hyperparams[name] = as_value(value(evaluated_at))
        else:
            hyperparams[name] = value
            if name in plain:
                states[name] = WrappedScheduleState(internal.count)
    return state_class(internal.count, hyperparams, states, internal.inner_state)


def to_internal(state: Any, is_schedule: Callable[[Any], bool]) -> InternalState:
    """The internal view of a user-facing state: each pytree schedule back under its name
    in ``hyperparams``."""
    hyperparams = dict(state.hyperparams)
    for key, value in state.hyperparams_states.items():
        if is_schedule(value) and key.endswith(SCHEDULE_SUFFIX):
            hyperparams[key[: -len(SCHEDULE_SUFFIX)]] = value
    return InternalState(state.count, hyperparams, state.inner_state)


def wrap(
    init_fn: Callable[[Any], InternalState],
    update_fn: Callable[..., tuple[Any, InternalState]],
    state_class: type,
    is_schedule: Callable[[Any], bool],
    plain: frozenset[str],
    as_value: Callable[[Any, Any], Any],
) -> tuple[Callable, Callable]:
    """``init``/``update`` on the user-facing state from the internal ones. ``as_value``
    converts a schedule's value to the stored dtype given the params."""

    def init(params):
        internal = init_fn(params)
        return to_public(
            internal, state_class, internal.count, is_schedule, plain,
            lambda v: as_value(v, params),
        )  # fmt: skip

    def update(updates, state, params=None, **extra_args):
        if not isinstance(state, state_class):
            raise TypeError(
                f"inject_hyperparams: state must be the {state_class.__name__} returned by "
                f"this optimiser's init, got {type(state).__name__}"
            )
        updates, internal = update_fn(
            updates, to_internal(state, is_schedule), params, **extra_args
        )
        public = to_public(
            internal, state_class, state.count, is_schedule, plain,
            lambda v: as_value(v, params),
        )  # fmt: skip
        # A schedule's value keeps the dtype already in the state (a scan carry stays
        # valid); optax increments each wrapped schedule's own count.
        hyperparams = dict(public.hyperparams)
        for key, value in public.hyperparams_states.items():
            k = key[: -len(SCHEDULE_SUFFIX)]
            old = state.hyperparams.get(k)
            if is_schedule(value) and key.endswith(SCHEDULE_SUFFIX) and hasattr(old, "dtype"):
                hyperparams[k] = hyperparams[k].astype(old.dtype)
        states = {
            k: WrappedScheduleState(safe_increment(state.hyperparams_states[k].count))
            if isinstance(v, WrappedScheduleState)
            else v
            for k, v in public.hyperparams_states.items()
        }
        return updates, public._replace(hyperparams=hyperparams, hyperparams_states=states)

    return init, update
