"""Float64 NumPy references for optax's clipping and small transforms in gradtx
(gradtx/transforms/_clipping.py, _small.py), written from the definitions (optax's
docstrings, Brock et al. 2021 for AGC, Abadi et al. 2016 for per-example clipping,
Yong et al. 2020 for centralization); never importing gradtx or optax."""

from __future__ import annotations

import numpy as np


def clip(g, delta):
    return np.clip(np.asarray(g, np.float64), -delta, delta)


def clip_by_block_rms(g, tau):
    g = np.asarray(g, np.float64)
    return g / max(1.0, np.sqrt(np.mean(np.abs(g) ** 2)) / tau)


def _unit_norm(x):
    x = np.asarray(x, np.float64)
    if np.squeeze(x).ndim <= 1:
        n = np.sqrt(np.sum(x**2, keepdims=True))
    elif x.ndim in (2, 3):
        n = np.sqrt(np.sum(x**2, axis=0, keepdims=True))
    else:
        n = np.sqrt(np.sum(x**2, axis=tuple(range(x.ndim - 1)), keepdims=True))
    return np.broadcast_to(n, x.shape)


def adaptive_grad_clip(g, p, lam, eps=1e-3):
    gn, pn = _unit_norm(g), _unit_norm(p)
    mx = lam * np.maximum(pn, eps)
    g = np.asarray(g, np.float64)
    return np.where(gn < mx, g, g * mx / np.maximum(gn, 1e-6))


def per_example_global_norm_clip(leaves, c):
    """``leaves``: list of arrays with batch axis 0. Returns (sums, num_clipped)."""
    b = leaves[0].shape[0]
    norms = np.sqrt(
        [sum(np.sum(np.asarray(x[i], np.float64) ** 2) for x in leaves) for i in range(b)]
    )
    mult = np.where(norms > 0, np.minimum(c / np.where(norms > 0, norms, 1.0), 1.0), 1.0)
    return [np.tensordot(mult, np.asarray(x, np.float64), axes=1) for x in leaves], int(
        np.sum(mult < 1)
    )


def centralize(g):
    g = np.asarray(g, np.float64)
    return g - g.mean(axis=tuple(range(1, g.ndim)), keepdims=True) if g.ndim > 1 else g


def keep_params_nonnegative(u, p):
    u, p = np.asarray(u, np.float64), np.asarray(p, np.float64)
    return np.where(p + u < 0, -p, u)


def normalize_by_update_norm(leaves, scale_factor=1.0, eps=1e-6):
    n = np.sqrt(sum(np.sum(np.asarray(x, np.float64) ** 2) for x in leaves))
    return [np.asarray(x, np.float64) * scale_factor / (n + eps) for x in leaves]
