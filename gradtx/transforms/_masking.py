"""Masking: apply a transformation to some parameters only (optax's ``masked``), and
``tree_map_params`` (map a function over the parameter-shaped parts of a state)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from gradtx.base import (
    GradientTransformationExtraArgs,
    OptState,
    Params,
    PyTree,
    _with_extra_args,
)

MaskOrFn = Any | Callable[[Params], Any]  # a tree of booleans, or params -> one (optax's)


class MaskedState(NamedTuple):
    """State of :func:`masked` (optax's fields)."""

    inner_state: Any  # the inner state, built on the params with masked leaves removed


class MaskedNode(NamedTuple):
    """Stands in for a masked-out leaf or subtree: a node without children, so
    ``jax.tree.map`` skips it (and the inner transformation stores no state for it)."""


@jax.tree_util.register_pytree_node_class
class _ParamsPlaceholder:
    """A childless tree node passed to ``init`` by :func:`tree_map_params` to find the
    parameter-shaped parts of a state (the same trick as optax's)."""

    def tree_flatten(self):
        return (), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        del aux, children
        return cls()


def _is_placeholder(x: Any) -> bool:
    # gradtx's placeholder, or optax's (so optax.tree_map_params sees through gradtx.masked).
    return type(x).__name__ == "_ParamsPlaceholder"


def _is_mask_fn(mask: Any) -> bool:
    callable_leaves = jax.tree.leaves(jax.tree.map(callable, mask))
    return len(callable_leaves) > 0 and all(callable_leaves)


def _as_bool(m: Any, name: str) -> bool:
    if isinstance(m, (bool, np.bool_)):
        return bool(m)
    if isinstance(m, jax.core.Tracer):
        raise TypeError(
            f"{name} must be static (Python or NumPy booleans), got a traced value {m!r}; "
            "build the mask outside jit"
        )
    arr = np.asarray(m)
    if arr.shape != () or arr.dtype != np.bool_:
        raise TypeError(f"{name} leaves must be booleans, got {m!r}")
    return bool(arr)


def _mask_tree(tree: Any, mask_tree: Any, name: str = "mask") -> Any:
    """``tree`` with every subtree under a ``False`` mask leaf replaced by ``MaskedNode()``."""
    try:
        return jax.tree.map(lambda m, p: p if _as_bool(m, name) else MaskedNode(), mask_tree, tree)
    except ValueError as e:
        raise ValueError(
            f"{name} must have the structure of the params (or a prefix of it): {e}"
        ) from None


def masked(
    inner: Any,
    mask: MaskOrFn,
    *,
    mask_compatible_extra_args: bool = False,
) -> GradientTransformationExtraArgs:
    r"""Applies ``inner`` to the leaves where ``mask`` is ``True``; the rest pass through.

    .. math::
        u_t^i = \begin{cases} \mathrm{inner}(g_t)^i & m^i = \text{True} \\
        g_t^i & m^i = \text{False} \end{cases}

    ``inner`` sees (and keeps state for) only the masked-in leaves: masked-out leaves
    are replaced by :class:`MaskedNode` in its ``init`` and ``update`` inputs, so a
    global norm inside ``inner`` covers the masked-in leaves only. Same semantics and
    state tree as ``optax.masked``.

    Args:
      inner: the transformation to apply (gradtx or optax).
      mask: a tree of Python/NumPy booleans with the structure of the params (or a
        prefix of it: one boolean for a whole subtree), or a function
        ``mask(params) -> such a tree`` (called on ``params`` in ``init`` and on the
        updates in ``update``). Must be static (not traced).
      mask_compatible_extra_args: also mask the ``extra_args`` whose tree structure
        equals the updates' (default ``False``, as optax).

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs`; state :class:`MaskedState`.

    Raises:
      TypeError: if ``inner`` is not a transformation, or a mask leaf is not a boolean.
      ValueError: if the mask tree is not a prefix of the params tree.

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}
      >>> tx = gradtx.masked(gradtx.add_decayed_weights(0.1), {"w": True, "b": False})
      >>> grads = {"w": jnp.zeros((2, 2)), "b": jnp.zeros(2)}
      >>> updates, state = tx.update(grads, tx.init(params), params)
      >>> updates["w"]
      Array([[0.1, 0.1],
             [0.1, 0.1]], dtype=float32)
      >>> updates["b"]
      Array([0., 0.], dtype=float32)

    Source: ``optax.masked`` (optax 0.2.8, ``optax/transforms/_masking.py``).
    """
    inner = _with_extra_args(inner, "masked: inner")
    if not isinstance(mask_compatible_extra_args, (bool, np.bool_)):
        raise TypeError(
            f"mask_compatible_extra_args must be a bool, got {mask_compatible_extra_args!r}"
        )
    mask_is_fn = _is_mask_fn(mask)
    if not mask_is_fn:
        for leaf in jax.tree.leaves(mask):
            _as_bool(leaf, "mask")

    def mask_for(tree):
        return mask(tree) if mask_is_fn else mask

    def init_fn(params):
        if _is_placeholder(params):
            return MaskedState(inner_state=inner.init(params))
        return MaskedState(inner_state=inner.init(_mask_tree(params, mask_for(params))))

    def update_fn(updates, state, params=None, **extra_args):
        mask_tree = mask_for(updates)
        if mask_compatible_extra_args:
            structure = jax.tree.structure(updates)
            extra_args = {
                k: _mask_tree(v, mask_tree) if jax.tree.structure(v) == structure else v
                for k, v in extra_args.items()
            }
        masked_updates = _mask_tree(updates, mask_tree)
        masked_params = None if params is None else _mask_tree(params, mask_tree)
        new_masked, new_inner = inner.update(
            masked_updates, state.inner_state, masked_params, **extra_args
        )
        new_updates = jax.tree.map(
            lambda m, new, old: new if _as_bool(m, "mask") else old,
            mask_tree,
            new_masked,
            updates,
        )
        return new_updates, MaskedState(inner_state=new_inner)

    return GradientTransformationExtraArgs(init_fn, update_fn)


def tree_map_params(
    initable: Any,
    f: Callable[..., Any],
    state: OptState,
    /,
    *rest: Any,
    transform_non_params: Callable[..., Any] | None = None,
    is_leaf: Callable[[PyTree], bool] | None = None,
) -> OptState:
    """Maps ``f`` over every parameter-shaped tree inside an optimiser state.

    ``initable.init`` (or ``initable(...)``) is called on a placeholder to find which
    parts of ``state`` are trees like the params (moments, accumulators, ...); ``f`` is
    mapped over those leaves (with the matching leaves of each tree in ``rest``) and
    ``transform_non_params`` (if given) is applied to every other leaf (counts, ...).
    Use it to build sharding specs of a state from the params' specs.

    Args:
      initable: a transformation, or its ``init`` function.
      f: ``f(state_leaf, *rest_leaves)``.
      state: the state to map over (from ``initable.init``).
      *rest: trees with the structure of the params, passed to ``f`` leaf by leaf.
      transform_non_params: applied to each leaf that is not parameter-shaped.
      is_leaf: passed to ``jax.tree.map`` (e.g. ``lambda x: isinstance(x,
        gradtx.MaskedNode)`` when ``rest`` must line up with a masked state).

    Returns:
      ``state`` with ``f`` applied to its parameter-shaped parts (as
      ``optax.tree_map_params``).

    Raises:
      TypeError: if ``initable`` is neither a transformation nor callable.

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> opt = gradtx.adam(0.1)
      >>> state = opt.init({"w": jnp.zeros(3)})
      >>> specs = gradtx.tree_map_params(opt, lambda x: "shard", state,
      ...                                transform_non_params=lambda x: "replicate")
      >>> specs[0].mu, specs[0].count
      ({'w': 'shard'}, 'replicate')

    Source: ``optax.tree_map_params`` (optax 0.2.8, ``optax/tree_utils/_state_utils.py``).
    """
    init = getattr(initable, "init", initable)
    if not callable(init):
        raise TypeError(
            f"tree_map_params: initable must be a transformation or an init function, "
            f"got {type(initable).__name__}"
        )
    with_placeholders = init(_ParamsPlaceholder())

    def map_params(maybe_placeholder, value):
        if isinstance(maybe_placeholder, _ParamsPlaceholder):
            return jax.tree.map(f, value, *rest, is_leaf=is_leaf)
        if transform_non_params is not None:
            return transform_non_params(value)
        return value

    return jax.tree.map(
        map_params,
        with_placeholders,
        state,
        is_leaf=lambda v: isinstance(v, _ParamsPlaceholder),
    )
