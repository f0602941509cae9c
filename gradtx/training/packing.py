"""Packed (flat) parameter trees: many leaves of one dtype stored as one contiguous buffer.

An optimiser step is elementwise, so its cost on a tree of many small leaves is per-leaf
kernel overhead, not arithmetic: on CPU, Adam on 2000 leaves of 1000 parameters costs far
more than on one vector of 2M parameters, and compiling it takes seconds per hundred
leaves. Packing the leaves that share a dtype (and placement) into one 1-D buffer turns
the step into one kernel per buffer.

Two ways to use it, both plain pytrees and transformations, so they compose with every
gradtx and optax transform:

* :func:`pack` / :class:`PackedTree`: keep the *parameters* packed. A ``PackedTree`` is a
  pytree whose leaves are the flat buffers; ``packed.unpack()`` gives the original tree
  (slices of the buffers, free inside ``jit``). Differentiate with respect to the packed
  tree and the gradient comes out packed too, so the whole step (``init``, ``update``,
  ``apply_updates``) runs on a few buffers::

      pk = gradtx.pack(params)
      opt = gradtx.adam(1e-3)
      state = opt.init(pk)
      grads = jax.grad(lambda pk: loss(pk.unpack(), batch))(pk)  # a PackedTree
      updates, state = opt.update(grads, state, pk)
      pk = gradtx.apply_updates(pk, updates)

* :func:`packed`: wrap a transformation so that its *state* is packed while parameters,
  gradients and updates stay ordinary trees (``tx = gradtx.packed(gradtx.adam(1e-3))``).
  The optimiser math then runs on one buffer per group, but every step pays to gather the
  gradient leaves into the buffer and to scatter the updates back, so this is slower than
  keeping the parameters packed; it is the drop-in option when the parameter tree cannot
  change.

Grouping rule: leaves are grouped by dtype and placement. A leaf that is a committed
``jax.Array`` sharded over more than one device (not fully replicated) is never packed:
it stays a leaf of its own with its sharding, so sharded training is unaffected. Leaves
on one device (or fully replicated, or tracers) are packed with the other leaves of the
same dtype and sharding. The numbers are the same as without packing for every
elementwise transform (all the optimisers); reductions over the whole tree (global norms)
only change summation order. Transforms that take a per-leaf *tree* argument (a weight
decay ``mask`` given as a tree) need a mask of the packed structure; a callable mask sees
the ``PackedTree``.

This is a gradtx extension: optax has no packed mode (``optax.flatten`` packs the state
into a single buffer of one dtype, without dtype or sharding groups, and returns tree
updates like :func:`packed`).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx.base import GradientTransformation, OptState, Params

__all__ = ["PackedState", "PackedTree", "pack", "packed", "unpack"]


class _Slot(NamedTuple):
    group: int  # index of the buffer holding the leaf
    offset: int  # start of the leaf in its buffer; -1 for a loose (unpacked) leaf
    shape: tuple[int, ...]


class _Layout(NamedTuple):
    """Static description of a packing: hashable, so it is pytree aux data."""

    treedef: Any
    slots: tuple[_Slot, ...]
    dtypes: tuple[Any, ...]  # dtype of each buffer
    sizes: tuple[int, ...]  # length of each packed buffer; -1 for a loose leaf

    def pack(self, tree: Any) -> tuple[jax.Array, ...]:
        leaves = self.treedef.flatten_up_to(tree)
        members: list[list[jax.Array]] = [[] for _ in self.dtypes]
        for slot, leaf in zip(self.slots, leaves, strict=True):
            leaf = jnp.asarray(leaf)
            if leaf.shape != slot.shape:
                raise ValueError(
                    f"cannot pack a leaf of shape {leaf.shape} into a slot of shape "
                    f"{slot.shape}: the tree does not match the packed layout"
                )
            members[slot.group].append(leaf if slot.offset < 0 else jnp.ravel(leaf))
        buffers = []
        for group, (dtype, size) in enumerate(zip(self.dtypes, self.sizes, strict=True)):
            parts = members[group]
            if size < 0:
                buffers.append(parts[0])
            elif len(parts) == 1:
                buffers.append(parts[0].astype(dtype))
            else:
                buffers.append(jnp.concatenate([p.astype(dtype) for p in parts]))
        return tuple(buffers)

    def unpack(self, buffers: tuple[Any, ...]) -> Any:
        leaves = []
        for slot in self.slots:
            buf = buffers[slot.group]
            if slot.offset < 0 or buf is None:
                leaves.append(buf)
                continue
            size = int(np.prod(slot.shape, dtype=np.int64))
            if size == self.sizes[slot.group]:
                leaves.append(jnp.reshape(buf, slot.shape))
            else:
                part = jax.lax.slice_in_dim(buf, slot.offset, slot.offset + size)
                leaves.append(jnp.reshape(part, slot.shape))
        return self.treedef.unflatten(leaves)


def _placement(leaf: Any) -> tuple[bool, Hashable]:
    """(packable, key): a leaf sharded over several devices is not packable."""
    if isinstance(leaf, jax.Array) and not isinstance(leaf, jax.core.Tracer):
        sharding = leaf.sharding
        if len(sharding.device_set) > 1 and not sharding.is_fully_replicated:
            return False, None
        return True, sharding
    return True, None


def _layout_of(tree: Any) -> _Layout:
    leaves, treedef = jax.tree.flatten(tree)
    groups: dict[Hashable, int] = {}
    dtypes: list[Any] = []
    sizes: list[int] = []
    slots = []
    for leaf in leaves:
        dtype = jnp.result_type(leaf)
        shape = tuple(np.shape(leaf))
        packable, where = _placement(leaf)
        if not packable:
            slots.append(_Slot(len(dtypes), -1, shape))
            dtypes.append(dtype)
            sizes.append(-1)
            continue
        key = (dtype, where)
        if key not in groups:
            groups[key] = len(dtypes)
            dtypes.append(dtype)
            sizes.append(0)
        group = groups[key]
        slots.append(_Slot(group, sizes[group], shape))
        sizes[group] += int(np.prod(shape, dtype=np.int64))
    return _Layout(treedef, tuple(slots), tuple(dtypes), tuple(sizes))


@jax.tree_util.register_pytree_node_class
class PackedTree:
    """A parameter tree stored as one flat buffer per (dtype, placement) group.

    A pytree whose leaves are the buffers (``.buffers``); the tree structure, leaf shapes
    and offsets are static. Build one with :func:`pack`; ``unpack()`` returns the
    original tree (slices of the buffers). Any transformation, gradtx or optax, applied
    to a ``PackedTree`` sees a few large leaves, and ``jax.grad`` of a function of a
    ``PackedTree`` returns a ``PackedTree``.

    Example::

        pk = gradtx.pack({"w": jnp.ones((3, 2)), "b": jnp.zeros(2)})
        pk.buffers        # (Array of shape (8,),)
        pk.unpack()["w"]  # shape (3, 2)
    """

    __slots__ = ("buffers", "layout")

    def __init__(self, buffers: tuple[Any, ...], layout: _Layout):
        self.buffers = tuple(buffers)
        self.layout = layout

    def unpack(self) -> Any:
        """The original tree: leaf ``i`` is a reshaped slice of its group's buffer."""
        return self.layout.unpack(self.buffers)

    def tree_flatten(self):
        return self.buffers, self.layout

    @classmethod
    def tree_unflatten(cls, layout, buffers):
        obj = object.__new__(cls)
        obj.buffers = tuple(buffers)
        obj.layout = layout
        return obj

    def __repr__(self) -> str:
        bufs = ", ".join(
            f"{jnp.result_type(b).name}[{np.shape(b)}]" if b is not None else "None"
            for b in self.buffers
        )
        return f"PackedTree({len(self.layout.slots)} leaves in {len(self.buffers)} buffers: {bufs})"


