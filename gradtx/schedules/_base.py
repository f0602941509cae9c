"""The schedule base class: a frozen dataclass registered as a pytree.

A schedule's float hyperparameters (learning rates, decay factors, ...) are pytree
*leaves*: new values go through an already-compiled function without recompiling,
``jax.vmap`` maps over a stacked batch of schedules and ``jax.grad`` differentiates
with respect to them. Its discrete structure (step counts, milestones, periods, mode
strings, the kinds of nested schedules) is *static* metadata: part of the treedef, so
changing it recompiles, as it must.

Everything shared is written here once: the pytree registration, leaf normalisation,
construction-time validation hook, the readable ``repr``, value equality and the step
handling of :meth:`Schedule.__call__` (integer step, negative steps clamped to 0,
``float32`` result).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks

_STATIC = "gradtx_static"
_NESTED = "gradtx_nested"
_CHECK = "gradtx_check"
_INT32_MAX = int(np.iinfo(np.int32).max)

T = TypeVar("T", bound=type)


def static_field(*, check: Callable[[str, Any], Any] | None = None, **kwargs: Any) -> Any:
    """A dataclass field that is static pytree metadata (part of the structure).

    ``check(name, value)`` returns the field's canonical value (a Python ``int``, a
    ``tuple`` of ints, ...) or raises ``ValueError`` naming the field: :func:`integer`,
    :func:`increasing`, :func:`choice`, :func:`boolean`. It runs once per construction,
    before the class's cross-field checks (``_normalize``)."""
    metadata = dict(kwargs.pop("metadata", None) or {})
    metadata[_STATIC] = True
    if check is not None:
        metadata[_CHECK] = check
    return dataclasses.field(metadata=metadata, **kwargs)


def leaf_field(check: Callable[[str, Any], None], **kwargs: Any) -> Any:
    """A float hyperparameter (a pytree leaf) with a check beyond the one every leaf gets
    (a real number, not NaN, not ``None``): ``check(name, value)`` raises ``ValueError``
    for a bad concrete value and passes traced ones, e.g. ``_checks.positive``."""
    metadata = dict(kwargs.pop("metadata", None) or {})
    metadata[_CHECK] = check
    return dataclasses.field(metadata=metadata, **kwargs)


def integer(minimum: int = 1) -> Callable[[str, Any], int]:
    """The check of a static integer field ``>= minimum`` (steps, periods)."""
    return lambda name, value: check_int(name, value, minimum=minimum)


def increasing(minimum: int = 0) -> Callable[[str, Any], tuple[int, ...]]:
    """The check of a static field of strictly increasing integers (boundaries)."""
    return lambda name, values: check_increasing(name, values, minimum=minimum)


def choice(*options: Any) -> Callable[[str, Any], Any]:
    """The check of a static field with a fixed set of values (a mode string)."""

    def check(name: str, value: Any) -> Any:
        check_choice(name, value, options)
        return value

    return check


def boolean(name: str, value: Any) -> bool:
    """The check of a static ``bool`` field."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be a bool, got {value!r}")
    return value


def nested_field(*, check: Callable[[str, Any], Any] | None = None, **kwargs: Any) -> Any:
    """A dataclass field holding nested schedule(s): their leaves are this schedule's
    leaves; ``check(name, value)`` returns the value converted to schedules (e.g.
    :func:`as_schedule`) or raises."""
    metadata = dict(kwargs.pop("metadata", None) or {})
    metadata[_NESTED] = True
    if check is not None:
        metadata[_CHECK] = check
    return dataclasses.field(metadata=metadata, **kwargs)


def _is_static(field: dataclasses.Field) -> bool:
    return bool(field.metadata.get(_STATIC, False))


def _as_float_leaf(name: str, value: Any) -> Any:
    """A float hyperparameter as a leaf: concrete numbers become ``np.float32``
    scalars (so every schedule built from Python numbers has the same leaf type and
    one compiled function serves them all); arrays and tracers are kept, cast to a
    floating dtype (a tracer appears when a schedule is built inside ``jit``/``grad``).
    """
    if value is None:
        raise ValueError(f"{name} must be a number, got None")
    if isinstance(value, Schedule) or callable(value):
        raise TypeError(f"{name} must be a number, got {value!r}")
    _checks.check_number(name, value)
    if isinstance(value, jax.core.Tracer | jax.Array):
        return value if jnp.issubdtype(value.dtype, jnp.floating) else value.astype(jnp.float32)
    arr = np.asarray(value)
    if arr.ndim == 0:
        return np.float32(arr)
    return arr.astype(np.float32)


def check_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Returns ``value`` as a Python int; ``ValueError`` unless it is an integer
    ``>= minimum`` (steps, periods and milestones are static integers)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum or value > _INT32_MAX:
        raise ValueError(f"{name} must be an integer in [{minimum}, 2**31 - 1], got {value!r}")
    return int(value)


def check_increasing(name: str, values: Any, *, minimum: int = 0) -> tuple[int, ...]:
    """Returns ``values`` as a tuple of ints; ``ValueError`` unless they are strictly
    increasing integers ``>= minimum``."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        raise ValueError(f"{name} must be a sequence of integers, got {values!r}")
    out = tuple(check_int(f"{name}[{i}]", v, minimum=minimum) for i, v in enumerate(values))
    for a, b in zip(out, out[1:], strict=False):
        if b <= a:
            raise ValueError(f"{name} must be strictly increasing, got {list(out)}")
    return out


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def concrete(value: Any) -> float | None:
    """The value as a Python float, or None when it is traced or not a scalar."""
    return _checks._concrete(value)


