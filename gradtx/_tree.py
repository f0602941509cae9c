"""Tree helpers shared by every transform: the moment math lives here, once.

All checks in this module run at trace time (they look at tree structure, shapes and
dtypes, which are static under ``jit``), so they cost nothing in a compiled step.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_INT32_MAX = np.iinfo(np.int32).max


def _describe(path) -> str:
    return jax.tree_util.keystr(path) or "<root>"


def check_same_tree(tree: Any, ref: Any, *, what: str = "updates", against: str = "state") -> None:
    """Raises ``ValueError`` naming the difference if ``tree`` and ``ref`` differ in
    structure or in any leaf's shape."""
    s_tree, s_ref = jax.tree.structure(tree), jax.tree.structure(ref)
    if s_tree != s_ref:
        raise ValueError(
            f"the {what} tree does not match the {against} tree:\n"
            f"  {what}:  {s_tree}\n  {against}: {s_ref}"
        )
    for (path, a), b in zip(
        jax.tree_util.tree_leaves_with_path(tree), jax.tree.leaves(ref), strict=True
    ):
        sa, sb = np.shape(a), np.shape(b)
        if sa != sb:
            raise ValueError(
                f"leaf {_describe(path)} of the {what} has shape {sa} but the {against} "
                f"holds shape {sb}"
            )


def check_float_updates(updates: Any) -> None:
    """Raises ``TypeError`` if a leaf of ``updates`` is not a floating-point array."""
    for path, g in jax.tree_util.tree_leaves_with_path(updates):
        dtype = jnp.result_type(g)
        if not jnp.issubdtype(dtype, jnp.inexact):
            raise TypeError(
                f"gradient leaf {_describe(path)} has dtype {dtype}; gradients must be "
                "floating point (an integer or boolean gradient usually means the "
                "parameter should not be trained: mask it out or cast it)"
            )


def check_updates(updates: Any, like: Any | None = None) -> None:
    """The input check run at the top of every ``update``: float leaves and, if given,
    the same structure and shapes as ``like`` (a per-parameter state tree)."""
    check_float_updates(updates)
    if like is not None:
        check_same_tree(updates, like)


def _filled_like(x: Any, value: Any, dtype: Any | None) -> jax.Array:
    """``value`` in ``x``'s shape and on ``x``'s devices (``dtype`` defaults to ``x``'s).

    ``lax.full_like`` keeps the sharding of a committed array (a parameter sharded over
    a mesh gives a state leaf sharded the same way, so an eager ``init`` does not gather
    the state onto one device) and of a tracer under an explicit-axes mesh
    (``jax.set_mesh``). NumPy arrays, Python scalars, uncommitted arrays and tracers
    give what ``jnp.full(shape, value, dtype)`` gives. The dtype is always passed, so a
    weakly typed input never gives a weakly typed state.
    """
    return jax.lax.full_like(x, value, dtype or jnp.result_type(x))


def zeros_like(tree: Any, dtype: Any | None = None) -> Any:
    """Zeros shaped, typed (unless ``dtype`` is given) and sharded like each leaf."""
    return jax.tree.map(lambda x: _filled_like(x, 0, dtype), tree)


def full_like(tree: Any, value: Any, dtype: Any | None = None) -> Any:
    """``value`` shaped, typed (unless ``dtype`` is given) and sharded like each leaf."""
    return jax.tree.map(lambda x: _filled_like(x, value, dtype), tree)


def cast_like(tree: Any, like: Any) -> Any:
    return jax.tree.map(lambda x, y: x.astype(jnp.result_type(y)), tree, like)


def cast(tree: Any, dtype: Any | None) -> Any:
    if dtype is None:
        return tree
    return jax.tree.map(lambda x: x.astype(dtype), tree)


def compute_dtype(*xs: Any) -> Any:
    """At least float32: moments of bf16/f16 parameters accumulate in f32."""
    return jnp.promote_types(jnp.result_type(*xs), jnp.float32)


def ema(g: jax.Array, m: jax.Array, decay: Any, order: int = 1) -> jax.Array:
    """``decay * m + (1 - decay) * g**order`` for one array, in at least float32."""
    dt = compute_dtype(g, m)
    g, m = g.astype(dt), m.astype(dt)
    return (1 - decay) * (g**order if order != 1 else g) + decay * m


def update_moment(updates: Any, moments: Any, decay: Any, order: int = 1) -> Any:
    """The exponential moving average of the ``order``-th power, leaf by leaf."""
    return jax.tree.map(lambda g, m: ema(g, m, decay, order), updates, moments)


def bias_correction(decay: Any, count: jax.Array) -> jax.Array:
    """``1 - decay**count`` in float32 (in bf16 ``decay**t`` rounds to 1 early)."""
    return 1 - jnp.asarray(decay, jnp.float32) ** count.astype(jnp.float32)


def safe_increment(count: jax.Array) -> jax.Array:
    """``count + 1`` for an int32 counter, saturating at ``2**31 - 1`` instead of
    wrapping to a negative number (which would make bias corrections NaN)."""
    return jnp.where(count < _INT32_MAX, count + 1, jnp.asarray(_INT32_MAX, count.dtype))


def zero_count() -> jax.Array:
    return jnp.zeros([], jnp.int32)


def global_norm(updates: Any) -> jax.Array:
    """``sqrt(sum of squares of every element)``, accumulated in float32 (``updates``:
    optax's parameter name; any pytree)."""
    leaves = jax.tree.leaves(updates)
    if not leaves:
        return jnp.zeros([], jnp.float32)
    return jnp.sqrt(sum(jnp.sum(jnp.square(x.astype(compute_dtype(x)))) for x in leaves))


def map_outputs(fn, tree: Any, *rest: Any) -> tuple[Any, ...]:
    """Like ``jax.tree.map`` for a ``fn`` that returns a tuple: returns a tuple of trees.

    One pass over the leaves computes every output of a per-array update rule (the new
    updates and each new state leaf), so the math of one optimiser is written once, per
    array, as in the equations.
    """
    treedef = jax.tree.structure(tree)
    out = treedef.flatten_up_to(jax.tree.map(fn, tree, *rest))
    if not out:
        return ()
    return tuple(treedef.unflatten(list(col)) for col in zip(*out, strict=True))
