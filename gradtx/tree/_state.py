"""Finding and replacing values in optimiser states by name (optax 0.2.8's ``tree_get``,
``tree_set``, ``tree_get_all_with_path``, ``tree_map_params``; source
``optax/tree_utils/_state_utils.py``).

A *key* names a NamedTuple field (``"count"``, ``"mu"``), a dict entry
(``"learning_rate"`` in an injected state's ``hyperparams``) or a NamedTuple class
(``"ScaleByAdamState"``). Paths use :class:`NamedTupleKey` for NamedTuple fields, as
optax's, so a ``filtering`` function written for optax works here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax

KeyPath = tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class NamedTupleKey:
    """A path entry for a NamedTuple field: ``tuple_name.name``.

    Example:
      >>> from gradtx.tree import NamedTupleKey
      >>> str(NamedTupleKey("ScaleByAdamState", "mu"))
      'ScaleByAdamState.mu'
    """

    tuple_name: str
    name: str

    def __str__(self) -> str:
        return f"{self.tuple_name}.{self.name}"


def _is_named_tuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _has_keys(node: Any, keys: tuple[Any, ...]) -> bool:
    if _is_named_tuple(node):
        return any(k in node._fields or k == type(node).__name__ for k in keys)
    return isinstance(node, dict) and any(k in node for k in keys)


def _leaves_with_path(tree: Any, is_leaf: Callable[[Any], bool]) -> list[tuple[KeyPath, Any]]:
    """Leaves (or subtrees where ``is_leaf``) with paths, NamedTuple fields named by
    :class:`NamedTupleKey`."""
    out = []
    pairs = jax.tree_util.tree_leaves_with_path(
        tree, is_leaf=lambda x: is_leaf(x) or _is_named_tuple(x)
    )
    for path, node in pairs:
        if is_leaf(node) or not _is_named_tuple(node):
            out.append((path, node))
            continue
        for field in node._fields:
            key = NamedTupleKey(type(node).__name__, field)
            for sub, value in _leaves_with_path(getattr(node, field), is_leaf):
                out.append(((*path, key, *sub), value))
    return out


def _children(path: KeyPath, node: Any) -> list[tuple[KeyPath, Any]]:
    if _is_named_tuple(node):
        name = type(node).__name__
        return [((*path, NamedTupleKey(name, f)), getattr(node, f)) for f in node._fields]
    return [((*path, jax.tree_util.DictKey(k)), v) for k, v in node.items()]


def _all_with_path(tree: Any, key: Any) -> list[tuple[KeyPath, Any]]:
    def has(x):
        return _has_keys(x, (key,))

    subtrees = [(p, t) for p, t in _leaves_with_path(tree, has) if has(t)]
    found = []
    for path, node in subtrees:
        if _is_named_tuple(node):
            if key == type(node).__name__:
                found.append((path, node))
            else:
                found.append(((*path, NamedTupleKey(type(node).__name__, key)), getattr(node, key)))
        else:
            found.append(((*path, jax.tree_util.DictKey(key)), node[key]))
    for path, node in subtrees:
        for child_path, child in _children(path, node):
            found += [((*child_path, *p), v) for p, v in _all_with_path(child, key)]
    return found


def tree_get_all_with_path(
    tree: Any,
    key: Any,
    filtering: Callable[[KeyPath, Any], bool] | None = None,
) -> list[tuple[KeyPath, Any]]:
    r"""Every ``(path, value)`` in ``tree`` under the name ``key``: NamedTuple fields and
    dict entries named ``key``, and NamedTuples whose class is named ``key``.

    Args:
      tree: a pytree (an optimiser state).
      key: the name to look for.
      filtering: optional ``(path, value) -> bool`` keeping only some matches.

    Returns:
      A list of ``(path, value)`` pairs (empty when nothing matches).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> state = gradtx.adam(0.1).init({"w": jnp.zeros(2)})
      >>> [str(p[-1]) for p, _ in gradtx.tree.tree_get_all_with_path(state, "count")]
      ['ScaleByAdamState.count']
    """
    found = _all_with_path(tree, key)
    if filtering is not None:
        found = [(p, v) for p, v in found if filtering(p, v)]
    return found


def tree_get(
    tree: Any,
    key: Any,
    default: Any | None = None,
    filtering: Callable[[KeyPath, Any], bool] | None = None,
) -> Any:
    r"""The one value in ``tree`` named ``key`` (see :func:`tree_get_all_with_path`), or
    ``default`` when there is none.

    Args:
      tree: a pytree (an optimiser state).
      key: the name.
      default: returned when nothing matches (default ``None``).
      filtering: optional ``(path, value) -> bool`` to pick among several matches.

    Returns:
      The value.

    Raises:
      KeyError: several values match (use ``filtering``).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> opt = gradtx.inject_hyperparams(gradtx.sgd)(learning_rate=0.1)
      >>> state = opt.init({"w": jnp.zeros(2)})
      >>> round(float(gradtx.tree.tree_get(state, "learning_rate")), 6)
      0.1
    """
    found = tree_get_all_with_path(tree, key, filtering=filtering)
    if len(found) > 1:
        raise KeyError(
            f"key {key!r} matches {len(found)} values (at "
            f"{[jax.tree_util.keystr(tuple(p)) for p, _ in found]}); pass filtering to pick one"
        )
    return found[0][1] if found else default


def _key_name(entry: Any) -> Any:
    if isinstance(entry, jax.tree_util.DictKey):
        if isinstance(entry.key, str | int):
            return entry.key
        raise KeyError(f"dict keys must be str or int for tree_set, got {entry.key!r}")
    if isinstance(entry, jax.tree_util.FlattenedIndexKey):
        return entry.key
    if isinstance(entry, jax.tree_util.GetAttrKey | NamedTupleKey):
        return entry.name
    if isinstance(entry, jax.tree_util.SequenceKey):
        return entry.idx
    raise KeyError(f"tree key {entry!r} of type {type(entry).__name__} is not supported")


def tree_set(
    tree: Any,
    filtering: Callable[[KeyPath, Any], bool] | None = None,
    /,
    **kwargs: Any,
) -> Any:
    r"""``tree`` with the values named by ``kwargs`` replaced (NamedTuple fields, dict
    entries, or whole NamedTuples named by their class).

    Args:
      tree: a pytree (an optimiser state).
      filtering: optional ``(path, value) -> bool`` (positional only) restricting which
        matches are replaced.
      **kwargs: ``name=new_value``.

    Returns:
      The new tree (the input is not modified).

    Raises:
      KeyError: a name matches nothing.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> opt = gradtx.inject_hyperparams(gradtx.sgd)(learning_rate=0.1)
      >>> state = opt.init({"w": jnp.zeros(2)})
      >>> state = gradtx.tree.tree_set(state, learning_rate=jnp.asarray(0.5))
      >>> float(gradtx.tree.tree_get(state, "learning_rate"))
      0.5
    """
    for key in kwargs:
        if not tree_get_all_with_path(tree, key, filtering):
            extra = " given the filtering" if filtering else ""
            raise KeyError(f"no value named {key!r}{extra} in the tree")
    keys = tuple(kwargs)

    def has(x):
        return _has_keys(x, keys)

    def replace(path: KeyPath, node: Any) -> Any:
        if not has(node):
            return node
        if (
            _is_named_tuple(node)
            and type(node).__name__ in kwargs
            and (filtering is None or filtering(path, node))
        ):
            return kwargs[type(node).__name__]
        new = {}
        for child_path, child in _children(path, node):
            name = _key_name(child_path[-1])
            if name in kwargs and (filtering is None or filtering(child_path, child)):
                new[name] = kwargs[name]
            elif isinstance(child, dict | list | tuple):
                new[name] = replace(child_path, child)
            else:
                new[name] = child
        return node._replace(**new) if _is_named_tuple(node) else new

    _, treedef = jax.tree.flatten(tree, is_leaf=has)
    pairs = _leaves_with_path(tree, has)
    return treedef.unflatten([replace(p, v) for p, v in pairs])


@jax.tree_util.register_pytree_node_class
class _ParamsPlaceholder:
    """Stands in for the params when ``init`` is traced by :func:`tree_map_params`."""

    def tree_flatten(self):
        return (), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls()


def tree_map_params(
    initable: Any,
    f: Callable[..., Any],
    state: Any,
    /,
    *rest: Any,
    transform_non_params: Callable[..., Any] | None = None,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    r"""Maps ``f`` over the parts of an optimiser state that are shaped like the params
    (moments, traces), found by running ``initable``'s ``init`` on a placeholder.

    Args:
      initable: a gradient transformation (anything with ``init``) or an ``init``
        function.
      f: applied to each params-shaped leaf (with the matching leaves of ``rest``).
      state: the state to map.
      *rest: trees with the params' structure passed to ``f`` alongside.
      transform_non_params: optional function for every other leaf (default: kept).
      is_leaf: as ``jax.tree.map``'s, for the params trees.

    Returns:
      The mapped state.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> opt = gradtx.adam(0.1)
      >>> state = opt.init({"w": jnp.zeros(2)})
      >>> doubled = gradtx.tree.tree_map_params(opt, lambda x: x + 1, state)
      >>> doubled[0].mu["w"].tolist(), int(doubled[0].count)
      ([1.0, 1.0], 0)
    """
    placeholder = _ParamsPlaceholder()
    init = initable.init if hasattr(initable, "init") else initable
    skeleton = init(placeholder)

    def map_one(marker, value):
        if isinstance(marker, _ParamsPlaceholder):
            return jax.tree.map(f, value, *rest, is_leaf=is_leaf)
        if transform_non_params is not None:
            return transform_non_params(value)
        return value

    return jax.tree.map(
        map_one, skeleton, state, is_leaf=lambda v: isinstance(v, _ParamsPlaceholder)
    )