def pack(tree: Params) -> PackedTree:
    r"""Packs ``tree``: the leaves sharing a dtype and placement become one 1-D buffer.

    .. math::
        b_k = \mathrm{concat}\bigl(\mathrm{ravel}(x_\ell) : \ell \in
        \text{group } k\bigr)

    in the leaves' flattening order, one buffer ``b_k`` per (dtype, placement) group.
    ``pack(tree).unpack()`` equals ``tree`` (same structure, shapes, dtypes, values).
    Leaves sharded over several devices stay unpacked (see the module docstring).
    Optimise the ``PackedTree`` itself (``init``, ``update`` and ``apply_updates`` on
    it, ``jax.grad`` with respect to it) for a step of one kernel per buffer. A gradtx
    extension: optax has no packed parameters.

    Args:
        tree: a pytree of arrays (any dtypes and shapes; NumPy arrays and scalars too).

    Returns:
        A :class:`PackedTree`: ``.buffers`` a tuple of 1-D arrays (one per group, each
        of the group's dtype and total size), with the tree structure, shapes and
        offsets as static layout.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> pk = gradtx.pack({"b": jnp.zeros(2), "w": jnp.ones((3, 2)),
        ...                   "n": jnp.arange(3)})
        >>> [(b.dtype.name, b.shape) for b in pk.buffers]
        [('float32', (8,)), ('int32', (3,))]
        >>> pk.buffers[0].tolist()  # "b" then "w" (sorted keys), raveled
        [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
        >>> pk.unpack()["w"].shape
        (3, 2)
        >>> opt = gradtx.sgd(0.5)  # any transformation runs on the buffers
        >>> fpk = gradtx.pack({"b": jnp.zeros(2), "w": jnp.ones((3, 2))})
        >>> u, _ = opt.update(gradtx.pack({"b": jnp.ones(2), "w": jnp.ones((3, 2))}),
        ...                   opt.init(fpk))
        >>> gradtx.apply_updates(fpk, u).unpack()["b"].tolist()
        [-0.5, -0.5]
    """
    layout = _layout_of(tree)
    return PackedTree(layout.pack(tree), layout)


