"""Float64 references for optax's linear-algebra utilities (``power_iteration``,
``matrix_inverse_pth_root``, ``nnls``) and ``multi_normal``'s density, from their
definitions (an eigendecomposition, Polyak's projected gradient, the Gaussian density).
Never imports gradtx or optax."""

from __future__ import annotations

import math

import numpy as np


def dominant_eigenpair(a: np.ndarray) -> tuple[float, np.ndarray]:
    """The eigenvalue of largest modulus of a symmetric matrix and its unit eigenvector."""
    w, v = np.linalg.eigh(np.asarray(a, np.float64))
    i = int(np.argmax(np.abs(w)))
    return float(w[i]), v[:, i]


def inverse_pth_root(a: np.ndarray, p: int, ridge_epsilon: float = 1e-6) -> np.ndarray:
    """``(A + eps I)^{-1/p}`` of a symmetric PSD matrix, ``eps = ridge_epsilon *
    max(lambda_max, 1e-16)``, by its eigendecomposition."""
    a = np.asarray(a, np.float64)
    w, v = np.linalg.eigh(a)
    eps = ridge_epsilon * max(float(np.max(np.abs(w))), 1e-16)
    return (v * (w + eps) ** (-1.0 / p)) @ v.T


def nnls_fpg(a: np.ndarray, b: np.ndarray, iters: int) -> np.ndarray:
    """Polyak's fast projected gradient for ``min_{x >= 0} |A x - b|`` (2015), step
    ``1/L`` with ``L = min(|A^T A|_F, |A^T A|_1)``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    q_mat, q = a.T @ a, a.T @ b
    lip = min(np.linalg.norm(q_mat, "fro"), np.linalg.norm(q_mat, 1)) or 1.0
    x = np.zeros(a.shape[1:] + b.shape[1:])
    p, c = x, 0.0
    for _ in range(iters):
        cn = (1 + math.sqrt(1 + 4 * c * c)) / 2
        xn = np.clip(p - (q_mat @ p - q) / lip, 0, None)
        p = xn + (c - 1) / cn * (xn - x)
        x, c = xn, cn
    return x


def diag_normal_log_prob(x, loc, log_scale, n_param_axes: int) -> np.ndarray:
    """The log density of ``N(loc, diag(exp(log_scale))^2)``, summed over the last
    ``n_param_axes`` axes."""
    x, loc, log_scale = (np.asarray(t, np.float64) for t in (x, loc, log_scale))
    z = (x - loc) / np.exp(log_scale)
    lp = -0.5 * z * z - log_scale - 0.5 * math.log(2 * math.pi)
    return lp.sum(axis=tuple(range(-n_param_axes, 0)))
