"""Hyperparameters as data: an optimiser whose hyperparameters live in its state.

:func:`inject_hyperparams` wraps any optimiser factory (``gradtx.adam``,
``gradtx.sgd``, an optax alias, ...) so that its numeric hyperparameters are arrays in
the optimiser state. They can be read and replaced between steps without recompiling a
jitted step, they are saved with a checkpoint, and ``jax.vmap`` can sweep them.

gradtx's addition to optax's ``inject_hyperparams``: a hyperparameter may be a
:mod:`gradtx.schedules` object (any callable registered as a JAX pytree). The schedule
*itself* is stored in the state and evaluated at the step count on every update, so it
is checkpointed with the optimiser and can be swapped for another schedule of the same
structure without recompiling.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx.base import GradientTransformation, OptState, _as_transformation
from gradtx.schedules import _inject_state
from gradtx.tree._core import safe_increment, zero_count


class InjectHyperparamsState(NamedTuple):
    """The state of an optimiser built by :func:`inject_hyperparams`: optax 0.2.8's
    ``InjectStatefulHyperparamsState`` tree, field for field (see
    :mod:`gradtx.schedules._inject_state` for the layout and why).

    * ``hyperparams[name]``: for every injected name, the value the last update used (a
      scalar array; after ``init``, the value for the first update), scheduled or not:
      ``float(state.hyperparams["learning_rate"])`` logs the learning rate.
    * ``hyperparams_states``, scheduled names only: under ``name + "_schedule"`` a
      pytree schedule (a :mod:`gradtx.schedules` object) itself, its float leaves as
      arrays, evaluated at ``count`` on every update and swappable with
      :func:`set_hyperparams`; under ``name`` a plain callable's
      ``WrappedScheduleState(count)``, as optax.
    """

    count: jax.Array  # shape=(), dtype=int32: the number of updates so far
    hyperparams: dict[str, Any]  # name -> value used by the last update (scalar array)
    hyperparams_states: dict[str, Any]  # scheduled name -> schedule / WrappedScheduleState
    inner_state: OptState


InjectStatefulHyperparamsState = InjectHyperparamsState  # optax 0.2.8's name for it


def is_pytree_schedule(value: Any) -> bool:
    """True for a callable that is a registered JAX pytree node (a gradtx schedule, an
    equinox module, ...): it can be stored in a state and traced through ``jit``/``vmap``.
    A plain function or lambda is a pytree *leaf* and returns False."""
    if not callable(value) or isinstance(value, jax.Array):
        return False
    treedef = jax.tree.structure(value)
    return not (treedef.num_nodes == 1 and treedef.num_leaves == 1)


def _float_dtype(params: Any) -> Any:
    """The widest floating dtype among the leaves of ``params`` (the default float when
    there is none or ``params`` is None)."""
    floats = [
        jnp.result_type(x)
        for x in jax.tree.leaves(params)
        if jnp.issubdtype(jnp.result_type(x), jnp.floating)
    ]
    if not floats:
        return jax.dtypes.canonicalize_dtype(jnp.float64)
    return jnp.result_type(*floats)


def _storage_dtype(params: Any) -> Any:
    """The default dtype of float hyperparameters: the widest float of ``params``, but at
    least float32 (bfloat16 stores ``b2 = 0.999`` as 1.0, float16 ``eps = 1e-8`` as 0)."""
    return jnp.promote_types(_float_dtype(params), jnp.float32)


def _own(x: Any) -> Any:
    """A jax array as a fresh buffer (a state never shares a buffer with its caller: a
    donated step would delete the caller's array); anything else unchanged."""
    if isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer):
        return x.copy()
    return x


def own_buffers(tree: Any) -> Any:
    """``tree`` with every concrete jax array leaf copied into a new buffer.

    Every ``init`` that puts into its state an array it was handed (a hyperparameter, a
    schedule's leaves, a PRNG key, a user function's output) passes it through this, so
    donating the state (``gradtx.make_step``) never deletes the caller's array."""
    return jax.tree.map(_own, tree)


def _as_array(x: Any, dtype: Any, float_field: bool = False) -> Any:
    """A numeric leaf as an array: a strongly typed float array keeps its dtype; a Python
    or weakly typed float takes ``dtype``; an integer takes ``dtype`` too when
    ``float_field`` (the parameter is a float, so a later float must fit), else stays an
    integer."""
    if isinstance(x, jax.Array) and not getattr(x, "weak_type", False):
        if not (float_field and jnp.issubdtype(x.dtype, jnp.integer)):
            return x
    current = x.dtype if hasattr(x, "dtype") else jnp.result_type(type(x))
    if jnp.issubdtype(current, jnp.floating) or (
        float_field and jnp.issubdtype(current, jnp.integer)
    ):
        return jnp.asarray(x, dtype=dtype)
    return jnp.asarray(x)