def unpack(packed_tree: PackedTree) -> Params:
    r"""The tree that :func:`pack` packed: ``unpack(pack(t)) == t``.

    .. math::
        x_\ell = \mathrm{reshape}\bigl(b_{k(\ell)}[o_\ell : o_\ell +
        |x_\ell|],\ \mathrm{shape}_\ell\bigr)

    with ``k(l)`` the leaf's group and ``o_l`` its offset in that buffer.

    Leaf ``i`` is a reshaped slice of its group's buffer (free inside ``jit``);
    the same as ``packed_tree.unpack()``.

    Args:
        packed_tree: a :class:`PackedTree` (from :func:`pack`, or a gradient or update
            computed from one).

    Returns:
        The pytree of the original structure, with each leaf's shape and its buffer's
        dtype.

    Raises:
        TypeError: ``packed_tree`` is not a :class:`PackedTree`.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tree = {"a": jnp.array([1.0, 2.0]), "b": jnp.array([[3.0]])}
        >>> back = gradtx.unpack(gradtx.pack(tree))
        >>> back["a"].tolist(), back["b"].tolist()
        ([1.0, 2.0], [[3.0]])
    """
    if not isinstance(packed_tree, PackedTree):
        raise TypeError(f"unpack expects a PackedTree, got {type(packed_tree).__name__}")
    return packed_tree.unpack()


@jax.tree_util.register_pytree_node_class
class PackedState:
    """The state of :func:`packed`: the inner transformation's state over packed buffers
    (``inner``) and the static layout fixed by ``init``."""

    __slots__ = ("inner", "layout")

    def __init__(self, inner: OptState, layout: _Layout):
        self.inner = inner
        self.layout = layout

    def tree_flatten(self):
        return (self.inner,), self.layout

    @classmethod
    def tree_unflatten(cls, layout, children):
        return cls(children[0], layout)

    def __repr__(self) -> str:
        return f"PackedState(inner={self.inner!r})"


