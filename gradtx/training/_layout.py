"""How a state tree is matched to its parameters' shardings: the private rules behind
:func:`gradtx.sharding.state_shardings` and the step of
:func:`gradtx.sharding.make_train_step` (kept apart so that ``sharding.py`` holds the
public helpers)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec, Sharding, SingleDeviceSharding

from gradtx.base import Params


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _is_sharding_leaf(x: Any) -> bool:
    return isinstance(x, (Sharding, PartitionSpec))


def _sharding_leaves(tree: Any, name: str) -> list[Sharding]:
    leaves = jax.tree.leaves(tree, is_leaf=_is_sharding_leaf)
    for s in leaves:
        if not isinstance(s, Sharding):
            raise TypeError(
                f"{name} must hold jax.sharding.Sharding objects (for example "
                f"NamedSharding(mesh, PartitionSpec('data'))), got {type(s).__name__}: {s!r}"
            )
    return leaves


def _broadcast_shardings(shardings: Any, params: Params, name: str) -> Any:
    """A tree of shardings with the params' structure, from a prefix of it (a single
    ``Sharding`` covers every leaf)."""
    _sharding_leaves(shardings, name)
    try:
        return jax.tree.map(
            lambda s, sub: jax.tree.map(lambda _: s, sub),
            shardings,
            params,
            is_leaf=_is_sharding_leaf,
        )
    except ValueError as e:
        raise ValueError(
            f"{name} must have the structure of the params (or a prefix of it):\n"
            f"  {name}: {jax.tree.structure(shardings, is_leaf=_is_sharding_leaf)}\n"
            f"  params: {jax.tree.structure(params)}"
        ) from e


def _replicated(*sharding_trees: Any) -> Sharding:
    """The fully replicated sharding on the devices of the given shardings."""
    single = None
    for tree in sharding_trees:
        for s in jax.tree.leaves(tree, is_leaf=_is_sharding_leaf):
            if isinstance(s, NamedSharding):
                return NamedSharding(s.mesh, PartitionSpec())
            if isinstance(s, SingleDeviceSharding) and single is None:
                single = s
    if single is not None:
        return single
    raise TypeError(
        "cannot build a replicated sharding for the scalar state leaves: give the params "
        "NamedSharding (or SingleDeviceSharding) shardings"
    )


def _signature(tree: Any) -> tuple[Any, tuple[tuple[int, ...], ...]]:
    leaves, treedef = jax.tree.flatten(tree)
    return treedef, tuple(_shape(v) for v in leaves)


def _children(tree: Any) -> tuple[list[Any], Any]:
    """The immediate children of a pytree node, and the node's one-level treedef."""
    return jax.tree.flatten(tree, is_leaf=lambda x: x is not tree)


def _subtree_shardings(params: Params, param_shardings: Any) -> dict[Any, Any]:
    """``signature -> shardings`` for the params and each of their inner subtrees; a
    signature met twice with different shardings maps to ``None`` (ambiguous)."""
    found: dict[Any, Any] = {}

    def walk(node: Any, shardings: Any) -> None:
        if node is None or jax.tree_util.all_leaves([node]):
            return
        sig = _signature(node)
        if sig[1]:
            seen = found.get(sig, shardings)
            same = seen is not None and jax.tree.leaves(
                seen, is_leaf=_is_sharding_leaf
            ) == jax.tree.leaves(shardings, is_leaf=_is_sharding_leaf)
            found[sig] = shardings if same else None
        children, treedef = _children(node)
        for child, sub in zip(children, treedef.flatten_up_to(shardings), strict=True):
            walk(child, sub)

    walk(params, param_shardings)
    root = _signature(params)
    if root[1]:  # the whole tree is never ambiguous (nor a single-array params)
        found[root] = param_shardings
    return found


def _leaf_sharding(shape: tuple[int, ...], param: Any, sh: Any, replicated: Sharding) -> Any:
    """A state leaf at a parameter's position: the parameter's sharding when it has the
    parameter's shape; when its shape is the parameter's with one dimension removed (a
    factored second moment: Adafactor's row and column statistics), the parameter's
    ``NamedSharding`` spec without that dimension (if every such dimension gives the
    same spec); otherwise replicated."""
    pshape = _shape(param)
    if shape == pshape:
        return sh
    if not isinstance(sh, NamedSharding) or len(shape) != len(pshape) - 1:
        return replicated
    spec = tuple(sh.spec) + (None,) * (len(pshape) - len(sh.spec))
    found = {
        spec[:d] + spec[d + 1 :]
        for d in range(len(pshape))
        if pshape[:d] + pshape[d + 1 :] == shape
    }
    if len(found) != 1:
        return replicated
    return NamedSharding(sh.mesh, PartitionSpec(*found.pop()))