def _format(value: Any) -> str:
    if isinstance(value, Schedule):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(_format(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, jax.core.Tracer):
        return f"<traced {value.aval.str_short()}>"
    if isinstance(value, np.generic | np.ndarray | jax.Array):
        arr = np.asarray(value)
        if arr.ndim == 0:
            return _short_float(float(arr))
        return "[" + ", ".join(_short_float(float(v)) for v in arr.ravel()) + "]"
    if isinstance(value, float):
        return _short_float(value)
    return repr(value)


def _short_float(value: float) -> str:
    """``0.1`` rather than ``0.10000000149011612`` for a float32 leaf."""
    return repr(float(f"{value:.7g}"))


_F32_BELOW_2_31 = 2147483520.0  # the largest float32 below 2**31


def _saturate(x: Any, xp: Any) -> Any:
    """``x`` (a NumPy or JAX array, ``xp`` its module) as ``int32`` steps: truncated,
    clamped to ``[0, 2**31 - 1]`` *in its own dtype*, NaN to 0."""
    dt = x.dtype
    if dt == np.bool_:
        return x.astype(np.int32)
    if jnp.issubdtype(dt, jnp.integer):
        if jnp.issubdtype(dt, jnp.signedinteger):
            x = xp.maximum(x, xp.zeros((), dt))
        if dt.itemsize >= 4:  # int32 (no-op), int64, uint32, uint64 hold 2**31 - 1
            x = xp.minimum(x, xp.asarray(_INT32_MAX, dt))
        return x.astype(np.int32)
    if not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(f"step must be an integer or a real number, got dtype {dt}")
    wide = dt.itemsize == 8
    x = xp.trunc(x.astype(np.float64 if wide else np.float32))
    big = x >= 2.0**31  # False for NaN
    x = xp.where(xp.isnan(x), 0.0, x)
    x = xp.clip(x, 0.0, float(_INT32_MAX) if wide else _F32_BELOW_2_31).astype(np.int32)
    return xp.where(big, xp.asarray(_INT32_MAX, np.int32), x)


def as_step(step: Any) -> jax.Array:
    """A step of any type as the ``int32`` array every schedule evaluates.

    Saturates instead of wrapping: a Python int, a NumPy ``int64``/``uint64``, a JAX
    ``int64`` (x64 mode), ``uint32`` or a float beyond ``2**31 - 1`` gives ``2**31 - 1``
    (as the optimisers' counters do), *before* any cast to ``int32``; negative steps
    (and NaN) give 0; floats are truncated. Concrete values are clamped on the host,
    so a NumPy ``int64`` is never narrowed by ``jnp.asarray`` first; arrays and tracers
    are clamped in their own dtype.
    """
    if isinstance(step, bool | np.bool_):
        return jnp.asarray(int(step), jnp.int32)
    if isinstance(step, int):  # Python ints are unbounded
        return jnp.asarray(min(max(step, 0), _INT32_MAX), jnp.int32)
    if isinstance(step, jax.core.Tracer | jax.Array):
        return _saturate(step, jnp)
    if isinstance(step, float):
        step = np.float64(step)
    arr = np.asarray(step)
    if arr.dtype == object:  # e.g. a list of Python ints beyond int64
        arr = np.asarray(
            np.vectorize(lambda v: min(max(int(v), 0), _INT32_MAX), otypes=[np.int64])(arr)
        )
    with np.errstate(invalid="ignore"):
        return jnp.asarray(_saturate(arr, np))


def _signed_step(step: Any) -> jax.Array:
    """:func:`as_step` without the clamp at 0: negative steps keep their sign (optax's
    schedule names evaluate them as they are), and both ends saturate."""
    if isinstance(step, bool | np.bool_):
        return as_step(step)
    if isinstance(step, int):
        return as_step(step) if step >= 0 else -as_step(-step)
    x = step if isinstance(step, jax.core.Tracer | jax.Array) else np.asarray(step)
    if jnp.issubdtype(x.dtype, jnp.unsignedinteger):
        return as_step(x)
    with np.errstate(over="ignore", invalid="ignore"):
        return jnp.where(x < 0, -as_step(-x), as_step(x))


class Schedule:
    """Base class of every gradtx schedule: a pytree callable ``schedule(step) -> lr``.

    ``schedule(k)`` is the value used for the k-th update, ``k = 0, 1, ...`` (the
    ``count`` a :func:`gradtx.scale_by_schedule` state holds). ``step`` may be a Python
    int or an integer array of any shape (traced or not); the result is ``float32``
    with the step's shape. A float step is truncated to an integer.

    Negative steps: raising is impossible under ``jit``, so every schedule clamps the
    step to 0: ``schedule(-5) == schedule(0)``. Steps beyond the ``int32`` range
    saturate at ``2**31 - 1`` (whatever their type: Python int, NumPy ``int64`` or
    ``uint64``, a JAX ``int64`` in x64 mode, a float), so a finished schedule stays
    finished: see :func:`as_step`.

    Subclasses are frozen dataclasses decorated with :func:`schedule_class`; fields
    made with :func:`static_field` are static, every other field is a leaf (a float,
    a tuple of floats, or a nested schedule). Each field declares its own check
    (``static_field(check=integer())``, ``leaf_field(_checks.positive)``); every scalar
    leaf is checked to be a real number that is not NaN.
    """

    # --- hooks for subclasses -------------------------------------------------------
    # False for the optax-named kinds (gradtx.schedules._optax_names), which reproduce
    # optax's values at negative steps too instead of clamping the step to 0.
    _clamp_negative_steps = True

    def _normalize(self) -> None:
        """Checks that relate several fields (each field's own check is declared with it:
        :func:`static_field`, :func:`leaf_field`); may set canonical values."""

    def _value(self, step: jax.Array) -> jax.Array:
        """The value at an ``int32`` step that is already ``>= 0``."""
        raise NotImplementedError

    @property
    def horizon(self) -> int | None:
        """The schedule's length in steps where it has one (``T_max``, ``total_steps``,
        ``decay_steps``...), else ``None``."""
        return None

    @property
    def base_value(self) -> jax.Array:
        """The base learning rate this schedule is relative to (float32 scalar, traced
        when the leaves are): the lr a torch user gives the optimiser before attaching
        the equivalent scheduler. By default the value at step 0 (a decaying schedule's
        initial value); a warmup's is the warmed-up schedule's, a ramp's
        (:class:`linear`, :class:`polynomial`, :class:`join`) its largest end, a
        cycle's (:class:`cyclic`, :class:`one_cycle`) its ``max_lr``,
        :class:`warmup_cosine_decay`'s its ``peak_value``. AdaBound's bounds
        (:func:`gradtx.bound_lr`) scale ``final_lr`` by ``lr_t / base_value``."""
        return self(0)

    # --- shared machinery -----------------------------------------------------------
    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def __post_init__(self) -> None:
        # Each field's own check, declared with the field, in declaration order; then the
        # checks that relate several fields (``_normalize``).
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            check = field.metadata.get(_CHECK)
            if _is_static(field) or field.metadata.get(_NESTED, False):
                if check is not None:
                    self._set(field.name, check(field.name, value))
                continue
            if value is None:
                if field.default is None:  # an optional leaf, e.g. an end value
                    continue
                raise ValueError(f"{field.name} must be a number, got None")
            if isinstance(value, tuple):
                value = tuple(_as_float_leaf(f"{field.name}[{i}]", v) for i, v in enumerate(value))
            else:
                value = _as_float_leaf(field.name, value)
                _checks.check_range(field.name, value)  # every scalar leaf: not NaN
            self._set(field.name, value)
            if check is not None:
                check(field.name, value)
        self._normalize()

    def __call__(self, step: Any) -> jax.Array:
        step = as_step(step) if self._clamp_negative_steps else _signed_step(step)
        value = jnp.asarray(self._value(step), jnp.float32)
        return value + jnp.zeros(step.shape, jnp.float32)

    def __repr__(self) -> str:
        args = ", ".join(
            f"{f.name}={_format(getattr(self, f.name))}" for f in dataclasses.fields(self) if f.repr
        )
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        """Same kind, same structure and equal hyperparameter values."""
        if type(self) is not type(other):
            return NotImplemented
        leaves_a, tree_a = jax.tree.flatten(self)
        leaves_b, tree_b = jax.tree.flatten(other)
        if tree_a != tree_b:
            return False
        if any(isinstance(x, jax.core.Tracer) for x in leaves_a + leaves_b):
            return self is other
        return all(
            np.array_equal(np.asarray(a), np.asarray(b))
            for a, b in zip(leaves_a, leaves_b, strict=True)
        )

    __hash__ = None  # type: ignore[assignment]  # leaves may be arrays


def schedule_class(cls: T) -> T:
    """Makes ``cls`` a frozen dataclass and registers it as a pytree (with key paths).

    Unflattening bypasses ``__init__`` (no validation of the placeholder leaves JAX
    passes around under ``vmap``/``jit``); validation runs when a user builds one.
    """
    cls = dataclasses.dataclass(frozen=True, repr=False, eq=False)(cls)
    fields = dataclasses.fields(cls)
    leaf_names = tuple(f.name for f in fields if not _is_static(f))
    static_names = tuple(f.name for f in fields if _is_static(f))
    keys = tuple(jax.tree_util.GetAttrKey(n) for n in leaf_names)

    def flatten(obj):
        children = tuple(getattr(obj, n) for n in leaf_names)
        return children, tuple(getattr(obj, n) for n in static_names)

    def flatten_with_keys(obj):
        children, aux = flatten(obj)
        return tuple(zip(keys, children, strict=True)), aux

    def unflatten(aux, children):
        obj = object.__new__(cls)
        for name, value in zip(leaf_names, children, strict=True):
            object.__setattr__(obj, name, value)
        for name, value in zip(static_names, aux, strict=True):
            object.__setattr__(obj, name, value)
        return obj

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    return cls


def _callable(name: str, value: Any) -> Any:
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {value!r}")
    return value


@schedule_class
class from_function(Schedule):
    r"""A schedule from a plain callable ``fn(step) -> value``.

    .. math::

        \eta_k = f(\max(k, 0))

    Wraps an optax schedule, a lambda or any function of the step so that
    :class:`warmup`, :class:`join` and everything else that takes a gradtx schedule accept
    it (:func:`as_schedule` does this for them). The function is static: it has no
    leaves, and a different function is a different structure (recompiles). ``fn``
    receives the step as an ``int32`` array (negative steps clamped to 0, huge ones
    saturated at ``2**31 - 1``, see :class:`Schedule`) and must be traceable when the
    schedule is used under ``jit``; its value is cast to ``float32``.

    Args:
      fn: a callable of the ``int32`` step array (any shape) returning a number or an
        array broadcastable to the step's shape; static (part of the treedef).

    Returns:
      A pytree schedule ``s`` without leaves: ``s(step) -> float32`` array of the
      step's shape, ``fn(step)``.

    Raises:
      TypeError: ``fn`` is not callable.

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.from_function(lambda k: 0.1 / (1 + k))
      >>> [round(float(s(k)), 4) for k in (0, 5, 10)]
      [0.1, 0.0167, 0.0091]
      >>> round(float(s(-3)), 4)  # negative steps are clamped to 0
      0.1
    """

    fn: Callable[[jax.Array], Any] = static_field(check=_callable)

    def _value(self, step):
        return self.fn(step)


def as_schedule(name: str, value: Any) -> Schedule:
    r"""A :class:`Schedule` from a schedule, a plain callable or a float.

    The conversion every combinator (:class:`warmup`, :class:`join`) and
    :func:`values` applies to the schedules it is given:

    * a :class:`Schedule` is returned unchanged (its leaves stay leaves);
    * a plain callable becomes :class:`from_function` (static, no leaves);
    * a number becomes :class:`constant` (:math:`\eta_k = v`, one leaf).

    Args:
      name: the parameter name that error messages cite (e.g. ``"schedule"``).
      value: a gradtx schedule, a callable ``fn(step) -> value`` or a real number
        (Python float/int, NumPy or JAX scalar).

    Returns:
      A :class:`Schedule`: ``schedule(step) -> float32`` array of the step's shape.

    Raises:
      TypeError: ``value`` is none of these (e.g. ``None``, a string, a NaN or a
        complex number), naming ``name`` and the value.

    Example:
      >>> from gradtx import schedules
      >>> s = schedules.as_schedule("lr", 0.1)
      >>> s
      constant(value=0.1)
      >>> [round(float(s(k)), 4) for k in (0, 5, 10)]
      [0.1, 0.1, 0.1]
      >>> type(schedules.as_schedule("lr", lambda k: 0.1 * 0.5**k)).__name__
      'from_function'
    """
    if isinstance(value, Schedule):
        return value
    if callable(value):
        return from_function(value)
    from gradtx.schedules._steps import constant

    try:
        return constant(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a schedule, a callable or a float, got {value!r}") from err


def as_float(step: jax.Array) -> jax.Array:
    return step.astype(jnp.float32)