def packed(tx: GradientTransformation) -> GradientTransformation:
    r"""Runs ``tx`` on packed buffers: ``u = unpack(tx(pack(g)))``.

    .. math::
        (\tilde u_t, S_t) = \mathrm{tx.update}(\mathrm{pack}(g_t), S_{t-1},
        \mathrm{pack}(p_{t-1})), \qquad u_t = \mathrm{unpack}(\tilde u_t)

    The state of ``tx`` holds one buffer per (dtype, placement) group instead of one
    array per leaf; gradients are packed on the way in and the updates unpacked on the
    way out, so the result is an ordinary tree and the numbers equal ``tx``'s (for
    elementwise transforms exactly). The packing layout is fixed by ``init``.

    Performance: packing the parameters themselves with :func:`pack` is much faster,
    as this wrapper gathers the gradients and parameters and scatters the updates on
    every step. Measured (benchmarks/RESULTS.md, 2-core CPU, Adam): on 2000 leaves of
    1000 parameters about 0.5x optax's step time but a longer compile; on a
    ResNet-50-like tree (161 leaves, 25.6M params) about 2.3x optax's time and 100 MB of
    temporaries. Use it for many small leaves when the parameter tree cannot change.

    A gradtx extension; ``optax.flatten`` is the nearest (one buffer of one dtype, no
    dtype or sharding groups).

    Args:
        tx: the inner gradient transformation (gradtx or optax).

    Returns:
        A :class:`gradtx.GradientTransformation` whose state is a
        :class:`PackedState` (``inner``: ``tx``'s state over the packed buffers, and
        the static layout of the params given to ``init``). Its ``update`` takes and
        returns ordinary trees; ``params`` and extra keyword arguments go on to ``tx``
        (packed).

    Raises:
        TypeError: ``tx`` has no callable ``init`` and ``update``; (from ``update``)
            ``state`` is not a :class:`PackedState`.
        ValueError: (from ``update``) the updates tree does not match the tree given
            to ``init``, or a leaf's shape differs from its slot's.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> opt = gradtx.packed(gradtx.sgd(0.1, momentum=0.9))
        >>> params = {"a": jnp.zeros(2), "b": jnp.zeros((1, 2))}
        >>> state = opt.init(params)
        >>> [x.shape for x in jax.tree.leaves(state.inner)]  # one momentum buffer
        [(4,)]
        >>> u, state = opt.update({"a": jnp.ones(2), "b": jnp.ones((1, 2))}, state, params)
        >>> [round(x, 4) for x in u["b"][0].tolist()]  # unpacked, as sgd's
        [-0.1, -0.1]
    """
    _checks.transformation("packed: tx", tx)

    def init_fn(params):
        layout = _layout_of(params)
        return PackedState(tx.init(PackedTree(layout.pack(params), layout)), layout)

    def update_fn(updates, state, params=None, **extra_args):
        if not isinstance(state, PackedState):
            raise TypeError(
                f"packed: state must be the PackedState from this transform's init, got "
                f"{type(state).__name__}"
            )
        layout = state.layout
        if jax.tree.structure(updates) != layout.treedef:
            raise ValueError(
                "packed: the updates tree does not match the tree given to init:\n"
                f"  updates: {jax.tree.structure(updates)}\n  init:    {layout.treedef}"
            )
        g = PackedTree(layout.pack(updates), layout)
        p = None if params is None else PackedTree(layout.pack(params), layout)
        u, inner = tx.update(g, state.inner, p, **extra_args)
        return layout.unpack(u.buffers), PackedState(inner, layout)

    return GradientTransformation(init_fn, update_fn)
