"""Hyperparameter validation at construction time.

Every check names the parameter and the value (``ValueError: b2 must be in [0, 1),
got 1.5``). Values that are traced (a hyperparameter injected under ``jit``) or
callables (schedules) are not checked here: they are data, checked where they are built.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def _is_real_dtype(dtype: Any) -> bool:
    # jnp.issubdtype knows bfloat16 (NumPy reports its kind as "V", void).
    return jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.floating)


def _concrete(value: Any) -> float | None:
    """The value as a Python float, or None when it cannot be known at construction."""
    if value is None or callable(value) or isinstance(value, jax.core.Tracer):
        return None
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything non-numeric is reported below
        return None
    if arr.dtype == object or arr.size != 1:
        return None
    if not _is_real_dtype(arr.dtype):
        return None
    return float(arr.reshape(()))


def check_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or (
        not callable(value)
        and not isinstance(value, jax.core.Tracer)
        and not _is_real_dtype(np.asarray(value).dtype)
    ):
        raise TypeError(f"{name} must be a real number, got {value!r}")


def check_range(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raises ``ValueError`` unless ``low <= value <= high`` (``<`` where open)."""
    if value is None:
        raise ValueError(f"{name} must be a number, got None")
    if not callable(value) and not isinstance(value, jax.core.Tracer):
        check_number(name, value)
    v = _concrete(value)
    if v is None:
        return
    bad = math.isnan(v)
    if low is not None:
        bad |= v <= low if low_open else v < low
    if high is not None:
        bad |= v >= high if high_open else v > high
    if bad:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        left = "(" if low_open or low is None else "["
        right = ")" if high_open or high is None else "]"
        interval = f"{left}{lo}, {hi}{right}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")


def non_negative(name: str, value: Any) -> None:
    check_range(name, value, 0.0)


def positive(name: str, value: Any) -> None:
    check_range(name, value, 0.0, low_open=True)


def decay_rate(name: str, value: Any) -> None:
    """A moving-average decay such as ``b1``, ``b2``, ``rho``: in ``[0, 1)``, and below 1
    also in float32 (``0.99999999`` rounds to ``1.0f``, which makes the bias correction
    ``1 - decay**t`` exactly 0 and every update a division by zero)."""
    check_range(name, value, 0.0, 1.0, high_open=True)
    v = _concrete(value)
    if v is not None and np.float32(v) >= 1.0:
        raise ValueError(
            f"{name} must be in [0, 1), got {value!r}, which rounds to 1.0 in float32 "
            "(1 - decay**t would be 0); use at most 1 - 6e-8"
        )


def nonzero_denominator(what: str, **terms: Any) -> None:
    """``ValueError`` when every one of ``terms`` (concrete, each ``>= 0``) is 0: the
    denominator ``sqrt(v) + terms`` is then 0 for a coordinate whose gradient has been 0
    at every step (an unused embedding row), and its update ``0 / 0`` is NaN.

    Numbers given at construction are checked; JAX arrays are data (hyperparameters
    injected by :func:`gradtx.inject_hyperparams`, maybe rounded to a low-precision
    dtype) and are not."""
    if any(isinstance(v, jax.Array) for v in terms.values()):
        return
    values = [_concrete(v) for v in terms.values()]
    if values and all(v == 0.0 for v in values):
        listed = ", ".join(f"{k}=0" for k in terms)
        raise ValueError(
            f"{listed}: {what}'s denominator is 0 wherever the gradient has been 0 so far "
            "(0/0 = NaN); make one of them positive (e.g. eps=1e-8)"
        )


def denominator_may_be_zero(**terms: Any) -> bool:
    """True when none of ``terms`` is known to be positive at construction: each is 0 or
    data (a tracer, e.g. ``eps`` injected by :func:`gradtx.inject_hyperparams` and given
    inside ``jit``, or set to 0 later with :func:`gradtx.set_hyperparams`). The update
    then guards ``sqrt(v) + terms`` against 0 (``gradtx.tree._core.guarded_quotient``);
    a concrete positive term keeps optax's plain quotient."""
    for value in terms.values():
        v = _concrete(value)
        if v is not None and v > 0:
            return False
    return True


def learning_rate(name: str, value: Any) -> None:
    """A float learning rate must be ``>= 0``; a schedule is checked where it is built."""
    if value is None:
        raise ValueError(f"{name} must be a float or a schedule, got None")
    if callable(value):
        return
    if not isinstance(value, jax.core.Tracer) and np.ndim(value) != 0:
        raise TypeError(
            f"{name} must be a scalar or a schedule, got an array of shape {np.shape(value)}"
        )
    non_negative(name, value)
    v = _concrete(value)
    if v is not None and math.isinf(v):
        raise ValueError(f"{name} must be finite, got {value!r}")


def positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def state_dtype(name: str, value: Any, *, allow_complex: bool = True) -> Any:
    """An optional storage dtype for optimiser state (``mu_dtype``, ``nu_dtype``,
    ``accumulator_dtype``): ``None`` or a floating dtype (complex too when
    ``allow_complex``). Returns ``None`` or the ``jnp.dtype``; raises ``TypeError``
    naming the parameter otherwise."""
    if value is None:
        return None
    try:
        dtype = jnp.dtype(value)
    except TypeError as e:
        raise TypeError(f"{name} must be a floating dtype or None, got {value!r}") from e
    ok = jnp.issubdtype(dtype, jnp.floating) or (
        allow_complex and jnp.issubdtype(dtype, jnp.complexfloating)
    )
    if not ok:
        kind = "a real floating" if not allow_complex else "a floating"
        raise TypeError(f"{name} must be {kind} dtype or None, got {value!r} ({dtype})")
    return dtype


def transformation(name: str, value: Any) -> None:
    """``TypeError`` naming ``name`` unless ``value`` is a gradient transformation: an
    object with callable ``.init`` and ``.update`` (gradtx's, optax's, or any other)."""
    if not (callable(getattr(value, "init", None)) and callable(getattr(value, "update", None))):
        raise TypeError(
            f"{name} must be a gradient transformation (an object with callable .init and "
            f".update), got {type(value).__name__}"
        )
