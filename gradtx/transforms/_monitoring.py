"""Layout and monitoring wrappers (optax 0.2.8's ``flatten``, ``monitor``, ``snapshot``,
``normalize_by_update_norm``; sources ``optax/transforms/_layouts.py``,
``_monitoring.py``, ``optax/_src/transform.py``). Same signatures, numbers and state trees
as optax."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx.base import EmptyState, GradientTransformation, _as_transformation
from gradtx.tree._core import check_updates, compute_dtype, global_norm


class SnapshotState(NamedTuple):
    measurement: dict[str, Any]  # {measure_name: measure(last updates)}


class MonitorState(NamedTuple):
    measurements: dict[str, Any]  # {name: last measurement}; {} after init (as optax)
    measure_states: tuple[Any, ...]  # each stateful measure's state, in dict order


def normalize_by_update_norm(scale_factor: Any = 1.0, eps: Any = 1e-6) -> GradientTransformation:
    r"""Scales the update to global norm ``scale_factor``:
    :math:`u = s\,g / (\|g\|_2 + \epsilon)`.

    Args:
      scale_factor: :math:`s` (default 1.0).
      eps: :math:`\epsilon \ge 0` (default ``1e-6``), avoids dividing by 0.

    Returns:
      A stateless transformation.

    Raises:
      ValueError: negative or NaN ``eps``; TypeError: non-numeric arguments.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.normalize_by_update_norm(eps=0.0)
      >>> u, _ = tx.update({"w": jnp.array([3.0, 4.0])}, tx.init(None))
      >>> [round(x, 4) for x in u["w"].tolist()]
      [0.6, 0.8]
    """
    _checks.check_range("scale_factor", scale_factor)
    _checks.non_negative("eps", eps)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates)
        # the norm and the division in at least float32 (a float16 sum of squares
        # overflows for a norm above 256), the update in the gradient's dtype
        g_norm = (global_norm(updates) + eps) / scale_factor
        return jax.tree.map(lambda g: (g.astype(compute_dtype(g)) / g_norm).astype(g.dtype),
                            updates), state

    return GradientTransformation(lambda params: EmptyState(), update_fn)


def _like(part: jax.Array, leaf: Any) -> jax.Array:
    """``part`` of the flat vector in ``leaf``'s dtype (as ``jax.flatten_util``'s unravel):
    a real leaf of a tree that also holds complex leaves was promoted to complex by the
    concatenation; its update is the real part (the imaginary coordinate is not one of
    the leaf's), so a real parameter gets a real update."""
    dtype = jnp.result_type(leaf)
    if jnp.iscomplexobj(part) and not jnp.issubdtype(dtype, jnp.complexfloating):
        part = jnp.real(part)
    return part.astype(dtype)


def flatten(inner: GradientTransformation) -> GradientTransformation:
    r"""Runs ``inner`` on one flat vector: params and updates are raveled and
    concatenated, ``inner``'s update is split back into the tree (fewer, larger kernels
    for trees of many small leaves).

    Args:
      inner: the transformation to run on the flat vector.

    Returns:
      The wrapped transformation; its state is ``inner``'s state for the flat vector.

    Raises:
      TypeError: ``inner`` is not a gradient transformation.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.flatten(gradtx.scale(-0.5))
      >>> g = {"a": jnp.ones(2), "b": jnp.ones((1, 1))}
      >>> u, _ = tx.update(g, tx.init(g))
      >>> u["a"].tolist(), u["b"].tolist()
      ([-0.5, -0.5], [[-0.5]])
    """
    init_inner, update_inner = _as_transformation(inner, 0)

    def ravel(tree):
        leaves = jax.tree.leaves(tree)
        return jnp.concatenate([jnp.reshape(x, [-1]) for x in leaves])

    def unravel(like, flat):
        leaves, treedef = jax.tree.flatten(like)
        offsets = np.cumsum([np.size(x) for x in leaves])[:-1]
        parts = jnp.split(flat, offsets)
        return treedef.unflatten(
            [_like(jnp.reshape(p, jnp.shape(x)), x) for p, x in zip(parts, leaves, strict=True)]
        )

    def init_fn(params):
        return init_inner(ravel(params))

    def update_fn(updates, state, params=None, **extra_args):
        flat_params = None if params is None else ravel(params)
        flat, state = update_inner(ravel(updates), state, flat_params, **extra_args)
        return unravel(updates, flat), state

    return GradientTransformation(init_fn, update_fn)


def snapshot(measure_name: str, measure: Callable[[Any], Any]) -> GradientTransformation:
    r"""Stores ``measure(updates)`` in the state under ``measure_name`` and passes the
    updates through (after ``init``: ``measure(params)``).

    Args:
      measure_name: the key.
      measure: a function of the updates (e.g. ``gradtx.tree.norm``).

    Returns:
      A transformation with state ``SnapshotState({measure_name: value})``.

    Raises:
      TypeError: ``measure_name`` is not a string or ``measure`` is not callable.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.snapshot("norm", gradtx.tree.norm)
      >>> _, s = tx.update({"w": jnp.array([3.0, 4.0])}, tx.init({"w": jnp.zeros(2)}))
      >>> float(s.measurement["norm"])
      5.0
    """
    if not isinstance(measure_name, str):
        raise TypeError(f"measure_name must be a str, got {measure_name!r}")
    if not callable(measure):
        raise TypeError(f"measure must be callable, got {measure!r}")

    def init_fn(params):
        return SnapshotState({measure_name: measure(params)})

    def update_fn(updates, state, params=None, **extra_args):
        del params, state, extra_args
        return updates, SnapshotState({measure_name: measure(updates)})

    return GradientTransformation(init_fn, update_fn)


def monitor(measures: dict[str, Any]) -> GradientTransformation:
    r"""Records measurements of the updates in the state, passing the updates through.

    Each entry is a function of the updates (stateless) or a gradient transformation
    whose *updates* output is the measurement (stateful: an EMA of the norm, ...).

    Args:
      measures: ``{name: function or transformation}``.

    Returns:
      A transformation with state ``MonitorState(measurements, measure_states)``;
      ``measurements`` is ``{}`` after ``init`` and ``{name: value}`` after an update (as
      optax: the tree changes after the first step, so do not carry it through
      ``lax.scan`` from ``init``).

    Raises:
      TypeError: ``measures`` is not a dict of callables/transformations.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.monitor({"norm": gradtx.tree.norm})
      >>> _, s = tx.update({"w": jnp.array([3.0, 4.0])}, tx.init({"w": jnp.zeros(2)}))
      >>> float(s.measurements["norm"])
      5.0
    """
    if not isinstance(measures, dict):
        raise TypeError(f"measures must be a dict of measures, got {measures!r}")
    parts: dict[str, tuple[Callable, Callable]] = {}
    for name, m in measures.items():
        if callable(m):

            def update_m(updates, state, params=None, _m=m, **extra_args):
                return _m(updates), state

            parts[name] = (lambda params: EmptyState(), update_m)
        else:
            try:
                parts[name] = _as_transformation(m, 0)
            except TypeError as err:
                raise TypeError(
                    f"measures[{name!r}] must be a function of the updates or a gradient "
                    f"transformation, got {m!r}"
                ) from err
    names = tuple(parts)

    def init_fn(params):
        return MonitorState({}, tuple(parts[n][0](params) for n in names))

    def update_fn(updates, state, params=None, **extra_args):
        measurements, states = {}, []
        for i, n in enumerate(names):
            value, s = parts[n][1](updates, state.measure_states[i], params, **extra_args)
            measurements[n] = value
            states.append(s)
        return updates, MonitorState(measurements, tuple(states))

    return GradientTransformation(init_fn, update_fn)
