"""Safe numerics (optax 0.2.8 top-level ``safe_norm``, ``safe_root_mean_squares``,
``safe_int32_increment``; source ``optax/_src/numerics.py``): values whose gradients stay
finite at 0 and counters that saturate instead of wrapping."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.tree._core import abs_sq


def safe_norm(
    x: Any,
    min_norm: Any,
    ord: int | float | str | None = None,  # noqa: A002
    axis: None | tuple[int, ...] | int = None,
    keepdims: bool = False,
) -> jax.Array:
    r""":math:`\max(\|x\|, \text{min\_norm})` whose gradient is finite where
    :math:`\|x\| \le` ``min_norm`` (the norm is taken of ones there, then replaced).

    Args:
      x: an array.
      min_norm: the lower bound.
      ord, axis, keepdims: as ``jnp.linalg.norm`` (defaults ``None``, ``None``, False).

    Returns:
      The clipped norm.

    Example:
      >>> import jax, jax.numpy as jnp, gradtx
      >>> float(gradtx.safe_norm(jnp.zeros(3), 1e-6)), float(gradtx.safe_norm(jnp.ones(4), 0.0))
      (9.999999974752427e-07, 2.0)
      >>> jax.grad(lambda x: gradtx.safe_norm(x, 1e-6))(jnp.zeros(2)).tolist()
      [0.0, 0.0]
    """
    x = jnp.asarray(x)
    norm = jnp.linalg.norm(x, ord=ord, axis=axis, keepdims=True)
    x = jnp.where(norm <= min_norm, jnp.ones_like(x), x)
    norm = norm if keepdims else jnp.squeeze(norm, axis=axis)
    masked = jnp.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)
    return jnp.where(norm <= min_norm, min_norm, masked)


def safe_root_mean_squares(x: Any, min_rms: Any) -> jax.Array:
    r""":math:`\max(\sqrt{\mathrm{mean}(|x|^2)}, \text{min\_rms})` with a finite gradient
    at 0 (:math:`|x|^2 = \Re(x)^2 + \Im(x)^2`).

    Args:
      x: an array.
      min_rms: the lower bound.

    Returns:
      A scalar.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> float(gradtx.safe_root_mean_squares(jnp.full(4, 2.0), 1e-6))
      2.0
    """
    x = jnp.asarray(x)
    rms = jnp.sqrt(jnp.mean(abs_sq(x)))
    x = jnp.where(rms <= min_rms, jnp.ones_like(x), x)
    return jnp.where(rms <= min_rms, min_rms, jnp.sqrt(jnp.mean(abs_sq(x))))


def safe_int32_increment(count: Any) -> jax.Array:
    r""":math:`c + 1`, saturating at the dtype's maximum instead of wrapping (integer or
    float counters; optax's ``safe_increment`` under its older name).

    Args:
      count: an integer or floating scalar array.

    Returns:
      The incremented count, same dtype.

    Raises:
      ValueError: ``count`` is neither integer nor floating.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> int(gradtx.safe_int32_increment(jnp.asarray(2**31 - 1, jnp.int32)))
      2147483647
    """
    dtype = jnp.asarray(count).dtype
    if jnp.issubdtype(dtype, jnp.integer):
        top = jnp.iinfo(dtype).max
    elif jnp.issubdtype(dtype, jnp.floating):
        top = jnp.finfo(dtype).max
    else:
        raise ValueError(f"count must have an integer or floating dtype, got {dtype}")
    top = jnp.array(top, dtype)
    return jnp.where(count < top, count + jnp.array(1, dtype), top)
