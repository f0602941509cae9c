"""Random trees (optax 0.2.8's ``tree_split_key_like``, ``tree_random_like``,
``tree_unwrap_random_key_data``; source ``optax/tree_utils/_random.py``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax


def tree_split_key_like(rng_key: Any, target_tree: Any) -> Any:
    r"""One key per leaf of ``target_tree``: ``jax.random.split(rng_key, n_leaves)``
    arranged in the tree's structure.

    Args:
      rng_key: a PRNG key.
      target_tree: the pytree whose structure the keys take.

    Returns:
      A tree of keys.

    Example:
      >>> import jax, jax.numpy as jnp, gradtx
      >>> keys = gradtx.tree.tree_split_key_like(jax.random.key(0), {"a": 1, "b": 2})
      >>> sorted(keys)
      ['a', 'b']
    """
    treedef = jax.tree.structure(target_tree)
    keys = jax.random.split(rng_key, treedef.num_leaves)
    return jax.tree.unflatten(treedef, list(keys))


def tree_random_like(
    rng_key: Any,
    target_tree: Any,
    sampler: Callable[..., Any] = jax.random.normal,
    dtype: Any | None = None,
) -> Any:
    r"""A random tree shaped like ``target_tree``: leaf :math:`i` is
    ``sampler(k_i, leaf.shape, dtype or leaf.dtype)`` with the keys of
    :func:`tree_split_key_like` (same numbers as optax for the same key).

    Args:
      rng_key: a PRNG key.
      target_tree: a pytree of arrays.
      sampler: ``(key, shape, dtype) -> array`` (default ``jax.random.normal``); one that
        takes ``out_sharding`` gets each leaf's sharding.
      dtype: the samples' dtype (default ``None``: each leaf's).

    Returns:
      The random tree.

    Example:
      >>> import jax, jax.numpy as jnp, gradtx
      >>> gradtx.tree.tree_random_like(jax.random.key(0), [jnp.ones((2, 3))])[0].shape
      (2, 3)
    """
    keys = tree_split_key_like(rng_key, target_tree)
    takes_sharding = "out_sharding" in inspect.signature(sampler).parameters

    def draw(leaf, key):
        dt = dtype or leaf.dtype
        if takes_sharding:
            return sampler(key, leaf.shape, dt, out_sharding=jax.typeof(leaf).sharding)
        return sampler(key, leaf.shape, dt)

    return jax.tree.map(draw, target_tree, keys)


def tree_unwrap_random_key_data(input_tree: Any) -> Any:
    r"""Typed PRNG key leaves replaced by their raw ``uint32`` data
    (``jax.random.key_data``); other leaves unchanged.

    Args:
      input_tree: a pytree.

    Returns:
      The tree without typed key leaves.

    Example:
      >>> import jax, gradtx
      >>> gradtx.tree.tree_unwrap_random_key_data([jax.random.key(0)])[0].dtype
      dtype('uint32')
    """

    def unwrap(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.key_data(x)
        return x

    return jax.tree.map(unwrap, input_tree)