def _per_param(state: Any, params: Params, param_shardings: Any, replicated: Sharding) -> Any:
    """Shardings for ``state``: each state subtree with the structure and leaf shapes of
    the params (``mu``, ``nu``, ``trace`` ...), or of one inner subtree of the params
    (the per-group states of a partitioned optimiser such as ``optax.multi_transform``),
    gets those parameters' shardings leaf by leaf; a subtree with their structure but
    other shapes (a factored state) gets them leaf by leaf through
    :func:`_leaf_sharding`; every other leaf (counts, PRNG keys) is replicated. An inner
    subtree whose structure (and shapes) occur twice in the params with different
    shardings is ambiguous and left replicated."""
    table = _subtree_shardings(params, param_shardings)
    by_structure: dict[Any, Any] = {}
    for (treedef, _), sh in table.items():
        by_structure.setdefault(treedef, []).append(sh)
    subtrees = _subtree_params(params)

    def owned(x: Any) -> bool:
        return x is not None and table.get(_signature(x)) is not None

    def factored(x: Any) -> bool:
        if x is None or jax.tree_util.all_leaves([x]):
            return False
        sig = _signature(x)
        found = by_structure.get(sig[0], [])
        return bool(sig[1]) and len(found) == 1 and found[0] is not None

    def one(x: Any) -> Any:
        if owned(x):
            return table[_signature(x)]
        if x is not None and x in holed:
            return holed[x]
        if factored(x):
            treedef = jax.tree.structure(x)
            sh = by_structure[treedef][0]
            ps = subtrees[treedef]
            return treedef.unflatten(
                _leaf_sharding(_shape(v), p, s, replicated)
                for v, p, s in zip(
                    jax.tree.leaves(x),
                    jax.tree.leaves(ps),
                    jax.tree.leaves(sh, is_leaf=_is_sharding_leaf),
                    strict=True,
                )
            )
        return replicated

    pairs = _subtree_pairs(params, param_shardings)
    holed = _IdDict()

    def masked(x: Any) -> bool:
        # a subtree with the params' structure but MaskedNode holes (the state of
        # ``masked``/``partition``/``multi_transform`` with a leaf-level mask)
        if x is None or jax.tree_util.all_leaves([x]) or not _has_hole(x):
            return False
        found = [m for p, sh in pairs if (m := _match_holes(x, p, sh, replicated)) is not None]
        if not found or any(
            jax.tree.leaves(m, is_leaf=_is_sharding_leaf)
            != jax.tree.leaves(found[0], is_leaf=_is_sharding_leaf)
            for m in found[1:]
        ):
            return False  # no match, or an ambiguous one: its leaves are replicated
        holed[x] = found[0]
        return True

    return jax.tree.map(one, state, is_leaf=lambda x: owned(x) or factored(x) or masked(x))


class _IdDict(dict):
    """A dict keyed by object identity (state subtrees are not hashable)."""

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(id(key), (key, value))

    def __contains__(self, key: object) -> bool:
        return super().__contains__(id(key))

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(id(key))[1]


def _is_hole(x: Any) -> bool:
    """gradtx's or optax's ``MaskedNode``: an empty tuple node standing for a masked-out
    parameter (matched by name so that optax's masked states are recognised too)."""
    return isinstance(x, tuple) and len(x) == 0 and type(x).__name__ == "MaskedNode"


def _has_hole(x: Any) -> bool:
    return any(_is_hole(v) for v in jax.tree.leaves(x, is_leaf=_is_hole))


def _match_holes(x: Any, p: Any, sh: Any, replicated: Sharding) -> Any:
    """The shardings of ``x`` if it is the params subtree ``p`` with some subtrees
    replaced by ``MaskedNode`` (kept as they are), its leaves at parameters' positions
    (sharded by :func:`_leaf_sharding`); ``None`` if the structures differ."""
    if _is_hole(x):
        return x
    if jax.tree_util.all_leaves([p]):
        if not jax.tree_util.all_leaves([x]):
            return None
        return _leaf_sharding(_shape(x), p, sh, replicated)
    if jax.tree_util.all_leaves([x]):
        return None
    xs, xdef = _children(x)
    ps, pdef = _children(p)
    if xdef != pdef:
        return None
    out = []
    for xc, pc, sc in zip(xs, ps, pdef.flatten_up_to(sh), strict=True):
        m = _match_holes(xc, pc, sc, replicated)
        if m is None:
            return None
        out.append(m)
    return xdef.unflatten(out)


def _subtree_pairs(params: Params, param_shardings: Any) -> list[tuple[Any, Any]]:
    """``(subtree, shardings)`` for the params and each of their inner subtrees."""
    found: list[tuple[Any, Any]] = []

    def walk(node: Any, shardings: Any) -> None:
        if node is None or jax.tree_util.all_leaves([node]):
            return
        found.append((node, shardings))
        children, treedef = _children(node)
        for child, sub in zip(children, treedef.flatten_up_to(shardings), strict=True):
            walk(child, sub)

    walk(params, param_shardings)
    return found


def _subtree_params(params: Params) -> dict[Any, Any]:
    """``structure -> subtree`` for the params and each inner subtree (the first met)."""
    found: dict[Any, Any] = {}

    def walk(node: Any) -> None:
        if node is None or jax.tree_util.all_leaves([node]):
            return
        found.setdefault(jax.tree.structure(node), node)
        for child in _children(node)[0]:
            walk(child)

    walk(params)
    return found
