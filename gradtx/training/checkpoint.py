"""Saving and restoring optimiser states (schedules included) with flax serialization.

flax's ``to_state_dict``/``to_bytes`` know dicts, lists, tuples and NamedTuples (every
gradtx state is one of those), but not arbitrary JAX pytree classes such as the
:mod:`gradtx.schedules` objects that :func:`gradtx.inject_hyperparams` stores in its
state. :func:`register_serialization` teaches flax any pytree class, generically: its
state dict maps each child's key-path name (``"init_value"``, ``"schedules"``, ...) to
the child's own state dict, and restoring rebuilds the object from the template's
structure. Importing this module registers every :class:`gradtx.schedules.Schedule`
subclass and gradtx's other pytree state classes (:func:`gradtx.packed`'s); the wrappers
below also register whatever classes the tree they are given holds, so
``gradtx.checkpoint.to_bytes(state)`` works for any optimiser state.

Typed PRNG key arrays (``jax.random.key``, held by :func:`gradtx.add_noise`) cannot be
written by msgpack or NumPy: the wrappers store their ``uint32`` key data and wrap it
back into keys of the template's implementation on restore. Plain
``flax.serialization.to_bytes`` raises ``TypeError`` on such a state.

Example::

    from gradtx import checkpoint
    data = checkpoint.to_bytes(opt_state)                     # msgpack bytes
    opt_state = checkpoint.from_bytes(opt.init(params), data)  # restore into a template

orbax needs none of this: save the state as it is and restore it into a target made
from a fresh ``init`` (``jax.tree.map(ocp.utils.to_shape_dtype_struct, template)``);
without a target orbax returns plain dicts and lists. docs/hyperparams.md has the example.
On several processes (``jax.distributed``) restore into :func:`abstract_state`, which
places every leaf on the mesh (docs/sharding.md); msgpack cannot hold a multi-process
array and :func:`to_bytes` says so.

flax is imported here, so this module is not imported by ``import gradtx``.
"""

from __future__ import annotations

from typing import Any

import jax
from flax import serialization

__all__ = [
    "abstract_state",
    "from_bytes",
    "from_state_dict",
    "register_serialization",
    "to_bytes",
    "to_state_dict",
]

_LEAF = jax.tree.structure(0)