def _leaves_as_arrays(tree: Any, dtype: Any, float_field: bool = False) -> Any:
    return jax.tree.map(lambda x: _as_array(x, dtype, float_field), tree)


def _like(new: Any, old: Any, dtype: Any) -> Any:
    """``new`` as arrays with the dtypes of ``old`` (the value already in the state), so
    the state's dtypes never change between steps (a ``lax.scan`` carry stays valid)."""
    if isinstance(old, (jax.Array, np.ndarray)) and jnp.issubdtype(old.dtype, jnp.floating):
        return jnp.asarray(new, dtype=old.dtype)
    return _as_array(new, dtype)


def _is_float_field(parameter: inspect.Parameter) -> bool:
    """True when a factory parameter holds a float: its default is a float, or its
    annotation names ``float`` or a ``Scalar...`` type. Python ints passed for it are
    stored as floats, so ``learning_rate=1`` does not make the field an integer."""
    default = parameter.default
    if isinstance(default, float):
        return True
    annotation = parameter.annotation
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return "float" in str(text) or "Scalar" in str(text)


def _degenerate_rounding(value: float, stored: float) -> str | None:
    """Why rounding ``value`` to ``stored`` breaks an optimiser, or None when it does not:
    a nonzero value that became 0 (``eps``), a finite one that became inf or NaN, a value
    other than 1 that became 1 (``b1``, ``b2``: the bias correction divides by 0)."""
    if value != 0.0 and stored == 0.0:
        return "a nonzero value becomes 0"
    if np.isfinite(value) and not np.isfinite(stored):
        return "a finite value becomes inf"
    if value != 1.0 and stored == 1.0:
        return "a value other than 1 becomes exactly 1"
    return None


def _check_stored(name: str, given: Any, stored: Any) -> None:
    """Raises ``ValueError`` when storing the concrete ``given`` as ``stored`` (a
    low-precision ``hyperparam_dtype`` the user asked for) rounds it degenerately."""
    if isinstance(given, jax.core.Tracer) or isinstance(stored, jax.core.Tracer):
        return
    if not hasattr(stored, "dtype") or not jnp.issubdtype(stored.dtype, jnp.floating):
        return
    try:
        want = np.asarray(given, np.float64)
    except (TypeError, ValueError):
        return
    got = np.asarray(stored, np.float64)
    for w, g in zip(want.ravel(), got.ravel(), strict=False):
        reason = _degenerate_rounding(float(w), float(g))
        if reason:
            raise ValueError(
                f"hyperparameter {name!r}={float(w)!r} stored as {stored.dtype} is "
                f"{float(g)!r} ({reason}); store hyperparameters in float32 "
                "(hyperparam_dtype=None, the default) or pass a representable value"
            )


_BASE_LR: contextvars.ContextVar[Any] = contextvars.ContextVar("gradtx_base_lr", default=None)


@contextlib.contextmanager
def base_lr_context(value: Any) -> Iterator[None]:
    """While active, an AdaBound-style transform (:func:`gradtx.bound_lr`) built from a
    *number* learning rate without an explicit ``base_lr`` takes ``value`` as the
    learning rate it was built with, so its bounds follow ``final_lr * lr / value``.

    The paths that rebuild an optimiser from the current lr as a number on every step
    set it: :func:`inject_hyperparams` (the construction-time lr, or the stored
    schedule's ``base_value``) and :func:`gradtx.lr_range_test` (the first lr of the
    sweep). An outer context wins over an inner one. ``value`` may be traced."""
    token = _BASE_LR.set(value)
    try:
        yield
    finally:
        _BASE_LR.reset(token)


def current_base_lr() -> Any:
    """The value of the innermost :func:`base_lr_context`, or None outside one."""
    return _BASE_LR.get()


def schedule_base_value(schedule: Any) -> Any:
    """The learning rate a schedule is relative to (the lr a torch user gives the
    optimiser before attaching the equivalent scheduler): ``schedule.base_value`` for a
    :class:`gradtx.schedules.Schedule`, else its value at step 0."""
    base = getattr(schedule, "base_value", None)
    if base is not None and not callable(base):
        return base
    return schedule(jnp.zeros([], jnp.int32))
