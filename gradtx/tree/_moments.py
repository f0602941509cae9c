"""Moment math on pytrees (optax 0.2.8's ``tree_update_moment``,
``tree_update_infinity_moment``, ``tree_update_moment_per_elem_norm``,
``tree_bias_correction``), with the same names, signatures and numbers (source:
``optax/tree_utils/_tree_math.py``). It reuses :mod:`gradtx.tree._core` (computed in at
least float32, then returned in the dtype optax returns); the per-element-norm moment uses
:math:`|x|^2 = \\Re(x)^2 + \\Im(x)^2` for complex leaves.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.tree import _core as _tree


def _moment_like(g: Any, t: Any, decay: Any, order: Any) -> jax.Array:
    if isinstance(order, int | float):
        out = _tree.ema(g, t, decay, order)
    else:  # a traced order (optax accepts one): the same formula without the shortcut
        dt = _tree.compute_dtype(g, t)
        out = (1 - decay) * g.astype(dt) ** order + decay * t.astype(dt)
    return out.astype(jnp.result_type(g, t))


def tree_update_moment(updates: Any, moments: Any, decay: Any, order: Any) -> Any:
    r"""The exponential moving average of the ``order``-th power:
    :math:`m \leftarrow (1 - \beta)\,g^{o} + \beta\,m` (``None`` updates stay ``None``).

    Computed in at least float32 (gradtx's ``_tree.ema``), returned in the dtype of
    :math:`g` and :math:`m` promoted (optax's dtype).

    Args:
      updates: the tree :math:`g`.
      moments: the tree :math:`m`, same structure.
      decay: :math:`\beta`.
      order: :math:`o` (1 for the first moment, 2 for the second).

    Returns:
      The new moments.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> m = gradtx.tree.tree_update_moment([jnp.ones(1)], [jnp.zeros(1)], 0.9, 2)
      >>> round(float(m[0][0]), 6)
      0.1
    """
    return jax.tree.map(
        lambda g, t: None if g is None else _moment_like(g, t, decay, order),
        updates,
        moments,
        is_leaf=lambda x: x is None,
    )


def tree_update_infinity_moment(updates: Any, moments: Any, decay: Any, eps: Any) -> Any:
    r"""The infinity-norm moment of Adamax: :math:`u \leftarrow \max(|g| + \epsilon,
    \beta u)` (``None`` updates stay ``None``).

    Args:
      updates: the tree :math:`g`.
      moments: the tree :math:`u`.
      decay: :math:`\beta`.
      eps: :math:`\epsilon`.

    Returns:
      The new moments.

    Source: Kingma & Ba, "Adam" (2015), sec. 7.1.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> u = gradtx.tree.tree_update_infinity_moment([jnp.ones(1)], [jnp.full(1, 2.0)],
      ...                                             0.9, 0.0)
      >>> round(float(u[0][0]), 6)
      1.8
    """
    return jax.tree.map(
        lambda g, t: None if g is None else jnp.maximum(jnp.abs(g) + eps, decay * t),
        updates,
        moments,
        is_leaf=lambda x: x is None,
    )


def tree_update_moment_per_elem_norm(updates: Any, moments: Any, decay: Any, order: Any) -> Any:
    r"""The moving average of :math:`|g|^{o}`: :math:`m \leftarrow (1 - \beta)\,|g|^{o} +
    \beta m`, with :math:`|g|^2 = \Re(g)^2 + \Im(g)^2` for complex leaves (real leaves
    use :math:`g^{o}`, as optax).

    Args:
      updates: the tree :math:`g`.
      moments: the tree :math:`m`.
      decay: :math:`\beta`.
      order: :math:`o`.

    Returns:
      The new moments (real for complex updates).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> m = gradtx.tree.tree_update_moment_per_elem_norm(
      ...     [jnp.array([1j])], [jnp.zeros(1)], 0.5, 2)
      >>> float(m[0][0])
      0.5
    """

    def norm_power(g):
        if jnp.isrealobj(g):
            return g**order
        half = order / 2
        if isinstance(half, float) and half.is_integer():  # a traced order stays traced
            half = int(half)
        return _tree.abs_sq(g) ** half

    return jax.tree.map(
        lambda g, t: None if g is None else (1 - decay) * norm_power(g) + decay * t,
        updates,
        moments,
        is_leaf=lambda x: x is None,
    )


def tree_bias_correction(moment: Any, decay: Any, count: Any) -> Any:
    r"""Adam's bias correction :math:`\hat m = m / (1 - \beta^{t})` leaf by leaf.

    :math:`1 - \beta^t` is computed in float32 (``gradtx.tree._core.bias_correction``; in
    bfloat16 :math:`\beta^t` rounds to 1 early) and cast to each leaf's dtype.

    Args:
      moment: the tree :math:`m`.
      decay: :math:`\beta`.
      count: :math:`t`, the (integer) step count, ``>= 1``.

    Returns:
      The corrected tree.

    Source: Kingma & Ba, "Adam" (2015), Algorithm 1.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> m = gradtx.tree.tree_bias_correction([jnp.full(1, 0.1)], 0.9, jnp.asarray(1))
      >>> round(float(m[0][0]), 6)
      1.0
    """
    correction = _tree.bias_correction(decay, jnp.asarray(count))
    return jax.tree.map(lambda t: t / correction.astype(t.dtype), moment)
