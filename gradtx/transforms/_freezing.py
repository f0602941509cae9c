"""Freezing: zero updates for some parameters (optax's ``set_to_zero``, ``freeze``,
``selective_transform``)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.base import GradientTransformationExtraArgs, init_empty_state
from gradtx.transforms._combining import partition
from gradtx.transforms._masking import _as_bool, masked


def set_to_zero() -> GradientTransformationExtraArgs:
    r"""Maps every update to zero: ``u_t = 0`` (the parameters stay as they are).

    Use it inside :func:`gradtx.partition` or :func:`gradtx.masked` to freeze a part of
    the parameter tree. Stateless (``EmptyState()``), as ``optax.set_to_zero``.

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs`.

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> tx = gradtx.set_to_zero()
      >>> tx.update({"w": jnp.ones(2)}, tx.init({"w": jnp.ones(2)}))[0]["w"]
      Array([0., 0.], dtype=float32)
    """

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree.map(jnp.zeros_like, updates), state

    return GradientTransformationExtraArgs(init_empty_state, update_fn)


def freeze(mask: bool | Any) -> GradientTransformationExtraArgs:
    r"""Zeroes the updates of the parameters where ``mask`` is ``True`` (frozen):

    .. math::
        u_t^i = \begin{cases} 0 & m^i = \text{True (frozen)} \\
        g_t^i & m^i = \text{False} \end{cases}

    ``masked(set_to_zero(), mask)``, as ``optax.freeze`` (same state tree).

    Args:
      mask: one static boolean (freeze everything or nothing) or a tree of booleans
        with the structure of the params (or a prefix of it); ``True`` freezes.

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs`; state :class:`MaskedState`.

    Raises:
      TypeError: if a mask leaf is not a boolean.

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> params = {"a": jnp.ones(1), "b": jnp.ones(2)}
      >>> tx = gradtx.chain(gradtx.sgd(0.1), gradtx.freeze({"a": True, "b": False}))
      >>> updates, _ = tx.update(params, tx.init(params), params)
      >>> updates["a"].tolist(), updates["b"].tolist()
      ([0.0], [-0.10000000149011612, -0.10000000149011612])
    """
    return masked(set_to_zero(), mask)


def selective_transform(
    optimizer: Any, *, freeze_mask: bool | Any
) -> GradientTransformationExtraArgs:
    r"""Runs ``optimizer`` on the parameters where ``freeze_mask`` is ``False`` and zeroes
    the updates of the others (frozen parameters get no optimiser state).

    .. math::
        u_t^i = \begin{cases} 0 & m^i = \text{True (frozen)} \\
        \mathrm{optimizer}(g_t)^i & m^i = \text{False} \end{cases}

    ``partition({"train": optimizer, "freeze": set_to_zero()}, labels)``, as
    ``optax.selective_transform`` (same state tree).

    Args:
      optimizer: the transformation for the trained parameters.
      freeze_mask: keyword-only; one static boolean or a tree of booleans with the
        structure of the params (or a prefix of it); ``True`` freezes.

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs`; state :class:`PartitionState`.

    Raises:
      TypeError: if a ``freeze_mask`` leaf is not a boolean.

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> params = {"a": jnp.ones(1), "b": jnp.ones(2)}
      >>> tx = gradtx.selective_transform(gradtx.sgd(0.1), freeze_mask={"a": True, "b": False})
      >>> updates, _ = tx.update(params, tx.init(params), params)
      >>> updates["a"].tolist(), updates["b"].tolist()
      ([0.0], [-0.10000000149011612, -0.10000000149011612])
    """
    for leaf in jax.tree.leaves(freeze_mask):
        _as_bool(leaf, "freeze_mask")

    def label_fn(params):
        del params
        return jax.tree.map(
            lambda m: "freeze" if _as_bool(m, "freeze_mask") else "train", freeze_mask
        )

    return partition({"train": optimizer, "freeze": set_to_zero()}, param_labels=label_fn)
