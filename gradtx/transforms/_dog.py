"""Distance over gradients (DoG): a learning-rate-free step size, per block (layer-wise
DoG, LDoG), as ``optax.scale_by_distance_over_gradients``."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation
from gradtx.tree._core import (
    MOMENT,
    check_same_tree,
    check_updates,
    compute_dtype,
    state_dtype,
)


class ScaleByDistanceOverGradientsState(NamedTuple):
    max_dist: Any  # per leaf, shape=(): the largest distance from the initial params so far
    grad_sum_of_squares: Any  # per leaf, shape=(1,): the running sum of |g|^2
    init_params: Any  # a copy of the initial params, like params (dtype param_dtype; complex
    # params keep their imaginary part: complex of param_dtype's precision)


def _sq_norm(x: jax.Array, y: Any = 0.0) -> jax.Array:
    x = jnp.asarray(x)
    d = x.astype(compute_dtype(x)) - y
    return jnp.sum(jnp.real(d * jnp.conj(d)))


def _l2(x: jax.Array, y: Any = 0.0) -> jax.Array:
    return jnp.sqrt(_sq_norm(x, y))


def scale_by_distance_over_gradients(
    reps_rel: float = 1e-6,
    eps: float = 1e-8,
    param_dtype: Any = jnp.float32,
    global_scale: float = 1.0,
) -> GradientTransformation:
    r"""Layer-wise DoG: each block's step is its largest distance travelled from the
    initial point over the root of its summed squared gradients.

    .. math::
        \bar r_t = \max\big(\bar r_{t-1}, \lVert p_t - p_0 \rVert\big),\quad
        \bar r_0 = r_\epsilon (1 + \lVert p_0 \rVert),\quad
        G_t = G_{t-1} + \lVert g_t \rVert^2,\quad
        u_t = s\, \frac{\bar r_t}{\sqrt{G_t + \epsilon}}\, g_t

    per block (leaf), ``r_eps`` = ``reps_rel``, ``s`` = ``global_scale`` (use -1, or chain
    ``scale(-1)``, for descent). Equal to ``optax.scale_by_distance_over_gradients``
    (same state tree); optax returns a ``(1,)``-shaped update for a 0-d leaf, gradtx
    keeps the leaf's shape.

    Args:
        reps_rel: the relative initial distance ``r_eps`` (default 1e-6; the authors
            suggest 1e-4 with batch norm). ``> 0``.
        eps: added to the sum of squares (default 1e-8). ``>= 0``.
        param_dtype: the dtype the initial params are stored in (default float32); a
            complex parameter is stored complex of that precision (its imaginary part is
            part of the distance travelled).
        global_scale: ``s`` (default 1.0).

    Returns:
        A :class:`gradtx.GradientTransformation`; its ``update`` needs the params.

    Raises:
        ValueError: ``reps_rel <= 0`` or ``eps < 0``; ``params=None`` at update.

    Reference: Ivgi, Hinder & Carmon, *DoG is SGD's Best Friend: A Parameter-Free
    Dynamic Step Size Schedule*, ICML 2023.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_distance_over_gradients(global_scale=-1.0)
        >>> params = {"w": jnp.array([3.0, 4.0])}
        >>> u, state = tx.update({"w": jnp.array([1.0, 0.0])}, tx.init(params), params)
        >>> round(u["w"][0].item(), 8)  # -1e-6 * (1 + 5) * 1 / sqrt(1 + 1e-8)
        -6e-06
    """
    _checks.positive("reps_rel", reps_rel)
    _checks.non_negative("eps", eps)
    _checks.check_number("global_scale", global_scale)
    param_dtype = jnp.dtype(param_dtype)

    def _copy_params(x):
        # always a copy (a donated step must not delete the caller's params, issue 11
        # class 8); a complex parameter stays complex (a real param_dtype would drop its
        # imaginary part and measure the distance from Re(p_0))
        dtype = state_dtype(jnp.result_type(x), MOMENT, param_dtype)
        return jnp.array(x, dtype=dtype, copy=True)

    def init_fn(params):
        return ScaleByDistanceOverGradientsState(
            max_dist=jax.tree.map(lambda x: reps_rel * (1 + _l2(x)), params),
            grad_sum_of_squares=jax.tree.map(lambda x: jnp.zeros((1,), jnp.float32), params),
            init_params=jax.tree.map(_copy_params, params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError(
                "scale_by_distance_over_gradients needs the params: call "
                "update(updates, state, params)"
            )
        check_updates(updates, state.init_params)
        check_same_tree(updates, params, against="params")
        max_dist = jax.tree.map(
            lambda d, x, y: jnp.maximum(d, _l2(x, y)).astype(d.dtype),
            state.max_dist, params, state.init_params,
        )  # fmt: skip
        g_sos = jax.tree.map(
            lambda s, g: (s + _sq_norm(g)).astype(s.dtype), state.grad_sum_of_squares, updates
        )

        def one(g, d, s):
            eta = global_scale * (d / jnp.sqrt(s + eps))
            return (jnp.reshape(eta, ()) * g).astype(g.dtype)

        updates = jax.tree.map(one, updates, max_dist, g_sos)
        return updates, ScaleByDistanceOverGradientsState(max_dist, g_sos, state.init_params)

    return GradientTransformation(init_fn, update_fn)


__all__ = ["ScaleByDistanceOverGradientsState", "scale_by_distance_over_gradients"]
