"""``set_hyperparams``: replace injected hyperparameters in an optimiser state (a number
by a number, a schedule by a schedule of the same structure) without recompiling and
without silent rounding. Split from :mod:`gradtx.schedules._inject`."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.schedules import _inject_state
from gradtx.schedules._inject import InjectHyperparamsState, _own, is_pytree_schedule


def set_hyperparams(state: Any, **values: Any) -> Any:
    r"""Returns ``state`` with some injected hyperparameters replaced, for the next update.

    ``state`` is an :class:`InjectHyperparamsState` or any optimiser state containing
    one or more (a ``chain``'s tuple); each named hyperparameter is replaced in every
    injected state that holds it. Each new value is converted to the structure and
    dtypes of the one it replaces, so a jitted training step that takes the state as an
    argument does not recompile: a number replaces a number (``learning_rate=1e-4``), a
    schedule replaces a schedule of the same kind and structure
    (``gradtx.schedules.constant(1e-4)`` in place of another ``constant``). The step
    count is unchanged, so a new schedule is evaluated at the current step.

    Never truncates or rounds silently (see Raises). Works on traced states too (checked
    by dtype). The new arrays are copied, so the state never shares a buffer with the
    caller. optax has no counterpart (its docs assign ``state.hyperparams[name] = v``, which
    mutates the state and does not check the dtype).

    Args:
      state: an optimiser state built by :func:`inject_hyperparams`, or a pytree
        containing one or more such states.
      **values: ``name=value`` for each hyperparameter to replace: a number or array of
        the stored shape, or a schedule of the stored schedule's kind and structure.

    Returns:
      A state of the same type, structure, shapes and dtypes, with the named values
      replaced (``count`` and the inner state unchanged).

    Raises:
      KeyError: a name no injected state holds (the message lists the held names).
      TypeError: ``state`` contains no :class:`InjectHyperparamsState`; a value is not a
        real number; a fractional float for an integer field (it would be truncated);
        a traced float for an integer field or a traced wider float for a
        float16/bfloat16 field.
      ValueError: the new value's structure or shape differs (that would change the
        compiled step; use ``state._replace(hyperparams=...)`` if you mean it); a value
        the stored dtype would change by more than float32 rounding of a Python float (a
        bfloat16/float16 field the user asked for, an integer out of range), naming both
        values.

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> params = {"w": jnp.array([1.0, 2.0])}
      >>> opt = gradtx.inject_hyperparams(gradtx.sgd)(learning_rate=0.1)
      >>> state = opt.init(params)
      >>> lr = state.hyperparams["learning_rate"]
      >>> state = gradtx.set_hyperparams(state, learning_rate=lr * 0.1)
      >>> new = state.hyperparams["learning_rate"]
      >>> round(float(new), 4), new.dtype
      (0.01, dtype('float32'))
      >>> updates, state = opt.update({"w": jnp.array([1.0, -1.0])}, state, params)
      >>> [round(x, 4) for x in updates["w"].tolist()]
      [-0.01, 0.01]
    """
    found: set[str] = set()

    def replace(node: Any) -> Any:
        if not isinstance(node, InjectHyperparamsState):
            return node
        new, states = dict(node.hyperparams), dict(node.hyperparams_states)
        for name, value in values.items():
            key = name + _inject_state.SCHEDULE_SUFFIX  # a schedule lives in hyperparams_states
            if is_pytree_schedule(states.get(key)):
                states[key] = _converted_like(name, value, states[key])
                found.add(name)
            elif name in new:
                new[name] = _converted_like(name, value, new[name])
                found.add(name)
        return node._replace(hyperparams=new, hyperparams_states=states)

    is_state = lambda x: isinstance(x, InjectHyperparamsState)  # noqa: E731
    if not any(is_state(x) for x in jax.tree.leaves(state, is_leaf=is_state)):
        raise TypeError(
            "set_hyperparams needs an optimiser state built by inject_hyperparams (or one "
            f"containing it), got {type(state).__name__}"
        )
    out = jax.tree.map(replace, state, is_leaf=is_state)
    missing = sorted(set(values) - found)
    if missing:
        held = sorted(
            {
                k
                for x in jax.tree.leaves(state, is_leaf=is_state)
                if is_state(x)
                for k in x.hyperparams
            }
        )
        raise KeyError(f"no injected hyperparameter named {missing}; the state holds {held}")
    return out


def _converted_like(name: str, value: Any, old: Any) -> Any:
    old_def, new_def = jax.tree.structure(old), jax.tree.structure(value)
    if old_def != new_def:
        raise ValueError(
            f"hyperparameter {name!r}: the new value's structure {new_def} differs from "
            f"the current one {old_def}; replacing it would recompile the step "
            "(use state._replace(hyperparams=...) if that is intended)"
        )
    new_leaves = []
    for (path, old_leaf), new_leaf in zip(
        jax.tree_util.tree_leaves_with_path(old), jax.tree.leaves(value), strict=True
    ):
        if np.shape(new_leaf) != np.shape(old_leaf):
            raise ValueError(
                f"hyperparameter {name!r}{jax.tree_util.keystr(path)} has shape "
                f"{np.shape(old_leaf)}, got a value of shape {np.shape(new_leaf)}"
            )
        where = f"{name!r}{jax.tree_util.keystr(path)}"
        new_leaves.append(_own(_stored_exactly(where, new_leaf, jnp.result_type(old_leaf))))
    return old_def.unflatten(new_leaves)


def _stored_exactly(where: str, value: Any, dtype: Any) -> Any:
    """``value`` as an array of the stored ``dtype``; raises rather than change it.

    ``TypeError`` for a float into an integer field; ``ValueError`` when the stored dtype
    changes a concrete value by more than rounding a Python float to float32 would (an
    integer out of range, a fraction into an integer, 0.999 into bfloat16's 1.0). A
    traced value is checked by dtype only: a float into an integer field, or a wider
    float into a float16/bfloat16 field, raises ``TypeError``."""
    dtype = jnp.dtype(dtype)
    src = jnp.result_type(value) if hasattr(value, "dtype") else None
    if isinstance(value, jax.core.Tracer):
        if jnp.issubdtype(dtype, jnp.integer) and not jnp.issubdtype(src, jnp.integer):
            raise TypeError(
                f"hyperparameter {where} is stored as {dtype}; a traced {src} value would "
                "be truncated"
            )
        if (
            jnp.issubdtype(dtype, jnp.floating)
            and jnp.finfo(dtype).bits < 32
            and jnp.issubdtype(src, jnp.floating)
            and jnp.finfo(src).bits > jnp.finfo(dtype).bits
        ):
            raise TypeError(
                f"hyperparameter {where} is stored as {dtype}; a traced {src} value would "
                f"be rounded to it (cast it to {dtype} yourself if that is intended)"
            )
        return jnp.asarray(value, dtype)
    try:
        given = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"hyperparameter {where} must be a number, got {value!r}") from err
    is_float = given.dtype != object and jnp.issubdtype(given.dtype, jnp.floating)
    if given.dtype == object or not (
        is_float or jnp.issubdtype(given.dtype, jnp.integer) or given.dtype == np.bool_
    ):
        raise TypeError(f"hyperparameter {where} must be a real number, got {value!r}")
    if jnp.issubdtype(dtype, jnp.integer) and is_float:
        if not np.all(np.isfinite(given)) or not np.all(given == np.round(given)):
            raise TypeError(
                f"hyperparameter {where} is stored as {dtype}; the float {value!r} would "
                f"be truncated to {np.asarray(given, np.float64).astype(np.int64).tolist()!r}"
            )
    stored = jnp.asarray(given, dtype)
    want = given.astype(np.float64)
    if jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).bits >= 32:
        return stored  # at most float32 rounding of a Python float
    reference = want.astype(np.float32).astype(np.float64)
    if not is_float or given.dtype.itemsize < 4:
        reference = want  # integers and low-precision floats must survive exactly
    got = np.asarray(stored).astype(np.float64)
    if not np.array_equal(got, reference, equal_nan=True):
        raise ValueError(
            f"hyperparameter {where} is stored as {dtype}: {value!r} would become "
            f"{got.tolist()!r}; pass a value the stored dtype holds exactly (e.g. "
            f"jnp.asarray(x, {dtype.name})) or rebuild with hyperparam_dtype=float32"
        )
    return stored
