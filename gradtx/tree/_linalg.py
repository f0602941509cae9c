"""optax's linear-algebra utilities: ``power_iteration``, ``matrix_inverse_pth_root``
(Shampoo's coupled Newton iteration) and ``nnls`` (projected gradient for non-negative
least squares), same signatures and numbers as optax 0.2.8's."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from gradtx.tree._math import tree_norm, tree_scale, tree_sub, tree_vdot


def _normalize(tree: Any) -> Any:
    return tree_scale(1.0 / tree_norm(tree), tree)


def power_iteration(
    matrix: jax.typing.ArrayLike | Callable[[Any], Any],
    *,
    v0: Any | None = None,
    num_iters: int = 100,
    error_tolerance: float = 1e-6,
    precision: lax.Precision = lax.Precision.HIGHEST,
    key: jax.Array | None = None,
) -> tuple[jax.Array, Any]:
    r"""The dominant eigenvalue and its eigenvector, by power iteration.

    .. math::
        v_{k+1} = \frac{A v_k}{\lVert A v_k\rVert},\qquad \lambda_k = \langle v_k, A v_k
        \rangle

    stopping after ``num_iters`` products or when ``|A v_k - lambda_k v_k| / |lambda_k|
    < error_tolerance``. Same as ``optax.power_iteration``.

    Args:
        matrix: a square ``(n, n)`` array, or a function computing the matrix-vector
            product on a pytree.
        v0: the first vector (a pytree like the function's input); default for an array:
            uniform on ``[-1, 1]^n`` drawn with ``key``. Required for a function.
        num_iters: the most products (default 100).
        error_tolerance: the relative residual at which to stop (default 1e-6).
        precision: the matmul precision for an array (default HIGHEST).
        key: the PRNG key for ``v0`` (default ``jax.random.PRNGKey(0)``).

    Returns:
        ``(eigenvalue, eigenvector)``; the eigenvector has unit norm.

    Raises:
        ValueError: ``matrix`` is a function and ``v0`` is None.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> eig, vec = gradtx.power_iteration(jnp.diag(jnp.array([1.0, 3.0, 2.0])))
        >>> round(float(eig), 4)
        3.0
    """
    if callable(matrix):
        mvp = matrix
        if v0 is None:
            raise ValueError("power_iteration: v0 must be given when matrix is a function")
    else:
        matrix = jnp.asarray(matrix)
        mvp = functools.partial(jnp.matmul, matrix, precision=precision)
        if v0 is None:
            key = jax.random.PRNGKey(0) if key is None else key
            v0 = jax.random.uniform(
                key, matrix.shape[-1:], matrix.dtype, minval=-1.0, maxval=1.0
            )
    v0 = _normalize(v0)
    z0 = mvp(v0)
    eig0 = jnp.zeros_like(tree_vdot(v0, z0))
    start = (v0, z0, eig0, jnp.asarray(0))
    if callable(matrix):  # the user's function: the loop closes over it
        cond, body = _cached(_power_iteration_loop, num_iters, error_tolerance)
        _, z, eig, _ = lax.while_loop(cond, lambda c: body(mvp, c), start)
    else:  # the same loop functions for every call (the matrix in the carry): while_loop
        # caches their jaxprs, so an eager call reuses its compiled loop
        cond, body = _cached(_power_iteration_matrix_loop, num_iters, error_tolerance,
                             precision)  # fmt: skip
        _, z, eig, _, _ = lax.while_loop(cond, body, (*start, matrix))
    return eig, _normalize(z)


def _cached(factory: Any, *args: Any) -> Any:
    """``factory(*args)`` from its cache (the same loop functions for the same numbers),
    or made afresh for unhashable arguments (arrays)."""
    try:
        return factory(*args)
    except TypeError:  # unhashable
        return factory.__wrapped__(*args)


@functools.lru_cache(maxsize=64)
def _power_iteration_loop(num_iters: int, error_tolerance: float) -> tuple[Callable, Callable]:
    def cond(carry):
        vec, z, eig, k = carry[:4]
        residual = tree_norm(tree_sub(z, tree_scale(eig, vec)))
        converged = jnp.abs(residual / eig) < error_tolerance
        return ~converged & (k < num_iters)

    def body(mvp, carry):
        _, z, _, k = carry
        vec = _normalize(z)
        z = mvp(vec)
        return vec, z, tree_vdot(vec, z), k + 1

    return cond, body


@functools.lru_cache(maxsize=64)
def _power_iteration_matrix_loop(num_iters: int, error_tolerance: float,
                                 precision: Any) -> tuple[Callable, Callable]:  # fmt: skip
    cond, body = _cached(_power_iteration_loop, num_iters, error_tolerance)

    def matrix_body(carry):
        matrix = carry[4]
        mvp = functools.partial(jnp.matmul, matrix, precision=precision)
        return (*body(mvp, carry[:4]), matrix)

    return cond, matrix_body


def matrix_inverse_pth_root(
    matrix: jax.typing.ArrayLike,
    p: int,
    num_iters: int = 100,
    ridge_epsilon: float = 1e-6,
    error_tolerance: float = 1e-6,
    precision: lax.Precision = lax.Precision.HIGHEST,
) -> tuple[jax.Array, jax.Array]:
    r"""``(A + eps I)^{-1/p}`` of a symmetric positive semi-definite matrix by the coupled
    Newton iteration (Higham, *Functions of Matrices*, eq. 7.18), as Shampoo uses it.

    .. math::
        M_0 = z (A + \epsilon I),\ H_0 = z^{1/p} I,\ z = \frac{1 + p}{2 \lVert A +
        \epsilon I\rVert_F};\quad
        T_k = \frac{(p + 1) I - M_k}{p},\ M_{k+1} = T_k^p M_k,\ H_{k+1} = H_k T_k

    until ``max|M_k - I| <= error_tolerance``, the error stops decreasing (by more than
    a factor 1.2; the previous ``H`` is then returned) or ``num_iters`` steps.
    ``epsilon = ridge_epsilon * max(lambda_max(A), 1e-16)`` (``lambda_max`` by
    :func:`power_iteration`). Computed in float32 (``p`` in {1, 2, 4, 8}). Same as
    ``optax.matrix_inverse_pth_root``.

    Args:
        matrix: a symmetric PSD ``(n, n)`` array.
        p: the root, 1, 2, 4 or 8.
        num_iters: the most Newton steps (default 100).
        ridge_epsilon: the relative ridge (default 1e-6).
        error_tolerance: the stopping error (default 1e-6).
        precision: the matmul precision (default HIGHEST).

    Returns:
        ``(matrix^(-1/p), error)`` with ``error = max|M - I|`` at the end (0 for
        ``n = 1``).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> root, _ = gradtx.matrix_inverse_pth_root(jnp.diag(jnp.array([4.0, 16.0])), 2)
        >>> [round(float(x), 3) for x in jnp.diag(root)]
        [0.5, 0.25]
    """
    matrix = jnp.asarray(matrix)
    n = matrix.shape[0]
    alpha = jnp.asarray(-1.0 / p, jnp.float32)
    eye = jnp.eye(n, dtype=jnp.float32)
    max_ev, _ = power_iteration(matrix, num_iters=100, error_tolerance=1e-6, precision=precision)
    ridge = ridge_epsilon * jnp.maximum(max_ev, 1e-16)

    if n == 1:
        return (matrix + ridge) ** alpha, jnp.asarray(0)
    damped = matrix + ridge * eye
    z = (1 + p) / (2 * jnp.linalg.norm(damped))
    m0 = damped * z
    h0 = eye * jnp.power(z, 1.0 / p)
    start = (0, m0, h0, h0, jnp.max(jnp.abs(m0 - eye)), True, eye, alpha)
    # the same loop functions for every call with these numbers (eye and alpha in the
    # carry): while_loop caches their jaxprs, so an eager call reuses its compiled loop
    cond, body = _cached(_newton_loop, p, num_iters, error_tolerance, precision)
    _, m, h, old_h, _, improving, _, _ = lax.while_loop(cond, body, start)
    error = jnp.max(jnp.abs(m - eye))
    converged = jnp.asarray(improving, old_h.dtype)
    root = converged * h + (1 - converged) * old_h
    return jnp.asarray(root, matrix.dtype), error


@functools.lru_cache(maxsize=64)
def _newton_loop(p: int, num_iters: int, error_tolerance: float,
                 precision: Any) -> tuple[Callable, Callable]:  # fmt: skip
    """The coupled Newton iteration's ``cond`` and ``body`` (matrix_inverse_pth_root)."""

    def matmul(a, b):
        return jnp.matmul(a, b, precision=precision)

    def power(m):  # m^p for p in (1, 2, 4, 8), by repeated squaring
        def pow_2k(k):
            def f(x):
                for _ in range(k):
                    x = matmul(x, x)
                return x

            return f

        index = jnp.asarray(jnp.round(jnp.log2(p)), jnp.int32)
        return lax.switch(index, [pow_2k(k) for k in range(4)], m)

    def cond(state):
        k, _, _, _, error, improving, _, _ = state
        return (k < num_iters) & (error > error_tolerance) & improving

    def body(state):
        k, m, h, _, error, _, eye, alpha = state
        t = (1 - alpha) * eye + alpha * m
        new_m = matmul(power(t), m)
        new_error = jnp.max(jnp.abs(new_m - eye))
        return k + 1, new_m, matmul(h, t), h, new_error, new_error < error * 1.2, eye, alpha

    return cond, body


def _spectral_radius_upper_bound(matrix: jax.Array) -> jax.Array:
    fro = jnp.linalg.matrix_norm(matrix, ord="fro")
    one = jnp.linalg.matrix_norm(matrix, ord=1) if matrix.size != 0 else 0
    return jnp.minimum(fro, one)


def nnls(
    A: jax.Array,  # noqa: N803 (optax's parameter names)
    b: jax.Array,
    iters: int,
    unroll: int | bool = 1,
    L: jax.typing.ArrayLike | None = None,  # noqa: N803
) -> jax.Array:
    r"""Non-negative least squares, ``argmin_{x >= 0} |A x - b|_2``, by Polyak's fast
    projected gradient.

    .. math::
        x_{k+1} = \max\Big(p_k - \frac{A^\top A p_k - A^\top b}{L}, 0\Big),\quad
        c_{k+1} = \frac{1 + \sqrt{1 + 4 c_k^2}}{2},\quad
        p_{k+1} = x_{k+1} + \frac{c_k - 1}{c_{k+1}} (x_{k+1} - x_k)

    from ``x_0 = p_0 = 0``, ``c_0 = 0``, for ``iters`` steps; ``L`` bounds the spectral
    radius of ``A^T A`` (default ``min(|A^T A|_F, |A^T A|_1)``). Same as ``optax.nnls``.

    Args:
        A: ``(M, N)``.
        b: ``(M,)`` or ``(M, K)``.
        iters: the number of steps.
        unroll: ``lax.scan``'s ``unroll`` (default 1).
        L: the bound above (default None: computed).

    Returns:
        ``x``, ``(N,)`` or ``(N, K)``.

    Raises:
        ValueError: ``A`` is not a matrix, ``b`` not a vector or matrix, or their first
            dimensions differ.

    Reference: Polyak, *Projected gradient method for non-negative least square*,
    Contemporary Mathematics 636, 2015.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> x = gradtx.nnls(jnp.array([[1.0, 2.0], [3.0, 4.0]]), jnp.array([5.0, 6.0]), 1000)
        >>> [round(float(v), 2) for v in x]
        [0.0, 1.7]
    """
    A, b = jnp.asarray(A), jnp.asarray(b)  # noqa: N806
    if A.ndim != 2:
        raise ValueError(f"nnls: A must be a matrix, got shape {A.shape}")
    if b.ndim not in (1, 2) or b.shape[0] != A.shape[0]:
        raise ValueError(
            f"nnls: b must have shape ({A.shape[0]},) or ({A.shape[0]}, K), got {b.shape}"
        )
    Q = A.mT @ A  # noqa: N806
    q = A.mT @ b
    if L is None:
        L = _spectral_radius_upper_bound(Q)  # noqa: N806
    L = jnp.where(L == 0, 1, L)  # noqa: N806

    x = jnp.zeros_like(b, shape=A.shape[-1:] + b.shape[1:])
    # a module-level step (Q, q, L in the carry): scan caches its jaxpr, so an eager call
    # reuses its compiled loop
    (x, *_), _ = lax.scan(_nnls_step, (x, x, 0.0, Q, q, L), length=iters, unroll=unroll)
    return x


def _nnls_step(carry: tuple, _: Any) -> tuple[tuple, None]:
    x, p, c, Q, q, L = carry  # noqa: N806
    cn = (1 + jnp.sqrt(1 + 4 * c**2)) / 2
    s = (c - 1) / cn
    xn = (p - (Q @ p - q) / L).clip(0)
    return (xn, xn + s * (xn - x), cn, Q, q, L), None


__all__ = ["matrix_inverse_pth_root", "nnls", "power_iteration"]