def _key_name(key: Any) -> str:
    for attr in ("name", "key", "idx"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def _children(node: Any) -> tuple[list[str], list[Any], Any]:
    """One level of ``node``'s pytree: child names, children and the one-level treedef."""
    keyed, treedef = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
    names = [_key_name(path[-1]) for path, _ in keyed]
    return names, [child for _, child in keyed], treedef


def _pytree_to_state_dict(node: Any) -> dict[str, Any]:
    names, children, _ = _children(node)
    return {name: serialization.to_state_dict(c) for name, c in zip(names, children, strict=True)}


def _pytree_from_state_dict(target: Any, state: dict[str, Any]) -> Any:
    names, children, treedef = _children(target)
    missing = sorted(set(names) - set(state))
    if missing or len(state) != len(names):
        raise ValueError(
            f"cannot restore {type(target).__name__} at {serialization.current_path()}: the "
            f"saved state has keys {sorted(state)}, the template has {names}"
        )
    restored = [
        serialization.from_state_dict(c, state[n], name=n)
        for n, c in zip(names, children, strict=True)
    ]
    return treedef.unflatten(restored)


def _register_type(ty: type) -> None:
    if not serialization.is_serializable(ty):
        serialization.register_serialization_state(
            ty, _pytree_to_state_dict, _pytree_from_state_dict
        )


def register_serialization(tree: Any) -> None:
    """Registers with flax every pytree class in ``tree`` (or ``tree`` itself, if it is
    a class) that flax cannot serialize yet, with the generic key-path state dict
    described in the module docstring. Classes flax already knows are left alone.

    After this, plain ``flax.serialization.to_bytes``/``from_bytes`` and orbax's flax
    handlers work on the state.

    Example::

        gradtx.checkpoint.register_serialization(my_custom_schedule)
        data = flax.serialization.to_bytes(opt_state)
    """
    if isinstance(tree, type):
        _register_type(tree)
        return

    def walk(node: Any) -> None:
        if node is None or jax.tree.structure(node) == _LEAF:
            return
        if not (serialization._is_namedtuple(node) or isinstance(node, (dict, list, tuple))):
            _register_type(type(node))
        for child in _children(node)[1]:
            walk(child)

    walk(tree)


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jax.numpy.issubdtype(x.dtype, jax.dtypes.prng_key)


def _keys_to_data(tree: Any) -> Any:
    """``tree`` with each typed PRNG key array (``jax.random.key``, e.g. the state of
    :func:`gradtx.add_noise`) replaced by its ``uint32`` key data, which msgpack and
    NumPy can hold."""
    if not any(_is_key(x) for x in jax.tree.leaves(tree)):
        return tree
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _data_to_keys(restored: Any, template: Any) -> Any:
    """Wraps the key data in ``restored`` back into keys of the template's PRNG impl."""
    if not any(_is_key(x) for x in jax.tree.leaves(template)):
        return restored

    def wrap(path: Any, r: Any, t: Any) -> Any:
        if not _is_key(t):
            return r
        want = jax.random.key_data(t)
        if getattr(r, "shape", None) != want.shape or r.dtype != want.dtype:
            raise ValueError(
                f"cannot restore the PRNG key at {jax.tree_util.keystr(path)}: the template "
                f"holds a {jax.random.key_impl(t)} key (key data {want.dtype}{list(want.shape)}), "
                f"the checkpoint {getattr(r, 'dtype', type(r))}{list(getattr(r, 'shape', ()))}"
            )
        return jax.random.wrap_key_data(jax.numpy.asarray(r), impl=jax.random.key_impl(t))

    return jax.tree_util.tree_map_with_path(wrap, restored, template)


def _check_addressable(tree: Any, what: str) -> None:
    """msgpack and flax state dicts hold whole arrays, which a process can read only
    when it holds every shard (or a full replica): an array split over several
    processes raises here, naming the leaf."""
    for path, x in jax.tree_util.tree_leaves_with_path(tree):
        if isinstance(x, jax.Array) and not (x.is_fully_addressable or x.is_fully_replicated):
            raise ValueError(
                f"{what} needs whole arrays, but the leaf {jax.tree_util.keystr(path)} "
                f"(shape {x.shape}) is sharded over devices of several processes "
                f"(jax.process_count() = {jax.process_count()}), so this process holds "
                "only its shards. Save a multi-process state with orbax (each process "
                "writes its own shards, restore into abstract_state(tx, params)); see "
                "docs/sharding.md"
            )


def abstract_state(tx: Any, params: Any, param_shardings: Any | None = None) -> Any:
    """The restore target of ``tx.init(params)`` for a sharded checkpoint (orbax): a
    tree of ``jax.ShapeDtypeStruct`` with the state's shapes and dtypes and, as
    ``sharding``, :func:`gradtx.state_shardings` (each per-parameter leaf sharded like
    its parameter, scalars replicated on the params' mesh). Nothing is allocated.

    Restoring into it gives every process exactly its shards, as global arrays on the
    mesh that the training step expects. A target made from an eager ``tx.init`` with
    ``ocp.utils.to_shape_dtype_struct`` instead places the scalar leaves (the counts,
    a schedule's numbers) on one local device of each process, which a multi-process
    step rejects ("incompatible devices"). Schedules and ``inject_hyperparams`` states
    are part of the tree (their numbers as arrays, as a jitted ``init`` gives them).

    Args:
        tx: the optimiser (any ``GradientTransformation``).
        params: the parameters, or ``jax.ShapeDtypeStruct`` s with a ``sharding``.
        param_shardings: optional, as for :func:`gradtx.state_shardings`.

    Returns:
        The tree of ``jax.ShapeDtypeStruct`` with the structure of ``tx.init(params)``.

    Raises:
        TypeError, ValueError: as :func:`gradtx.state_shardings`.

    Example:
        With orbax: ``target = {"params": abstract_params, "opt_state":
        abstract_state(tx, abstract_params)}``, then
        ``ocp.StandardCheckpointer().restore(path, target)`` (docs/sharding.md).

        >>> import gradtx, jax, jax.numpy as jnp, numpy as np
        >>> from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        >>> from gradtx import checkpoint
        >>> mesh = Mesh(np.array(jax.devices()[:1]), ("d",))
        >>> w = jax.ShapeDtypeStruct((4, 2), jnp.float32, sharding=NamedSharding(mesh, P("d")))
        >>> target = checkpoint.abstract_state(gradtx.adam(0.1), {"w": w})
        >>> mu, count = target[0].mu["w"], target[0].count
        >>> mu.shape, tuple(mu.sharding.spec), tuple(count.sharding.spec)  # like w; replicated
        ((4, 2), ('d',), ())
    """
    from gradtx.training.sharding import state_shardings

    shapes = jax.eval_shape(tx.init, params)
    shardings = state_shardings(tx, params, param_shardings)
    return jax.tree.map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), shapes, shardings
    )


def to_state_dict(tree: Any) -> Any:
    """``flax.serialization.to_state_dict`` after :func:`register_serialization`: nested
    dicts of arrays, ready for any checkpointing library. A typed PRNG key array is
    stored as its ``uint32`` key data (``jax.random.key_data``). A tree sharded over
    several processes raises ``ValueError`` (use orbax, see :func:`abstract_state`)."""
    _check_addressable(tree, "to_state_dict")
    register_serialization(tree)
    return serialization.to_state_dict(_keys_to_data(tree))


