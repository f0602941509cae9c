"""COCOB-Backprop (Orabona & Tommasi, 2017): coin betting, a learning-rate-free
per-coordinate method, as ``optax.contrib.cocob``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation, chain
from gradtx.contrib._lrfree_common import check_update_args, param_copy
from gradtx.transforms._modifiers import add_decayed_weights
from gradtx.transforms._scaling import scale_by_learning_rate
from gradtx.tree._core import MOMENT, map_outputs, state_like


class COCOBState(NamedTuple):
    """State of :func:`scale_by_cocob` (optax.contrib's fields, in its order)."""

    init_particles: Any  # like params: w_1, the initial params
    cumulative_gradients: Any  # like params: -theta, minus the sum of the gradients
    scale: Any  # like params: L, the largest |g| so far (starts at eps)
    subgradients: Any  # like params: G, the sum of |g|
    reward: Any  # like params: R, the reward, max(R - g (w - w_1), 0)


def scale_by_cocob(alpha: Any = 100.0, eps: Any = 1e-8) -> GradientTransformation:
    r"""COCOB-Backprop's update, per coordinate (the descent direction included).

    .. math::
        L_t &= \max(L_{t-1}, |g_t|), \quad G_t = G_{t-1} + |g_t|, \quad
        R_t = \max\big(R_{t-1} - g_t (w_t - w_1), 0\big), \quad
        \theta_t = \theta_{t-1} + g_t, \\
        w_{t+1} &= w_1 - \frac{\theta_t}{L_t \max(G_t + L_t, \alpha L_t)}\,(L_t + R_t),
        \qquad u_t = w_{t+1} - w_t,

    with :math:`L_0 = \epsilon`. The state stores :math:`-\theta` (optax's
    ``cumulative_gradients``). Equal to ``optax.contrib.scale_by_cocob``. A complex entry
    counts as two real coordinates.

    Args:
      alpha: :math:`\alpha > 0`, bounds the bet in the first steps (default 100).
      eps: :math:`\epsilon > 0`, the initial :math:`L` (default 1e-8).

    Returns:
      A :class:`gradtx.GradientTransformation`; its ``update`` needs the params.

    Raises:
      ValueError: ``alpha <= 0`` or ``eps <= 0``; ``params=None`` at update.

    Example:
      >>> import jax.numpy as jnp
      >>> import gradtx, gradtx.contrib
      >>> tx = gradtx.contrib.scale_by_cocob()
      >>> p = jnp.array([1.0])
      >>> u, _ = tx.update(jnp.array([2.0]), tx.init(p), p)
      >>> print(jnp.round(u, 4))  # -2 / (2 * max(4, 200)) * 2
      [-0.01]

    Reference: Orabona & Tommasi, *Training Deep Networks without Learning Rates Through
    Coin Betting*, NeurIPS 2017 (Algorithm 2); optax.contrib ``scale_by_cocob``.
    """
    _checks.positive("alpha", alpha)
    _checks.positive("eps", eps)

    def init_fn(params):
        return COCOBState(
            init_particles=param_copy(params),
            cumulative_gradients=state_like(params, MOMENT),
            scale=state_like(params, MOMENT, value=eps),
            subgradients=state_like(params, MOMENT),
            reward=state_like(params, MOMENT),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        check_update_args("cocob", updates, params, state.scale)

        def one(g, p, p0, c, scale, sub, reward):
            scale = jnp.maximum(scale, jnp.abs(g)).astype(scale.dtype)
            sub = (sub + jnp.abs(g)).astype(sub.dtype)
            reward = jnp.maximum(reward - g * (p - p0), 0).astype(reward.dtype)
            c = (c - g).astype(c.dtype)
            new_p = p0 + c / (scale * jnp.maximum(sub + scale, alpha * scale)) * (scale + reward)
            return (new_p - p).astype(g.dtype), c, scale, sub, reward

        out = map_outputs(
            one, updates, params, state.init_particles, state.cumulative_gradients,
            state.scale, state.subgradients, state.reward, empty=(updates,) * 5,
        )  # fmt: skip
        return out[0], COCOBState(state.init_particles, *out[1:])

    return GradientTransformation(init_fn, update_fn)


def cocob(
    learning_rate: Any = 1.0,
    alpha: Any = 100.0,
    eps: Any = 1e-8,
    weight_decay: Any = 0.0,
    mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    r"""COCOB-Backprop: coin betting, learning-rate free (per coordinate).

    The gradients are first given weight decay and scaled,
    :math:`g \leftarrow \gamma (g + \lambda w)`, then :func:`scale_by_cocob` turns them
    into the update. Equal to ``optax.contrib.cocob`` (signature, defaults, numbers,
    state tree ``(AddDecayedWeightsState, EmptyState, COCOBState)``); with the defaults
    (``learning_rate=1``, no weight decay) it is the paper's Algorithm 2.

    Args:
      learning_rate: :math:`\gamma`, multiplies the gradients (default 1.0) or a
        schedule.
      alpha: :math:`\alpha > 0` (default 100).
      eps: :math:`\epsilon > 0`, the initial :math:`L` (default 1e-8).
      weight_decay: :math:`\lambda \ge 0` (default 0).
      mask: which leaves get weight decay (a tree of bools or a function of params).

    Returns:
      A :class:`gradtx.GradientTransformation`; its ``update`` needs the params.

    Raises:
      ValueError: ``alpha <= 0``, ``eps <= 0``; ``params=None`` at update.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gradtx, gradtx.contrib
      >>> tx = gradtx.contrib.cocob()
      >>> params = jnp.array([1.0, 2.0])
      >>> state = tx.init(params)
      >>> @jax.jit
      ... def step(params, state):
      ...     u, state = tx.update(2 * params, state, params)
      ...     return gradtx.apply_updates(params, u), state
      >>> for _ in range(300):
      ...     params, state = step(params, state)
      >>> print(bool(jnp.sum(params**2) < 0.05))
      True

    Reference: Orabona & Tommasi, NeurIPS 2017; optax.contrib ``cocob``.
    """
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate, flip_sign=False),
        scale_by_cocob(alpha, eps),
    )


__all__ = ["COCOBState", "cocob", "scale_by_cocob"]
