"""Small optax transforms and helpers: ``centralize``, ``keep_params_nonnegative``,
``scale_gradient`` (optax 0.2.8; sources ``optax/_src/transform.py``,
``optax/transforms/_constraining.py``, ``optax/_src/utils.py``). Same signatures, numbers
and states as optax."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import EmptyState, GradientTransformation
from gradtx.tree._core import check_same_tree, check_updates, map_outputs

NonNegativeParamsState = EmptyState


def _empty(params: Any) -> EmptyState:
    del params
    return EmptyState()


def centralize() -> GradientTransformation:
    r"""Gradient centralization: each leaf with more than one dimension loses its mean
    over all axes but the first, :math:`u = g - \mathrm{mean}_{1..}(g)`; vectors and
    scalars are unchanged.

    Returns:
      A stateless transformation.

    Source: Yong et al., "Gradient Centralization" (ECCV 2020).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.centralize()
      >>> u, _ = tx.update({"w": jnp.array([[1.0, 2.0, 3.0]])}, tx.init(None))
      >>> u["w"].tolist()
      [[-1.0, 0.0, 1.0]]
    """

    def one(g):
        if g.ndim > 1:
            return g - g.mean(tuple(range(1, g.ndim)), keepdims=True)
        return g

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates)
        return jax.tree.map(one, updates), state

    return GradientTransformation(_empty, update_fn)


def keep_params_nonnegative() -> GradientTransformation:
    r"""Keeps the parameters non-negative after the update: where :math:`p + u < 0` the
    update becomes :math:`-p` (the parameter lands on 0); elsewhere it is unchanged.

    Returns:
      A transformation with state ``EmptyState()``; ``update`` needs ``params`` (chain
      it last, after the learning rate).

    Raises:
      ValueError: ``update`` without params, or params and updates of different trees.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.keep_params_nonnegative()
      >>> p = {"w": jnp.array([1.0, 1.0])}
      >>> u, _ = tx.update({"w": jnp.array([-2.0, 0.5])}, tx.init(p), p)
      >>> u["w"].tolist()
      [-1.0, 0.5]
    """

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError(
                "keep_params_nonnegative: update needs params (update(u, state, params))"
            )
        check_same_tree(updates, params, against="params")
        # each real coordinate (both parts of a complex entry) is kept >= 0
        new = map_outputs(lambda u, p: (jnp.where((p + u) < 0.0, -p, u),), updates, params)
        return (new[0] if new else updates), state

    return GradientTransformation(_empty, update_fn)


@jax.custom_vjp
def _scaled(inputs: Any, scale: Any) -> Any:
    del scale
    return inputs


def _scaled_fwd(inputs, scale):
    return inputs, scale


def _scaled_bwd(scale, g):
    return jax.tree.map(lambda x: x * scale, g), None


_scaled.defvjp(_scaled_fwd, _scaled_bwd)


def scale_gradient(inputs: Any, scale: Any) -> Any:
    r"""The identity on the forward pass whose gradient is multiplied by ``scale`` on the
    backward pass: :math:`f(x) = x`, :math:`\partial f/\partial x = s`.

    Args:
      inputs: a pytree of arrays.
      scale: :math:`s` (``1.0`` returns ``inputs``; ``0.0`` is ``stop_gradient``).

    Returns:
      ``inputs`` (with the scaled backward pass).

    Raises:
      TypeError: ``scale`` is not a real number.

    Example:
      >>> import jax, jax.numpy as jnp, gradtx
      >>> float(jax.grad(lambda x: gradtx.scale_gradient(x, 0.5) ** 2)(3.0))
      3.0
    """
    _checks.check_number("scale", scale)
    if not isinstance(scale, jax.core.Tracer):
        if scale == 1.0:
            return inputs
        if scale == 0.0:
            return jax.lax.stop_gradient(inputs)
    return _scaled(inputs, scale)