def from_state_dict(template: Any, state: Any) -> Any:
    """Restores ``state`` (from :func:`to_state_dict`) into the structure of ``template``
    (for an optimiser, a fresh ``opt.init(params)``). Leaves come back as saved; where
    the template holds a typed PRNG key, the saved key data is wrapped back into a key
    of the template's implementation."""
    register_serialization(template)
    data_template = _keys_to_data(template)
    _check_no_extra_entries(serialization.to_state_dict(data_template), state)
    restored = serialization.from_state_dict(data_template, state)
    _check_same_structure(restored, data_template)
    return _data_to_keys(restored, template)


def _dict_paths(tree: Any, prefix: str = "") -> set[str]:
    if not isinstance(tree, dict):
        return {prefix}
    out: set[str] = set()  # an empty dict has no entries
    for key, value in tree.items():
        out |= _dict_paths(value, f"{prefix}/{key}")
    return out


def _check_no_extra_entries(template_dict: Any, state: Any) -> None:
    """flax ignores saved entries the template lacks (a schedule saved in
    ``hyperparams_states`` restored into an optimiser with a number learning rate would
    be dropped silently): raise instead, naming them."""
    want, got = _dict_paths(template_dict), _dict_paths(state)
    extra = sorted(p for p in got - want if not any(p.startswith(w + "/") for w in want))
    if extra:
        raise ValueError(
            "the checkpoint does not match the template's structure (was it saved from a "
            f"different optimiser?); saved entries the template lacks: {extra[:6]}"
        )


def to_bytes(tree: Any) -> bytes:
    """The msgpack bytes of ``tree`` (``flax.serialization.to_bytes``), schedules
    included. A tree sharded over several processes raises ``ValueError`` (use orbax,
    see :func:`abstract_state`)."""
    _check_addressable(tree, "to_bytes")
    register_serialization(tree)
    return serialization.to_bytes(_keys_to_data(tree))


def from_bytes(template: Any, data: bytes) -> Any:
    """Restores msgpack ``data`` (from :func:`to_bytes`) into the structure of
    ``template``; the leaves come back as NumPy arrays with the saved dtypes, which a
    jitted step accepts without recompiling."""
    return from_state_dict(template, serialization.msgpack_restore(data))


def _check_same_structure(restored: Any, template: Any) -> None:
    """flax returns the saved value as is where the template has a leaf (for example a
    schedule saved where the template holds a number): raise instead."""
    if jax.tree.structure(restored) == jax.tree.structure(template):
        return
    got = {jax.tree_util.keystr(k) for k, _ in jax.tree_util.tree_leaves_with_path(restored)}
    want = {jax.tree_util.keystr(k) for k, _ in jax.tree_util.tree_leaves_with_path(template)}
    diff = sorted(got ^ want)
    raise ValueError(
        "the checkpoint does not match the template's structure (was it saved from a "
        f"different optimiser?); leaves that differ: {diff[:6]}"
    )


def _register_schedule_classes() -> None:
    from gradtx.schedules import Schedule

    pending = [Schedule]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls is not Schedule:
            _register_type(cls)


try:
    _register_schedule_classes()
except ImportError:  # gradtx.schedules without a Schedule base: the walk registers them
    pass

# gradtx's own state classes that are pytree classes rather than NamedTuples, so that
# plain flax.serialization works on their states after `import gradtx.checkpoint`.
try:
    from gradtx.training.packing import PackedState, PackedTree

    _register_type(PackedState)
    _register_type(PackedTree)
except ImportError:  # pragma: no cover - the walk in the wrappers registers them
    pass

# optax's (and gradtx's) named_chain state is an OrderedDict, which flax does not know:
# saved as a plain dict of its entries, restored in the template's order.
import collections  # noqa: E402


def _ordered_to_state_dict(d: collections.OrderedDict) -> dict[str, Any]:
    return {str(k): serialization.to_state_dict(v) for k, v in d.items()}


def _ordered_from_state_dict(target: collections.OrderedDict, state: dict) -> Any:
    missing = [k for k in target if str(k) not in state]
    if missing:
        raise ValueError(f"the checkpoint lacks the named_chain entries {missing}")
    return collections.OrderedDict(
        (k, serialization.from_state_dict(v, state[str(k)], name=str(k)))
        for k, v in target.items()
    )


if not serialization.is_serializable(collections.OrderedDict):
    serialization.register_serialization_state(
        collections.OrderedDict, _ordered_to_state_dict, _ordered_from_state_dict
    )
