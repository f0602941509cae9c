"""DoG and DoWG: learning-rate-free step sizes from the distance travelled, over the whole
tree (one step size for every parameter), as ``optax.contrib.dog`` and ``dowg``.

``gradtx.scale_by_distance_over_gradients`` is the layer-wise variant (LDoG: one step
size per leaf); these are the global ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation, chain, identity
from gradtx.contrib._lrfree_common import check_update_args, lowest_dtype, param_copy, sq_norm
from gradtx.transforms._modifiers import add_decayed_weights
from gradtx.transforms._scaling import scale_by_learning_rate

_INIT_STEP_TYPES = ("distance", "learning_rate", "heuristic")


class DoGState(NamedTuple):
    """State of DoG (optax.contrib's fields, in its order)."""

    is_init_step: jax.Array  # shape=(), dtype=bool: True before the first update
    init_params: Any  # like params: x_0
    max_dist: jax.Array  # shape=(), params' lowest real dtype: r_bar, the largest |x - x_0|
    sum_sq_norm_grads: jax.Array  # shape=(), same dtype: G, the sum of |g|^2


class DoWGState(NamedTuple):
    """State of DoWG (optax.contrib's fields, in its order)."""

    init_params: Any  # like params: x_0
    weighted_sq_norm_grads: jax.Array  # shape=(), params' lowest real dtype: v_t
    estim_sq_dist: jax.Array  # shape=(), same dtype: r_bar^2, the largest |x - x_0|^2


def _sq_dist(params: Any, init_params: Any) -> jax.Array:
    return sq_norm(jax.tree.map(lambda p0, p: p0 - p, init_params, params))


def _optimizer(
    scaling: GradientTransformation, learning_rate: Any, weight_decay: Any, mask: Any
) -> GradientTransformation:
    """optax.contrib's chain for DoG and DoWG: coupled weight decay (none for ``None``),
    the scaling, the learning rate."""
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(
        add_decayed_weights(weight_decay, mask) if weight_decay is not None else identity(),
        scaling,
        scale_by_learning_rate(learning_rate),
    )


def scale_by_dog(init_step: tuple[str, Any], eps: Any = 1e-8) -> GradientTransformation:
    r"""DoG's scaling (not a descent direction: chain ``scale_by_learning_rate``).

    .. math::
        \bar r_t = \max(\bar r_{t-1}, \lVert x_t - x_0\rVert), \quad
        G_t = G_{t-1} + \lVert g_t\rVert^2, \quad
        u_t = \frac{\bar r_t}{\sqrt{G_t + \epsilon}}\, g_t,

    norms over the whole tree, :math:`\bar r_{-1}` from ``init_step``: ``("heuristic",
    r)`` gives :math:`r (1 + \lVert x_0\rVert)`, ``("distance", r)`` gives ``r``,
    ``("learning_rate", eta)`` gives 0 and a first step of ``eta`` times the gradient.
    Equal to optax.contrib's ``scale_by_dog`` (see :func:`dog`).
    """
    init_type, init_value = _check_init_step(init_step)
    _checks.non_negative("eps", eps)

    def init_fn(params):
        dtype = lowest_dtype(params)
        if init_type == "distance":
            r_eps = jnp.asarray(init_value, dtype)
        elif init_type == "heuristic":
            r_eps = init_value * (1 + jnp.sqrt(sq_norm(params)))
        else:
            r_eps = 0.0
        return DoGState(
            is_init_step=jnp.asarray(True),
            init_params=param_copy(params),
            max_dist=jnp.asarray(r_eps, dtype=dtype),
            sum_sq_norm_grads=jnp.asarray(0.0, dtype=dtype),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        check_update_args("dog", updates, params, state.init_params)
        dtype = state.max_dist.dtype
        max_dist = jnp.maximum(state.max_dist, jnp.sqrt(_sq_dist(params, state.init_params)))
        sum_sq = state.sum_sq_norm_grads + sq_norm(updates)
        lr = max_dist / jnp.sqrt(sum_sq + eps)
        if init_type == "learning_rate":
            lr = jnp.where(state.is_init_step, init_value, lr)
        new_updates = jax.tree.map(lambda g: (lr * g).astype(g.dtype), updates)
        return new_updates, DoGState(
            is_init_step=jnp.asarray(False),
            init_params=state.init_params,
            max_dist=max_dist.astype(dtype),
            sum_sq_norm_grads=sum_sq.astype(dtype),
        )

    return GradientTransformation(init_fn, update_fn)


def _check_init_step(init_step: Any) -> tuple[str, Any]:
    if not (isinstance(init_step, tuple) and len(init_step) == 2):
        raise ValueError(
            "init_step must be a pair (kind, value) with kind one of "
            f"{_INIT_STEP_TYPES}, got {init_step!r}"
        )
    kind, value = init_step
    if kind not in _INIT_STEP_TYPES:
        raise ValueError(f"init_step's kind must be one of {_INIT_STEP_TYPES}, got {kind!r}")
    _checks.non_negative("init_step value", value)
    return kind, value


def dog(
    learning_rate: Any = 1.0,
    init_step: tuple[str, Any] = ("heuristic", 1e-6),
    eps: Any = 1e-8,
    weight_decay: Any | None = None,
    mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    r"""DoG (Distance over Gradients): SGD with the step size :math:`\bar r_t /
    \sqrt{G_t}`, learning-rate free.

    .. math::
        \bar r_t = \max(\bar r_{t-1}, \lVert x_t - x_0\rVert), \quad
        G_t = G_{t-1} + \lVert g_t\rVert^2, \quad
        u_t = -\gamma\, \frac{\bar r_t}{\sqrt{G_t + \epsilon}}\, g_t,

    with norms over the whole tree, ``g`` including the (coupled) weight decay
    :math:`\lambda x_t`, and :math:`\bar r_{-1}` from ``init_step`` (the authors'
    ``reps_rel`` heuristic :math:`r (1 + \lVert x_0\rVert)` by default). Equal to
    ``optax.contrib.dog`` (signature, defaults, numbers, state tree
    ``(EmptyState | AddDecayedWeightsState, DoGState, EmptyState)``) and to the
    authors' ``DoG`` optimizer (``reps_rel``, ``init_eta``, ``weight_decay``).

    float16 params: :math:`x_0` and the sums are float32 (the state policy), but
    :math:`\bar r_t` is read off the params the loop holds, which float16 rounds after
    every step; near 0 the first steps (about :math:`r = 10^{-6}` times the unit
    gradient) are float16 subnormals with 2-3 significant bits. Measured (params 0,
    gradient 300, 10 steps): final params 5.2e-2 relative from the float32 run
    (optax.contrib.dog, whose state is float16 there: the params never move). Keep a
    float32 copy of float16 params for the optimiser where that matters.

    Args:
      learning_rate: :math:`\gamma`, a multiplier of the DoG step (default 1.0) or a
        schedule.
      init_step: ``("heuristic", r)`` (default, ``r = 1e-6``: the authors' ``reps_rel``;
        they suggest 1e-4 with batch norm), ``("distance", r)`` (an absolute
        :math:`\bar r_{-1}`) or ``("learning_rate", eta)`` (the first step size, the
        authors' ``init_eta``).
      eps: :math:`\epsilon \ge 0` inside the root (default 1e-8).
      weight_decay: :math:`\lambda` (default None: none), added to the gradient.
      mask: which leaves get weight decay (a tree of bools or a function of params).

    Returns:
      A :class:`gradtx.GradientTransformation`; its ``update`` needs the params.

    Raises:
      ValueError: a bad ``init_step`` or ``eps < 0``; ``params=None`` at update.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gradtx, gradtx.contrib
      >>> tx = gradtx.contrib.dog()
      >>> params = jnp.array([1.0, 2.0])
      >>> state = tx.init(params)
      >>> @jax.jit
      ... def step(params, state):
      ...     u, state = tx.update(2 * params, state, params)
      ...     return gradtx.apply_updates(params, u), state
      >>> for _ in range(100):
      ...     params, state = step(params, state)
      >>> print(bool(jnp.sum(params**2) < 1e-2))
      True

    Reference: Ivgi, Hinder & Carmon, *DoG is SGD's Best Friend: A Parameter-Free
    Dynamic Step Size Schedule*, ICML 2023 (arXiv:2302.12022); formll/dog;
    optax.contrib ``dog``.
    """
    return _optimizer(scale_by_dog(init_step, eps), learning_rate, weight_decay, mask)


def scale_by_dowg(
    init_estim_sq_dist: Any | None = None, eps: Any = 1e-4
) -> GradientTransformation:
    r"""DoWG's scaling (not a descent direction: chain ``scale_by_learning_rate``).

    .. math::
        \bar r_t^2 = \max(\bar r_{t-1}^2, \lVert x_t - x_0\rVert^2), \quad
        v_t = v_{t-1} + \bar r_t^2 \lVert g_t\rVert^2, \quad
        u_t = \frac{\bar r_t^2}{\sqrt{v_t} + \epsilon}\, g_t,

    with :math:`\bar r_{-1}^2` = ``init_estim_sq_dist`` (default ``eps``). Equal to
    optax.contrib's ``scale_by_dowg`` (see :func:`dowg`).
    """
    _checks.non_negative("eps", eps)
    if init_estim_sq_dist is not None:
        _checks.non_negative("init_estim_sq_dist", init_estim_sq_dist)

    def init_fn(params):
        dtype = lowest_dtype(params)
        r0 = eps if init_estim_sq_dist is None else init_estim_sq_dist
        return DoWGState(
            init_params=param_copy(params),
            weighted_sq_norm_grads=jnp.asarray(0.0, dtype=dtype),
            estim_sq_dist=jnp.asarray(r0, dtype=dtype),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        check_update_args("dowg", updates, params, state.init_params)
        dtype = state.estim_sq_dist.dtype
        estim = jnp.maximum(state.estim_sq_dist, _sq_dist(params, state.init_params))
        weighted = estim * sq_norm(updates) + state.weighted_sq_norm_grads
        lr = estim / (jnp.sqrt(weighted) + eps)
        new_updates = jax.tree.map(lambda g: (lr * g).astype(g.dtype), updates)
        return new_updates, DoWGState(
            init_params=state.init_params,
            weighted_sq_norm_grads=weighted.astype(dtype),
            estim_sq_dist=estim.astype(dtype),
        )

    return GradientTransformation(init_fn, update_fn)


def dowg(
    learning_rate: Any = 1.0,
    init_estim_sq_dist: Any | None = None,
    eps: Any = 1e-4,
    weight_decay: Any | None = None,
    mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    r"""DoWG (Distance over Weighted Gradients): a learning-rate-free SGD step size.

    .. math::
        \bar r_t^2 = \max(\bar r_{t-1}^2, \lVert x_t - x_0\rVert^2), \quad
        v_t = v_{t-1} + \bar r_t^2 \lVert g_t\rVert^2, \quad
        u_t = -\gamma\, \frac{\bar r_t^2}{\sqrt{v_t} + \epsilon}\, g_t,

    norms over the whole tree, ``g`` including the (coupled) weight decay. Equal to
    ``optax.contrib.dowg`` (signature, defaults, numbers, state tree
    ``(EmptyState | AddDecayedWeightsState, DoWGState, EmptyState)``); the paper's
    Algorithm 1 is the case ``eps = 0`` (``eps`` guards the first steps).

    Args:
      learning_rate: :math:`\gamma`, a multiplier of the DoWG step (default 1.0) or a
        schedule.
      init_estim_sq_dist: :math:`\bar r_{-1}^2 \ge 0`, the initial squared distance
        estimate (default None: ``eps``).
      eps: :math:`\epsilon \ge 0` added to the root (default 1e-4).
      weight_decay: :math:`\lambda` (default None: none), added to the gradient.
      mask: which leaves get weight decay (a tree of bools or a function of params).

    Returns:
      A :class:`gradtx.GradientTransformation`; its ``update`` needs the params.

    Raises:
      ValueError: ``eps < 0`` or ``init_estim_sq_dist < 0``; ``params=None``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gradtx, gradtx.contrib
      >>> tx = gradtx.contrib.dowg()
      >>> params = jnp.array([1.0, 2.0])
      >>> state = tx.init(params)
      >>> @jax.jit
      ... def step(params, state):
      ...     u, state = tx.update(2 * params, state, params)
      ...     return gradtx.apply_updates(params, u), state
      >>> for _ in range(100):
      ...     params, state = step(params, state)
      >>> print(bool(jnp.sum(params**2) < 1e-2))
      True

    Reference: Khaled, Mishchenko & Jin, *DoWG Unleashed: An Efficient Universal
    Parameter-Free Gradient Descent Method*, NeurIPS 2023 (arXiv:2305.16284);
    optax.contrib ``dowg``.
    """
    return _optimizer(scale_by_dowg(init_estim_sq_dist, eps), learning_rate, weight_decay, mask)


__all__ = ["DoGState", "DoWGState", "dog", "dowg"]