def _schedule_value(value: Any, dtype: Any) -> Any:
    """A schedule's value as ``hyperparams`` stores it: floats in the hyperparameter
    dtype (a gradtx schedule returns strongly typed float32)."""
    value = jnp.asarray(value)
    return value.astype(dtype) if jnp.issubdtype(value.dtype, jnp.floating) else value


def inject_hyperparams(
    inner_factory: Callable[..., Any],
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: Any | None = None,
) -> Callable[..., GradientTransformation]:
    r"""Moves the numeric hyperparameters of ``inner_factory`` into the optimiser state.

    Returns a factory with ``inner_factory``'s signature. Each argument that is a number
    (``int``, ``float``, array) or a schedule becomes an entry of
    ``state.hyperparams``; ``bool`` flags, ``None``, strings and the names in
    ``static_args`` are passed through unchanged. On every update the inner optimiser
    is rebuilt from the current values (cheap: building a transform only makes two
    closures) and applied to the inner state:

    .. math::

        h_t = \mathrm{hyperparams}[k] \text{ or } s_k(t), \quad
        (u_t, S_t) = \mathrm{inner}(h_t).\mathrm{update}(g_t, S_{t-1})

    with ``t = state.count`` (the ``k``-th update uses ``schedule(k)``, ``k`` from 0).

    Three kinds of hyperparameter:

    * **numbers** are stored as scalar arrays (floats in ``hyperparam_dtype``, default
      the widest float dtype of the params but at least float32, so bfloat16 params do
      not turn ``b2 = 0.999`` into 1.0 nor float16 ``eps = 1e-8`` into 0; an ``int``
      given for a float parameter is stored as a float). Change one between steps with
      :func:`set_hyperparams` (or ``state._replace``); a jitted step does not recompile.
    * **pytree schedules** (:mod:`gradtx.schedules` objects, or any callable that is a
      registered pytree) are stored *as schedules* in ``hyperparams_states`` (their
      value of the last step in ``hyperparams``): their leaves are arrays in the
      state, so they are checkpointed, and :func:`set_hyperparams` can swap in another
      schedule of the same structure without recompiling.
    * **plain callables** (a Python function of the step, an optax schedule) are
      evaluated at the count as optax does, and their value is stored.

    ``hyperparam_dtype`` set to bfloat16/float16 is honoured (values are rounded), but a
    rounding that makes a nonzero value 0, a finite one inf or a value other than 1
    exactly 1 raises ``ValueError`` at ``init`` naming the hyperparameter. ``init``
    copies every array it was handed (values and schedule leaves), so a donated step
    never deletes the caller's arrays. See ``docs/dtypes.md``.

    A factory with a ``learning_rate`` is rebuilt from the lr as a *number* on every
    update; AdaBound-style factories (:func:`gradtx.bound_lr`, :func:`gradtx.adabound`,
    :func:`gradtx.amsbound`, or any factory calling them) are told the lr they were
    built with through :func:`base_lr_context` (the construction value of a number, the
    stored schedule's ``base_value``, a plain callable's value at step 0), so their
    bounds follow ``final_lr * lr_t / base_lr`` as ``gradtx.adabound(schedule)`` does.

    Numbers equal ``optax.inject_hyperparams`` with the same inner optimiser.
    Differences from optax: float hyperparameters are at least float32 (optax: the
    params' dtype); the state is optax's tree ``(count, hyperparams,
    hyperparams_states, inner_state)``, with ``hyperparams[name]`` the value the last
    update used for every name, and a pytree schedule stored itself in
    ``hyperparams_states[name + "_schedule"]`` (optax stores no schedule; see
    :mod:`gradtx.schedules._inject_state`); float hyperparameters of params without any float leaf
    default to the default float dtype (optax would cast them to the params' integer
    dtype); a value computed during ``update`` keeps the dtype already in the state, so
    the state's dtypes never change. Invalid hyperparameters raise at construction (the
    inner factory is called once with the step-0 values), not at the first update.

    Args:
      inner_factory: a callable returning a gradient transformation (``gradtx.adam``,
        ``gradtx.sgd``, an optax alias, ...); its keyword arguments become injectable.
      static_args: a name or an iterable of names of ``inner_factory``'s parameters to
        pass through unchanged instead of injecting them (default ``()``).
      hyperparam_dtype: the dtype of the stored float hyperparameters, or ``None``
        (default: the widest float dtype of the params, at least float32).

    Returns:
      A factory with ``inner_factory``'s signature returning a
      ``GradientTransformation`` whose state is an :class:`InjectHyperparamsState`
      ``(count, hyperparams, hyperparams_states, inner_state)``: ``count`` an ``int32``
      scalar, ``hyperparams`` a dict of scalar arrays, ``hyperparams_states`` the stored
      schedules, ``inner_state`` the inner optimiser's state.

    Raises:
      TypeError: ``inner_factory`` is not callable; ``hyperparam_dtype`` is not a dtype;
        (when the factory is called) an argument ``inner_factory`` does not take, or
        ``inner_factory`` returns something without callable ``init`` and ``update``.
      ValueError: ``static_args`` names a parameter ``inner_factory`` does not have;
        (when the factory is called) ``inner_factory``'s own checks of the step-0 values
        (e.g. a negative ``learning_rate``); (at ``init``) a low-precision
        ``hyperparam_dtype`` rounds a value degenerately, as above.

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> params, grads = {"w": jnp.array([1.0, 2.0])}, {"w": jnp.array([1.0, -1.0])}
      >>> opt = gradtx.inject_hyperparams(gradtx.sgd)(learning_rate=0.1)
      >>> state = opt.init(params)
      >>> updates, state = opt.update(grads, state, params)
      >>> [round(x, 4) for x in updates["w"].tolist()]
      [-0.1, 0.1]
      >>> state = gradtx.set_hyperparams(state, learning_rate=0.01)  # no recompile
      >>> updates, state = opt.update(grads, state, params)
      >>> [round(x, 4) for x in updates["w"].tolist()]
      [-0.01, 0.01]

      A pytree schedule is stored in the state and evaluated at the count:

      >>> sched = gradtx.schedules.linear(0.1, 0.0, transition_steps=4)
      >>> opt = gradtx.inject_hyperparams(gradtx.sgd)(learning_rate=sched)
      >>> state = opt.init(params)
      >>> sorted(state.hyperparams_states)
      ['learning_rate_schedule']
      >>> for _ in range(2):
      ...     updates, state = opt.update(grads, state, params)
      >>> round(float(state.hyperparams["learning_rate"]), 4)  # used by update k = 1
      0.075

    References:
      optax's ``inject_hyperparams`` (DeepMind et al., 2020).
    """
    if not callable(inner_factory):
        raise TypeError(
            f"inner_factory must be a callable returning a gradient transformation, "
            f"got {inner_factory!r}"
        )
    static = {static_args} if isinstance(static_args, str) else set(static_args)
    signature = inspect.signature(inner_factory)
    if not static.issubset(signature.parameters):
        raise ValueError(
            f"static_args must name parameters of {getattr(inner_factory, '__name__', 'the')}"
            f" inner_factory; got {sorted(static)}, its parameters are "
            f"{list(signature.parameters)}"
        )
    if hyperparam_dtype is not None:
        hyperparam_dtype = jnp.dtype(hyperparam_dtype)

    float_fields = {n for n, p in signature.parameters.items() if _is_float_field(p)}
    low_precision = hyperparam_dtype is not None and (
        jnp.issubdtype(hyperparam_dtype, jnp.floating) and jnp.finfo(hyperparam_dtype).bits < 32
    )

    @functools.wraps(inner_factory)
    def wrapped_factory(*args: Any, **kwargs: Any) -> GradientTransformation:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        other: dict[str, Any] = {}
        functions: dict[str, Callable] = {}
        injected: dict[str, Any] = {}  # numbers and pytree schedules
        for name, value in bound.arguments.items():
            if name in static or isinstance(value, bool):
                other[name] = value
            elif is_pytree_schedule(value):
                injected[name] = value
            elif callable(value):
                functions[name] = value
            elif isinstance(value, (int, float, np.number, np.ndarray, jax.Array)):
                injected[name] = value
            else:
                other[name] = value

        def storage(name: str, value: Any, dtype: Any) -> Any:
            """A given hyperparameter as the state stores it: its own buffers, floats in
            ``dtype`` (integers too for a float field)."""
            with np.errstate(over="ignore"):  # an overflow is reported below, by name
                stored = own_buffers(_leaves_as_arrays(value, dtype, name in float_fields))
            if low_precision:
                for given, kept in zip(
                    jax.tree.leaves(value), jax.tree.leaves(stored), strict=True
                ):
                    _check_stored(name, given, kept)
            return stored

        # AdaBound-style factories (a `base_lr` next to `learning_rate`): the lr is handed
        # over as a number on every update, so tell them the lr they were built with.
        lr_given = "learning_rate" in injected or "learning_rate" in functions
        manage_base = lr_given and "base_lr" not in injected
        if manage_base and "learning_rate" in functions:
            base_at_build = functions["learning_rate"](0)
        elif manage_base and not is_pytree_schedule(injected["learning_rate"]):
            base_at_build = injected["learning_rate"]
            if isinstance(base_at_build, jax.Array) and not isinstance(
                base_at_build, jax.core.Tracer
            ):
                base_at_build = np.asarray(base_at_build)  # a constant, not the caller's buffer
        else:
            base_at_build = None

        def base_context(hyperparams: dict[str, Any]) -> Any:
            if not manage_base or current_base_lr() is not None:
                return contextlib.nullcontext()
            lr = hyperparams["learning_rate"]
            if is_pytree_schedule(lr):
                return base_lr_context(schedule_base_value(lr))
            return base_lr_context(base_at_build)

        def build(values: dict[str, Any], hyperparams: dict[str, Any]) -> tuple[Callable, Callable]:
            with base_context(hyperparams):
                tx = inner_factory(**other, **values)
            return _as_transformation(tx, 0)

        def values_at(hyperparams: dict[str, Any], count: Any, dtype: Any) -> dict[str, Any]:
            out = {}
            for name, value in hyperparams.items():
                if name in functions:
                    value = functions[name](count)
                elif callable(value):
                    value = value(count)
                out[name] = _as_array(value, dtype)
            return out

        # Construction-time check: bad values raise here, naming the parameter.
        given = {k: v(0) if callable(v) else v for k, v in {**injected, **functions}.items()}
        with base_context({**injected, **functions}):
            tx = inner_factory(**other, **given)
        _checks.transformation("the value of inner_factory(...)", tx)

        def init_fn(params):
            dtype = hyperparam_dtype or _storage_dtype(params)
            count = zero_count()
            hyperparams = {k: storage(k, v, dtype) for k, v in injected.items()}
            hyperparams.update(
                {k: storage(k, f(count), dtype) for k, f in functions.items()}
            )
            init, _ = build(values_at(hyperparams, count, dtype), hyperparams)
            return _inject_state.InternalState(count, hyperparams, init(params))

        def update_fn(updates, state, params=None, **extra_args):
            dtype = hyperparam_dtype or _storage_dtype(params)
            values = values_at(state.hyperparams, state.count, dtype)
            hyperparams = {}
            for name, old in state.hyperparams.items():
                if name in functions:
                    values[name] = _like(values[name], old, dtype)
                    hyperparams[name] = values[name]
                elif callable(old):
                    hyperparams[name] = _leaves_as_arrays(old, dtype)
                else:
                    values[name] = _like(values[name], old, dtype)
                    hyperparams[name] = values[name]
            _, update = build(values, state.hyperparams)
            updates, inner_state = update(updates, state.inner_state, params, **extra_args)
            return updates, _inject_state.InternalState(
                safe_increment(state.count), hyperparams, inner_state
            )

        init, update = _inject_state.wrap(
            init_fn,
            update_fn,
            InjectHyperparamsState,
            is_pytree_schedule,
            frozenset(functions),
            lambda v, params: _schedule_value(v, hyperparam_dtype or _storage_dtype(params)),
        )
        return GradientTransformation(init, update)

    return wrapped_factory


