"""Clipping (optax 0.2.8's ``clip``, ``clip_by_block_rms``, ``adaptive_grad_clip``,
``per_example_global_norm_clip``, ``per_example_layer_norm_clip``; source
``optax/transforms/_clipping.py``). Same signatures, numbers and (empty) states as optax.
Complex leaves use :math:`|x|^2 = \\Re(x)^2 + \\Im(x)^2` in every norm."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import EmptyState, GradientTransformation
from gradtx.tree._core import abs_sq, check_updates, compute_dtype, mean_abs_sq
from gradtx.tree._math import tree_norm

ClipState = EmptyState
AdaptiveGradClipState = EmptyState


def _empty(params: Any) -> EmptyState:
    del params
    return EmptyState()


def clip(max_delta: Any) -> GradientTransformation:
    r"""Clips every element to :math:`[-\delta, \delta]`: :math:`u = \mathrm{clip}(g,
    -\delta, \delta)`.

    Args:
      max_delta: :math:`\delta \ge 0` (no default, as optax).

    Returns:
      A stateless transformation (state ``EmptyState()``).

    Raises:
      ValueError: a negative or NaN ``max_delta``. TypeError: not a real number.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.clip(1.0)
      >>> u, _ = tx.update({"w": jnp.array([-3.0, 0.5, 2.0])}, tx.init(None))
      >>> u["w"].tolist()
      [-1.0, 0.5, 1.0]
    """
    _checks.non_negative("max_delta", max_delta)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates)
        return jax.tree.map(lambda g: jnp.clip(g, -max_delta, max_delta), updates), state

    return GradientTransformation(_empty, update_fn)


def clip_by_block_rms(threshold: Any) -> GradientTransformation:
    r"""Clips each leaf (block) to root-mean-square at most :math:`\tau`:
    :math:`u = g / \max(1, \mathrm{rms}(g)/\tau)`, :math:`\mathrm{rms}(g) =
    \sqrt{\mathrm{mean}|g|^2}`.

    Args:
      threshold: :math:`\tau > 0`.

    Returns:
      A stateless transformation.

    Raises:
      ValueError: ``threshold <= 0`` or NaN.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.clip_by_block_rms(1.0)
      >>> u, _ = tx.update({"w": jnp.array([4.0, 0.0])}, tx.init(None))
      >>> [round(x, 4) for x in u["w"].tolist()]
      [1.4142, 0.0]
    """
    _checks.positive("threshold", threshold)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates)

        def one(u):
            denom = jnp.maximum(1.0, jnp.sqrt(mean_abs_sq(u)) / threshold)
            return (u / denom).astype(u.dtype)

        return jax.tree.map(one, updates), state

    return GradientTransformation(_empty, update_fn)


def _unitwise_norm(x: jax.Array, axis: int | tuple[int, ...] | None) -> jax.Array:
    """optax's unit-wise norm: per output unit for linear (IO) and conv (HWIO, DHWIO)
    kernels, whole-array for scalars and vectors, or over ``axis``."""
    if axis is not None:
        sq = jnp.sum(abs_sq(x), axis=axis, keepdims=True)
    elif jnp.squeeze(x).ndim <= 1:
        sq = jnp.sum(abs_sq(x), keepdims=True)
    elif x.ndim in (2, 3):
        sq = jnp.sum(abs_sq(x), axis=0, keepdims=True)
    elif x.ndim in (4, 5):
        sq = jnp.sum(abs_sq(x), axis=tuple(range(x.ndim - 1)), keepdims=True)
    else:
        raise ValueError(
            f"adaptive_grad_clip: a leaf of shape {x.shape} needs axis= (the reduction "
            "axes); without it leaves of 1 to 5 dimensions are supported"
        )
    return jnp.broadcast_to(jnp.sqrt(sq), x.shape)


def adaptive_grad_clip(
    clipping: Any, eps: Any = 1e-3, axis: int | tuple[int, ...] | None = None
) -> GradientTransformation:
    r"""Adaptive gradient clipping (AGC): each unit's gradient is rescaled so that
    :math:`\|g_i\| \le \lambda \max(\|w_i\|, \epsilon)`:

    .. math:: u_i = g_i \quad\text{if } \|g_i\| < \lambda \max(\|w_i\|,\epsilon),
              \text{ else } g_i\,\frac{\lambda \max(\|w_i\|,\epsilon)}{\max(\|g_i\|, 10^{-6})}

    Norms are unit-wise (per output unit of a kernel; see optax).

    Args:
      clipping: :math:`\lambda \ge 0`.
      eps: :math:`\epsilon \ge 0` (default ``1e-3``).
      axis: reduction axes for the unit-wise norm (default ``None``: by shape).

    Returns:
      A stateless transformation; ``update`` needs ``params``.

    Raises:
      ValueError: negative ``clipping``/``eps``; ``update`` without params.

    Source: Brock et al., "High-Performance Large-Scale Image Recognition Without
    Normalization" (2021).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.adaptive_grad_clip(0.1)
      >>> p = {"w": jnp.array([3.0, 4.0])}
      >>> u, _ = tx.update({"w": jnp.array([30.0, 40.0])}, tx.init(p), p)
      >>> [round(x, 4) for x in u["w"].tolist()]
      [0.3, 0.4]
    """
    _checks.non_negative("clipping", clipping)
    _checks.non_negative("eps", eps)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError("adaptive_grad_clip: update needs params (update(g, state, params))")
        check_updates(updates)
        # the norms and the rescaling in at least float32 (a float16 sum of squares
        # overflows for a norm above 256), the update in the gradient's dtype
        def wide(x):
            return jnp.asarray(x).astype(compute_dtype(x))

        g_norm = jax.tree.map(lambda x: _unitwise_norm(wide(x), axis), updates)
        p_norm = jax.tree.map(lambda x: _unitwise_norm(wide(x), axis), params)
        max_norm = jax.tree.map(lambda x: clipping * jnp.maximum(x, eps), p_norm)

        def one(gn, mn, g):
            clipped = wide(g) * (mn / jnp.maximum(gn, 1e-6))
            return jnp.where(gn < mn, wide(g), clipped).astype(g.dtype)

        return jax.tree.map(one, g_norm, max_norm, updates), state

    return GradientTransformation(_empty, update_fn)


def _check_batch(name: str, grads: Any) -> None:
    leaves = jax.tree.leaves(grads)
    if not leaves or any(
        jnp.ndim(g) < 1 or jnp.shape(g)[0] != jnp.shape(leaves[0])[0] for g in leaves
    ):
        raise ValueError(
            f"{name}: grads must have a shared batch dimension in axis 0; got shapes "
            f"{jax.tree.map(jnp.shape, grads)}"
        )


def per_example_global_norm_clip(grads: Any, l2_norm_clip: Any) -> tuple[Any, jax.Array]:
    r"""Clips each example's gradient to global norm :math:`C` and sums over the batch
    (DP-SGD's clipping): :math:`\sum_b g_b \min(1, C/\|g_b\|)`.

    Args:
      grads: a tree whose leaves have a shared leading batch axis.
      l2_norm_clip: :math:`C \ge 0`.

    Returns:
      ``(clipped_sum, num_clipped)``: the summed clipped gradients (no batch axis) and
      the number of examples that were clipped.

    Raises:
      ValueError: leaves without a shared batch axis, or a negative ``l2_norm_clip``.

    Source: Abadi et al., "Deep Learning with Differential Privacy" (2016).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> g = {"w": jnp.array([[3.0, 4.0], [0.3, 0.4]])}
      >>> s, n = gradtx.per_example_global_norm_clip(g, 1.0)
      >>> [round(x, 4) for x in s["w"].tolist()], int(n)
      ([0.9, 1.2], 1)
    """
    _checks.non_negative("l2_norm_clip", l2_norm_clip)
    _check_batch("per_example_global_norm_clip", grads)
    # the norms and the sum in at least float32: a float16 example's sum of squares
    # overflows for a norm above 256 (the norm inf, the multiplier 0, the example dropped)
    wide = jax.tree.map(lambda g: g.astype(compute_dtype(g)), grads)
    norms = jax.vmap(tree_norm)(wide)
    multipliers = jnp.nan_to_num(jnp.minimum(l2_norm_clip / norms, 1.0), nan=1.0)
    num_clipped = jnp.sum(multipliers < 1.0)
    clipped = jax.tree.map(
        lambda g, w: jnp.tensordot(multipliers, w, axes=1).astype(g.dtype), grads, wide
    )
    return clipped, num_clipped


def per_example_layer_norm_clip(
    grads: Any, global_l2_norm_clip: Any, uniform: bool = True
) -> tuple[Any, Any]:
    r"""Per-layer per-example clipping: leaf :math:`\ell` is clipped per example to
    :math:`C_\ell = C/\sqrt{L}` (``uniform=True``) or :math:`C\sqrt{n_\ell/N}` (sizes
    :math:`n_\ell` of :math:`N` parameters), then summed over the batch; so the global
    per-example norm is at most :math:`C`.

    Args:
      grads: a tree whose leaves have a shared leading batch axis.
      global_l2_norm_clip: :math:`C \ge 0`.
      uniform: equal budgets per layer (default True) or proportional to size.

    Returns:
      ``(clipped_sums, num_clipped)``: two trees with the structure of ``grads``.

    Raises:
      ValueError: leaves without a shared batch axis, or a negative clip.

    Source: McMahan et al., "A General Approach to Adding Differential Privacy to
    Iterative Training Procedures" (2018).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> g = {"a": jnp.array([[3.0, 4.0]]), "b": jnp.array([[0.1]])}
      >>> s, n = gradtx.per_example_layer_norm_clip(g, 2.0 ** 0.5)
      >>> [round(x, 4) for x in s["a"].tolist()], int(n["a"]), int(n["b"])
      ([0.6, 0.8], 1, 0)
    """
    _checks.non_negative("global_l2_norm_clip", global_l2_norm_clip)
    if not isinstance(uniform, bool):
        raise TypeError(f"uniform must be a bool, got {uniform!r}")
    _check_batch("per_example_layer_norm_clip", grads)
    if uniform:
        n_layers = len(jax.tree.leaves(grads))
        budgets = jax.tree.map(lambda _: global_l2_norm_clip * (1.0 / n_layers) ** 0.5, grads)
    else:
        total = sum(g[0].size for g in jax.tree.leaves(grads))
        budgets = jax.tree.map(lambda g: global_l2_norm_clip * (g[0].size / total) ** 0.5, grads)
    result = jax.tree.map(per_example_global_norm_clip, grads, budgets)
    return jax.tree.transpose(jax.tree.structure(grads), jax.tree.structure((0, 0)), result)
