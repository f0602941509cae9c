"""Per-block (layer-wise) scalings: the trust ratio of LARS/LAMB/Fromage and the scaling
by a parameter block's norm or RMS. A *block* is one leaf of the params tree (a weight
matrix, a bias vector); each block gets one scalar factor.

These transforms are stateless (their state is :class:`gradtx.EmptyState`, as optax's)
and need the params: ``update(updates, state, params)``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx.base import EmptyState, GradientTransformation, init_empty_state
from gradtx.tree._core import (
    check_same_tree,
    check_updates,
    compute_dtype,
    global_norm,
    mean_abs_sq,
    real_dtype,
)

# optax's name for the (empty) state of scale_by_trust_ratio.
ScaleByTrustRatioState = EmptyState


def _need_params(name: str, updates: Any, params: Any) -> None:
    if params is None:
        raise ValueError(f"{name} needs the params: call update(updates, state, params)")
    check_updates(updates)
    check_same_tree(updates, params, against="params")


def _block_norm(x: jax.Array) -> jax.Array:
    """The Euclidean (Frobenius) norm of a whole block, in at least float32; complex
    entries count by their modulus. :func:`gradtx.global_norm` of the one block: finite
    for finite entries above ~1.8e19, whose squares overflow float32 (``inf`` there made
    the trust ratio and the block scalings ``inf`` or NaN while the params were finite)."""
    return global_norm(x)


def _block_rms(x: jax.Array) -> jax.Array:
    """RMS over the block's real coordinates (a complex entry counts as two); as
    ``sqrt(mean |x|^2)`` (optax's numbers), and as ``norm / sqrt(n)`` only when the
    mean of squares overflows."""
    x = jnp.asarray(x)
    ms = mean_abs_sq(x)
    # module-level branches: lax.cond caches them, so an eager call does not retrace
    return jax.lax.cond(jnp.isposinf(ms), _rms_from_norm, _rms_from_mean, ms, x)


def _rms_from_mean(ms: jax.Array, x: jax.Array) -> jax.Array:
    del x
    return jnp.sqrt(ms)


def _rms_from_norm(ms: jax.Array, x: jax.Array) -> jax.Array:
    n = max(x.size * (2 if jnp.iscomplexobj(x) else 1), 1)
    return (global_norm(x) / np.sqrt(n)).astype(ms.dtype)


def _scaled(u: jax.Array, factor: jax.Array) -> jax.Array:
    """``u * factor`` formed in at least float32 and returned in ``u``'s dtype: a factor
    such as a trust ratio ``1e-6 / 500`` is 0 in float16, and the product can still be
    a representable update."""
    dt = compute_dtype(u)
    return (u.astype(dt) * factor.astype(real_dtype(dt))).astype(u.dtype)


def _floor(value: jax.Array, low: Any) -> jax.Array:
    # optax.safe_norm: values <= low become low (a zero-size or zero block gives low).
    return jnp.where(value <= low, jnp.asarray(low, value.dtype), value)


def scale_by_trust_ratio(
    min_norm: float = 0.0,
    trust_coefficient: float = 1.0,
    eps: float = 0.0,
) -> GradientTransformation:
    r"""Scales each block's update by the trust ratio (LARS, LAMB, Fromage).

    .. math::
        r = \frac{c \, \max(\lVert p \rVert, n_{min})}{\max(\lVert u \rVert, n_{min})
        + \epsilon},\qquad
        u' = \begin{cases} u & \lVert p \rVert' = 0 \text{ or } \lVert u \rVert' = 0 \\
        r\,u & \text{otherwise}\end{cases}

    per leaf (block), with Frobenius norms over the whole block and ``c`` the
    ``trust_coefficient``. A block whose (floored) parameter or update norm is zero is
    passed through unscaled (so freshly zero-initialised biases still move). Equal to
    ``optax.scale_by_trust_ratio``.

    Args:
        min_norm: floor ``n_min`` of both norms (default 0.0: no floor). ``>= 0``.
        trust_coefficient: the multiplier ``c`` (default 1.0). ``>= 0``.
        eps: added to the update norm in the denominator (default 0.0). ``>= 0``.

    Returns:
        A stateless :class:`gradtx.GradientTransformation` whose ``update`` needs the
        params (same tree and shapes as the updates).

    Raises:
        ValueError: a negative ``min_norm``, ``trust_coefficient`` or ``eps`` (at
            construction); ``params=None`` or a params tree unlike the updates (at update).

    Reference: You et al., *Large Batch Training of Convolutional Networks* (LARS),
    arXiv:1708.03888, 2017.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_trust_ratio()
        >>> params = {"w": jnp.array([3.0, 4.0])}
        >>> u, _ = tx.update({"w": jnp.array([0.6, 0.0])}, tx.init(params), params)
        >>> u["w"].tolist()  # ||p|| / ||u|| = 5 / 0.6
        [5.0, 0.0]
    """
    _checks.non_negative("min_norm", min_norm)
    _checks.non_negative("trust_coefficient", trust_coefficient)
    _checks.non_negative("eps", eps)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        _need_params("scale_by_trust_ratio", updates, params)

        def one(u, p):
            p_norm = _floor(_block_norm(p), min_norm)
            u_norm = _floor(_block_norm(u), min_norm)
            ratio = trust_coefficient * p_norm / (u_norm + eps)
            ratio = jnp.where((p_norm == 0) | (u_norm == 0), 1.0, ratio)
            return _scaled(u, ratio)

        return jax.tree.map(one, updates, params), state

    return GradientTransformation(init_empty_state, update_fn)


def scale_by_param_block_norm(min_scale: float = 1e-3) -> GradientTransformation:
    r"""Scales each block's update by the norm of that block's parameters.

    .. math::
        u' = \max(\lVert p \rVert, s_{min})\, u

    per leaf, with the Frobenius norm over the whole block. Equal to
    ``optax.scale_by_param_block_norm``; a building block of Fromage-like and
    relative-step optimisers (Adafactor's ``multiply_by_parameter_scale`` uses the RMS,
    :func:`scale_by_param_block_rms`).

    Args:
        min_scale: the floor ``s_min`` of the factor (default 1e-3). ``>= 0``.

    Returns:
        A stateless :class:`gradtx.GradientTransformation` whose ``update`` needs the
        params.

    Raises:
        ValueError: a negative ``min_scale``; ``params=None`` at update.

    Reference: Bernstein et al., *On the distance between two neural networks and the
    stability of learning*, NeurIPS 2020.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_param_block_norm()
        >>> params = {"w": jnp.array([3.0, 4.0])}
        >>> u, _ = tx.update({"w": jnp.array([1.0, 2.0])}, tx.init(params), params)
        >>> u["w"].tolist()
        [5.0, 10.0]
    """
    _checks.non_negative("min_scale", min_scale)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        _need_params("scale_by_param_block_norm", updates, params)

        def one(u, p):
            s = _floor(_block_norm(p), min_scale)
            return _scaled(u, s)

        return jax.tree.map(one, updates, params), state

    return GradientTransformation(init_empty_state, update_fn)


def scale_by_param_block_rms(min_scale: float = 1e-3) -> GradientTransformation:
    r"""Scales each block's update by the root mean square of that block's parameters.

    .. math::
        u' = \max\Big(\sqrt{\tfrac{1}{n}\textstyle\sum_i |p_i|^2},\ s_{min}\Big)\, u

    per leaf of ``n`` entries. Equal to ``optax.scale_by_param_block_rms``; Adafactor's
    relative step size (``multiply_by_parameter_scale=True``).

    Args:
        min_scale: the floor ``s_min`` of the factor (default 1e-3). ``>= 0``.

    Returns:
        A stateless :class:`gradtx.GradientTransformation` whose ``update`` needs the
        params.

    Raises:
        ValueError: a negative ``min_scale``; ``params=None`` at update.

    Reference: Shazeer & Stern, *Adafactor: Adaptive Learning Rates with Sublinear
    Memory Cost*, ICML 2018.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_param_block_rms()
        >>> params = {"w": jnp.array([3.0, -3.0])}
        >>> u, _ = tx.update({"w": jnp.array([1.0, 2.0])}, tx.init(params), params)
        >>> u["w"].tolist()
        [3.0, 6.0]
    """
    _checks.non_negative("min_scale", min_scale)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        _need_params("scale_by_param_block_rms", updates, params)

        def one(u, p):
            s = _floor(_block_rms(p), min_scale)
            return _scaled(u, s)

        return jax.tree.map(one, updates, params), state

    return GradientTransformation(init_empty_state, update_fn)


__all__ = [
    "ScaleByTrustRatioState",
    "scale_by_param_block_norm",
    "scale_by_param_block_rms",
    "scale_by_trust_ratio",
]
