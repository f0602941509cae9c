"""Float64 NumPy references for gradtx.tree (optax.tree_utils' math), written from the
definitions (never importing gradtx or optax). Trees are lists of NumPy arrays."""

from __future__ import annotations

import numpy as np


def _abs_sq(x):
    x = np.asarray(x, np.complex128)
    return x.real**2 + x.imag**2


def norm(leaves, ord=None, squared=False):  # noqa: A002
    if ord in (None, 2):
        s = sum(float(np.sum(_abs_sq(x))) for x in leaves)
        return s if squared else np.sqrt(s)
    if ord == 1:
        out = sum(float(np.sum(np.abs(x))) for x in leaves)
    else:
        out = max(float(np.max(np.abs(x))) for x in leaves)
    return out**2 if squared else out


def vdot(xs, ys):
    return sum(
        np.sum(np.conj(np.asarray(x, np.complex128)) * y) for x, y in zip(xs, ys, strict=True)
    )


def update_moment(gs, ms, decay, order):
    return [
        (1 - decay) * np.asarray(g, np.float64) ** order + decay * m
        for g, m in zip(gs, ms, strict=True)
    ]


def update_infinity_moment(gs, ms, decay, eps):
    return [
        np.maximum(np.abs(g) + eps, decay * np.asarray(m, np.float64))
        for g, m in zip(gs, ms, strict=True)
    ]


def update_moment_per_elem_norm(gs, ms, decay, order):
    return [
        (1 - decay) * _abs_sq(g) ** (order / 2) + decay * m for g, m in zip(gs, ms, strict=True)
    ]


def bias_correction(ms, decay, count):
    return [np.asarray(m, np.float64) / (1 - decay**count) for m in ms]


def safe_norm(x, min_norm):
    n = np.sqrt(np.sum(_abs_sq(x)))
    return max(n, min_norm)


def safe_root_mean_squares(x, min_rms):
    return max(np.sqrt(np.mean(_abs_sq(x))), min_rms)
