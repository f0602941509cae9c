"""Reductions shared by the learning-rate-free optimisers (Prodigy, D-Adaptation, DoG,
DoWG, Mechanic, Momo): inner products, L1 and squared L2 norms over a whole tree, with a
complex entry counted as the pair of real coordinates ``(Re z, Im z)`` (the real split,
gradtx's convention for complex parameters), accumulated in at least float32."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.tree._core import MOMENT, compute_dtype, real_dtype, state_dtype, sum_of_squares


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
