"""NumPy float64 references for the non-elementwise optimisers: per-block (trust ratio,
LARS, LAMB, Fromage, block norm/RMS), factored (Adafactor) and SM3.

Written from the papers' update equations in the form optax documents (its defaults
and conventions), never by calling gradtx or optax. Same ``Ref`` protocol as
:mod:`transforms_ref`: ``init(params)``, then ``update(grads, params) -> updates``.
"""

from __future__ import annotations

import math

import numpy as np

from .transforms_ref import (
    AddDecayedWeights,
    Chain,
    Ref,
    ScaleByAdam,
    ScaleByLearningRate,
    Schedule,
    Trace,
    as_schedule,
)


def norm(x: np.ndarray) -> float:
    """Frobenius norm of a whole block."""
    return math.sqrt(float(np.sum(np.abs(x) ** 2)))


def rms(x: np.ndarray) -> float:
    return math.sqrt(float(np.mean(np.abs(x) ** 2))) if np.size(x) else 0.0


# ----------------------------------------------------------------------------------------
# Per-block (layer-wise) scalings
# ----------------------------------------------------------------------------------------


class ScaleByTrustRatio(Ref):
    """You et al. (2017): ``u' = c max(|p|, n) / (max(|u|, n) + eps) u`` per block;
    ``u' = u`` when either floored norm is 0. ``mask[k]`` False leaves pass through."""

    def __init__(self, min_norm=0.0, trust_coefficient=1.0, eps=0.0, mask=None):
        self.min_norm, self.c, self.eps, self.mask = min_norm, trust_coefficient, eps, mask

    def update(self, grads, params=None):
        out = {}
        for k, u in grads.items():
            if self.mask is not None and not self.mask[k]:
                out[k] = u
                continue
            pn = max(norm(params[k]), self.min_norm)
            un = max(norm(u), self.min_norm)
            ratio = 1.0 if pn == 0.0 or un == 0.0 else self.c * pn / (un + self.eps)
            out[k] = u * ratio
        return out


class ScaleByParamBlockNorm(Ref):
    """``u' = max(|p|, s_min) u`` per block."""

    def __init__(self, min_scale=1e-3):
        self.min_scale = min_scale

    def update(self, grads, params=None):
        return {k: u * max(norm(params[k]), self.min_scale) for k, u in grads.items()}


class ScaleByParamBlockRms(Ref):
    """``u' = max(rms(p), s_min) u`` per block (Adafactor's relative step)."""

    def __init__(self, min_scale=1e-3):
        self.min_scale = min_scale

    def update(self, grads, params=None):
        return {k: u * max(rms(params[k]), self.min_scale) for k, u in grads.items()}


def LAMB(lr, b1=0.9, b2=0.999, eps=1e-6, eps_root=0.0, weight_decay=0.0, mask=None) -> Ref:
    """You et al. (2020), Algorithm 2 with optax's eps placement:
    ``r = m_hat/(sqrt(v_hat + eps_root) + eps) + wd p``, ``u = -lr |p|/|r| r``."""
    return Chain(
        ScaleByAdam(b1, b2, eps, eps_root),
        AddDecayedWeights(weight_decay, mask),
        ScaleByTrustRatio(),
        ScaleByLearningRate(lr),
    )


def LARS(lr, weight_decay=0.0, weight_decay_mask=None, trust_coefficient=0.001, eps=0.0,
         trust_ratio_mask=None, momentum=0.9, nesterov=False) -> Ref:  # fmt: skip
    """You, Gitman & Ginsburg (2017), Algorithm 1 (optax's order: the trust ratio on
    ``g + wd p``, then the learning rate, then heavy-ball momentum)."""
    return Chain(
        AddDecayedWeights(weight_decay, weight_decay_mask),
        ScaleByTrustRatio(trust_coefficient=trust_coefficient, eps=eps, mask=trust_ratio_mask),
        ScaleByLearningRate(lr),
        Trace(momentum, nesterov),
    )


class Fromage(Ref):
    """Bernstein et al. (2020), Algorithm 1:
    ``p_t = (p - lr max(|p|,n)/max(|g|,n) g) / sqrt(1 + lr^2)`` per block; the update is
    ``p_t - p``."""

    def __init__(self, lr: float | Schedule, min_norm: float = 1e-6):
        self.lr, self.min_norm = as_schedule(lr), min_norm

    def update(self, grads, params=None):
        lr = self.lr(self.t)
        self.t += 1
        out = {}
        for k, g in grads.items():
            p = params[k]
            pn, gn = max(norm(p), self.min_norm), max(norm(g), self.min_norm)
            ratio = 1.0 if pn == 0.0 or gn == 0.0 else pn / gn
            out[k] = (p - lr * ratio * g) / math.sqrt(1 + lr**2) - p
        return out


