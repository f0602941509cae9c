"""What the learning-rate-free optimisers (Prodigy, D-Adaptation, DoG, DoWG, COCOB,
Mechanic, Momo, MADGRAD) share: inner products, L1 and squared L2 norms over a whole tree,
with a complex entry counted as the pair of real coordinates ``(Re z, Im z)`` (the real
split, gradtx's convention for complex parameters), accumulated in at least float32; the
argument check of an ``update`` that needs the params; the step size ``d`` of Prodigy and
D-Adaptation and its growth."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.tree._core import (
    MOMENT,
    SQUARED,
    check_same_tree,
    check_updates,
    compute_dtype,
    real_dtype,
    safe_increment,
    state_dtype,
    state_like,
    sum_of_squares,
    zero_count,
)


def _wide(x: Any) -> jax.Array:
    x = jnp.asarray(x)
    return x.astype(compute_dtype(x))


def real_vdot(tree_x: Any, tree_y: Any) -> jax.Array:
    """``sum Re(conj(x) y)`` over every element of every leaf: the inner product of the
    real splits (``0`` for an empty tree)."""
    terms = [
        jnp.sum(jnp.real(jnp.conj(_wide(a)) * _wide(b)))
        for a, b in zip(jax.tree.leaves(tree_x), jax.tree.leaves(tree_y), strict=True)
    ]
    return sum(terms) if terms else jnp.zeros([], jnp.float32)


def l1_norm(tree: Any) -> jax.Array:
    """``sum |Re x| + |Im x|`` over every element: the L1 norm of the real split."""
    terms = []
    for x in jax.tree.leaves(tree):
        x = _wide(x)
        terms.append(
            jnp.sum(jnp.abs(x.real) + jnp.abs(x.imag)) if jnp.iscomplexobj(x)
            else jnp.sum(jnp.abs(x))
        )  # fmt: skip
    return sum(terms) if terms else jnp.zeros([], jnp.float32)


def sq_norm(tree: Any) -> jax.Array:
    """``sum |x|^2`` over every element (real, at least float32)."""
    return sum_of_squares(tree)


def lowest_dtype(params: Any) -> Any:
    """The dtype of the optimisers' scalar state: the lowest float dtype among the leaves
    (optax's ``tree.dtype(params, 'lowest')``), real, and float32 for float16 (the state
    policy, docs/dtypes.md: a step size of 1e-6 is subnormal in float16)."""
    from gradtx.tree._casting import tree_dtype

    return real_dtype(state_dtype(tree_dtype(params, "lowest"), MOMENT))


def param_copy(params: Any) -> Any:
    """A copy of the params kept in the state (the initial point, schedule-free's ``z``),
    in the state policy's dtype: the params' own, float32 for float16."""
    return jax.tree.map(
        lambda p: jnp.array(p, dtype=state_dtype(jnp.result_type(p), MOMENT), copy=True), params
    )


def check_update_args(name: str, updates: Any, params: Any, like: Any) -> None:
    """The check at the top of an ``update`` that needs the params: ``ValueError`` naming
    ``name`` for ``params=None``; float ``updates`` and ``updates``, ``params`` both of
    ``like``'s structure and shapes (``like``: a per-parameter state tree)."""
    if params is None:
        raise ValueError(f"{name} needs the params: call update(updates, state, params)")
    check_updates(updates, like)
    check_same_tree(params, like, what="params")


def d_adapt_fields(params: Any, estim_lr0: Any) -> dict[str, Any]:
    """The fields Prodigy's and D-Adaptation's states share, at init: the moments
    ``exp_avg``, ``exp_avg_sq`` and ``grad_sum`` (0, the state policy's dtypes), the
    estimate ``estim_lr`` = ``estim_lr0`` and ``numerator_weighted`` = 0 (the params'
    lowest real dtype), ``count`` = 0."""
    dtype = lowest_dtype(params)
    return dict(
        exp_avg=state_like(params, MOMENT),
        exp_avg_sq=state_like(params, SQUARED),
        grad_sum=state_like(params, MOMENT),
        estim_lr=jnp.asarray(estim_lr0, dtype=dtype),
        numerator_weighted=jnp.zeros([], dtype=dtype),
        count=zero_count(),
    )


def scaled_estimate(
    d: jax.Array,
    learning_rate: Any,
    count: jax.Array,
    betas: tuple[Any, Any],
    use_bias_correction: bool,
) -> tuple[jax.Array, jax.Array]:
    r"""Prodigy's and D-Adaptation's step :math:`\hat d_k = d_k \gamma_k b_k` in ``d``'s
    dtype, with :math:`\gamma_k` the learning rate (a schedule of the 0-based ``count``)
    and :math:`b_k = \sqrt{1-\beta_2^{k+1}} / (1-\beta_1^{k+1})` (1 without
    ``use_bias_correction``); and ``count + 1``."""
    beta1, beta2 = betas
    count_inc = safe_increment(count)
    sched = learning_rate(count) if callable(learning_rate) else learning_rate
    bc = ((1 - beta2**count_inc) ** 0.5) / (1 - beta1**count_inc) if use_bias_correction else 1.0
    return jnp.asarray(d * sched * bc, dtype=d.dtype), count_inc


def grown_estimate(
    d: jax.Array, numerator: jax.Array, l1: jax.Array, scale: Any | None = None
) -> jax.Array:
    r"""The new estimate :math:`\max(d, r / (c \lVert s\rVert_1))` (``scale`` ``c``,
    none for ``None``) in ``d``'s dtype; ``d`` unchanged while :math:`\lVert s\rVert_1
    = 0` (every gradient so far zero: the authors skip the step, optax's ``d`` is NaN)."""
    denominator = jnp.where(l1 > 0, l1, 1.0)
    if scale is not None:
        denominator = scale * denominator
    return jnp.where(l1 > 0, jnp.maximum(d, numerator / denominator), d).astype(d.dtype)