def inject_stateful_hyperparams(
    inner_factory: Callable[..., Any],
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: Any | None = None,
) -> Callable[..., GradientTransformation]:
    r"""optax's deprecated alias of :func:`inject_hyperparams` (same arguments, same optimiser).

    Warns ``DeprecationWarning`` as optax 0.2.8 does, then returns
    ``inject_hyperparams(inner_factory, static_args, hyperparam_dtype)``; the state is the
    same :class:`InjectHyperparamsState` (optax 0.2.8's ``InjectStatefulHyperparamsState``
    tree).

    Args:
      inner_factory: a callable returning a gradient transformation.
      static_args: names of ``inner_factory``'s parameters not to inject (default ``()``).
      hyperparam_dtype: the dtype of the stored float hyperparameters, or ``None``
        (default).

    Returns:
      The factory :func:`inject_hyperparams` returns.

    Raises:
      TypeError: as :func:`inject_hyperparams`.
      ValueError: as :func:`inject_hyperparams`.

    Example:
      >>> import warnings, gradtx
      >>> with warnings.catch_warnings():
      ...     warnings.simplefilter("ignore", DeprecationWarning)
      ...     opt = gradtx.inject_stateful_hyperparams(gradtx.sgd)(learning_rate=0.1)
      >>> sorted(opt.init({}).hyperparams)
      ['learning_rate']
    """
    import warnings

    warnings.warn(
        "inject_stateful_hyperparams is deprecated, use inject_hyperparams instead",
        DeprecationWarning,
        stacklevel=2,
    )
    return inject_hyperparams(inner_factory, static_args, hyperparam_dtype)
