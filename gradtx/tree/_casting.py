"""dtype helpers on pytrees (optax 0.2.8's ``tree_cast``, ``tree_cast_like``,
``tree_dtype``; source ``optax/tree_utils/_casting.py``)."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from gradtx.tree import _core as _tree

_HANDLERS = (None, "promote", "highest", "lowest")


def tree_cast(tree: Any, dtype: Any | None) -> Any:
    r"""Every leaf cast to ``dtype`` (``None``: the tree unchanged).

    Args:
      tree: a pytree of arrays.
      dtype: the target dtype or ``None``.

    Returns:
      The cast tree.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.tree.tree_cast([jnp.ones(1)], jnp.bfloat16)[0].dtype
      dtype(bfloat16)
    """
    return _tree.cast(tree, dtype)


def tree_cast_like(tree: Any, other_tree: Any) -> Any:
    r"""Each leaf of ``tree`` cast to the dtype of the matching leaf of ``other_tree``
    (left unchanged where that leaf has no ``dtype``, e.g. a Python number).

    Args:
      tree: a pytree of arrays.
      other_tree: a pytree of the same structure.

    Returns:
      The cast tree.

    Raises:
      ValueError: the structures differ.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.tree.tree_cast_like([jnp.ones(1)], [jnp.ones(1, jnp.int32)])[0].dtype
      dtype('int32')
    """
    return jax.tree.map(
        lambda t, o: t.astype(o.dtype) if hasattr(o, "dtype") else t, tree, other_tree
    )


def _lower(a: Any, b: Any) -> Any:
    promoted = jnp.promote_types(a, b)
    if promoted == a:
        return b
    if promoted == b:
        return a
    raise ValueError(
        f"mixed_dtype_handler: cannot order dtypes {a} and {b} (neither promotes to the other)"
    )


def _higher(a: Any, b: Any) -> Any:
    return b if _lower(a, b) == a else a


def tree_dtype(tree: Any, mixed_dtype_handler: str | None = None) -> Any:
    r"""The dtype of a tree's leaves.

    Args:
      tree: a pytree.
      mixed_dtype_handler: ``None`` (default: every leaf must have the same dtype),
        ``"promote"`` (the promoted dtype), ``"highest"`` or ``"lowest"`` (the largest or
        smallest dtype in the promotion order).

    Returns:
      A dtype (``float32``, ``jnp.asarray([])``'s, for an empty tree).

    Raises:
      ValueError: mixed dtypes with ``mixed_dtype_handler=None`` (naming the leaf),
      dtypes that cannot be ordered, or an unknown ``mixed_dtype_handler``.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tree = [jnp.ones(1, jnp.bfloat16), jnp.ones(1)]
      >>> gradtx.tree.tree_dtype(tree, "highest")
      dtype('float32')
    """
    if mixed_dtype_handler not in _HANDLERS:
        raise ValueError(
            f"mixed_dtype_handler must be one of {list(_HANDLERS)}, got {mixed_dtype_handler!r}"
        )
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.asarray(leaves).dtype
    dtypes = [jnp.asarray(x).dtype for x in leaves]
    if mixed_dtype_handler is None:
        bad = [
            f"Expected dtype={dtypes[0]} for {jax.tree_util.keystr(path)} but got {d}."
            for (path, _), d in zip(jax.tree_util.tree_leaves_with_path(tree), dtypes, strict=True)
            if d != dtypes[0]
        ]
        if bad:
            raise ValueError("mixed_dtype_handler=None needs one dtype: " + "\n".join(bad))
        return dtypes[0]
    if mixed_dtype_handler == "promote":
        return functools.reduce(jnp.promote_types, dtypes)
    if mixed_dtype_handler == "highest":
        return functools.reduce(_higher, dtypes)
    return functools.reduce(_lower, dtypes)
