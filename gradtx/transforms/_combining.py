"""Combining transformations: per-group transformations (optax's ``partition``, alias
``multi_transform``) and a chain with named states (``named_chain``)."""

from __future__ import annotations

import collections
from collections.abc import Callable, Hashable, Mapping
from typing import Any, NamedTuple

import jax

from gradtx.base import GradientTransformationExtraArgs, OptState, _with_extra_args
from gradtx.transforms._masking import masked


class PartitionState(NamedTuple):
    """State of :func:`partition` (optax's fields)."""

    inner_states: Mapping[Hashable, OptState]  # label -> MaskedState of that group's transform


MultiTransformState = PartitionState  # optax's older name


def _labels_tree(param_labels: Any, tree: Any, transforms: Mapping) -> Any:
    labels = param_labels(tree) if callable(param_labels) else param_labels
    label_set = set(jax.tree.leaves(labels))
    unknown = label_set - set(transforms.keys())
    if unknown:
        raise ValueError(
            "param_labels: some parameters have a label with no transformation: "
            f"{sorted(map(repr, unknown))}; transforms has the keys "
            f"{sorted(map(repr, transforms.keys()))}"
        )
    return labels


def partition(
    transforms: Mapping[Hashable, Any],
    param_labels: Any | Callable[[Any], Any],
    *,
    mask_compatible_extra_args: bool = False,
) -> GradientTransformationExtraArgs:
    r"""Applies a different transformation to each group of parameters (torch's param
    groups): each leaf's label picks the transformation that updates it.

    .. math::
        u_t^i = T_{\ell(i)}(g_t)^i, \qquad \ell(i) = \text{the label of leaf } i

    Each ``T_k`` runs as ``masked(T_k, labels == k)``: it sees, and keeps state for, its
    own group only. Same semantics and state tree as ``optax.partition`` (and
    ``optax.multi_transform``).

    Args:
      transforms: a mapping ``label -> transformation``.
      param_labels: a tree of labels with the structure of the params (or a prefix
        of it), or a function ``param_labels(params) -> such a tree`` (called on the
        params in ``init`` and on the updates in ``update``). Every label must be a
        key of ``transforms``.
      mask_compatible_extra_args: also mask the ``extra_args`` whose tree structure
        equals the updates' (default ``False``, as optax).

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs`; state :class:`PartitionState`
      with one :class:`MaskedState` per label.

    Raises:
      TypeError: if ``transforms`` is not a mapping of transformations.
      ValueError: if a label has no transformation (at ``init``/``update``).

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> params = {"w": jnp.ones(2), "b": jnp.ones(2)}
      >>> tx = gradtx.partition({"w": gradtx.sgd(0.1), "b": gradtx.sgd(1.0)},
      ...                       {"w": "w", "b": "b"})
      >>> updates, state = tx.update(params, tx.init(params), params)
      >>> updates["w"][0].item(), updates["b"][0].item()
      (-0.10000000149011612, -1.0)

    Source: ``optax.partition`` (optax 0.2.8, ``optax/transforms/_combining.py``).
    """
    if not isinstance(transforms, Mapping):
        raise TypeError(
            f"transforms must be a mapping from labels to transformations, "
            f"got {type(transforms).__name__}"
        )
    transforms = {k: _with_extra_args(v, f"transforms[{k!r}]") for k, v in transforms.items()}

    def group_tx(labels, group):
        mask = jax.tree.map(lambda label: label == group, labels)
        return masked(
            transforms[group], mask, mask_compatible_extra_args=mask_compatible_extra_args
        )

    def init_fn(params):
        labels = _labels_tree(param_labels, params, transforms)
        return PartitionState({group: group_tx(labels, group).init(params) for group in transforms})

    def update_fn(updates, state, params=None, **extra_args):
        labels = _labels_tree(param_labels, updates, transforms)
        new_states = {}
        for group in transforms:
            updates, new_states[group] = group_tx(labels, group).update(
                updates, state.inner_states[group], params, **extra_args
            )
        return updates, PartitionState(new_states)

    return GradientTransformationExtraArgs(init_fn, update_fn)


multi_transform = partition  # optax's older name


def named_chain(*args: tuple[str, Any]) -> GradientTransformationExtraArgs:
    r"""Like :func:`gradtx.chain`, with a name for each link: ``u = T_n(...T_1(g))`` and
    the state is a dict ``name -> state`` (``state["adam"]``), as ``optax.named_chain``.

    Args:
      *args: ``(name, transformation)`` pairs; names are unique strings.

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs`; its state is an
      ``OrderedDict`` in argument order.

    Raises:
      TypeError: if an argument is not a ``(str, transformation)`` pair.
      ValueError: if two names are equal.

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> tx = gradtx.named_chain(("clip", gradtx.clip_by_global_norm(1.0)),
      ...                         ("sgd", gradtx.sgd(0.1)))
      >>> state = tx.init({"w": jnp.ones(2)})
      >>> list(state.keys())
      ['clip', 'sgd']
    """
    for i, arg in enumerate(args):
        if not (isinstance(arg, tuple) and len(arg) == 2 and isinstance(arg[0], str)):
            raise TypeError(
                f"named_chain: argument {i} must be a (name, transformation) pair with a "
                f"str name, got {arg!r}"
            )
    names = [name for name, _ in args]
    if len(names) != len(set(names)):
        raise ValueError(f"named_chain: names must be unique, got {names}")
    links = [(name, _with_extra_args(tx, f"named_chain[{name!r}]")) for name, tx in args]

    def init_fn(params):
        return collections.OrderedDict((name, tx.init(params)) for name, tx in links)

    def update_fn(updates, state, params=None, **extra_args):
        new_state = collections.OrderedDict()
        for name, tx in links:
            updates, new_state[name] = tx.update(updates, state[name], params, **extra_args)
        return updates, new_state

    return GradientTransformationExtraArgs(init_fn, update_fn)
