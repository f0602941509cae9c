"""Float64 NumPy references for optax.contrib's Adam variants (issue 15): AdEMAMix and its
simplified form, ADOPT, ACProp, MADGRAD, and ``normalize``.

Each is written from the paper and the authors' PyTorch code, as a whole optimiser
step on a parameter (``p <- p - ...``), per leaf, in float64; the update returned is
``p_new - p``. They never import gradtx or optax. Where the authors' code and
optax.contrib differ, a flag selects the convention (named after whose it is), and the
tests say which one gradtx follows. Protocol: ``init(params)``, then
``update(grads, params) -> updates`` on dicts of arrays (``harness.run_reference``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Tree = dict[str, np.ndarray]


def _zeros(params: Tree) -> Tree:
    return {k: np.zeros(np.shape(v), np.float64) for k, v in params.items()}


def _const(v):
    return v if callable(v) else (lambda step: v)


def _lr(lr, step):
    """A learning rate or a schedule of the 0-based step (optax's convention)."""
    return lr(step) if callable(lr) else lr


# --- schedules of the AdEMAMix authors (apple/ml-ademamix, pytorch/ademamix.py) ---


def linear_warmup_scheduler(step, alpha_end, alpha_start=0.0, warmup=1):
    if step < warmup:
        a = step / float(warmup)
        return (1.0 - a) * alpha_start + a * alpha_end
    return alpha_end


def linear_hl_warmup_scheduler(step, beta_end, beta_start=0.0, warmup=1):
    """beta3's warm-up, linear in the half-life ``log(0.5)/log(beta) - 1``."""

    def f(beta, eps=1e-8):
        return math.log(0.5) / math.log(beta + eps) - 1

    def f_inv(t):
        return math.pow(0.5, 1 / (t + 1))

    if step < warmup:
        a = step / float(warmup)
        return f_inv((1.0 - a) * f(beta_start) + a * f(beta_end))
    return beta_end


class AdEMAMix:
    """The authors' ``AdEMAMix.step``: ``alpha_fn``/``beta3_fn`` are functions of the
    authors' 1-based step ``t`` (their warm-up schedulers, or constants)."""

    def __init__(self, lr, betas=(0.9, 0.999, 0.9999), alpha=5.0, eps=1e-8, weight_decay=0.0,
                 eps_root=0.0):
        self.lr, self.betas, self.eps, self.wd = lr, betas, eps, weight_decay
        self.eps_root = eps_root
        self.alpha_fn, self.beta3_fn = _const(alpha), _const(betas[2])

    def init(self, params: Tree) -> None:
        self.t = 0
        self.fast, self.slow, self.sq = _zeros(params), _zeros(params), _zeros(params)

    def update(self, grads: Tree, params: Tree) -> Tree:
        b1, b2, _ = self.betas
        self.t += 1
        bc1, bc2 = 1 - b1**self.t, 1 - b2**self.t
        alpha, b3 = self.alpha_fn(self.t), self.beta3_fn(self.t)
        out = {}
        for k, g in grads.items():
            self.fast[k] = b1 * self.fast[k] + (1 - b1) * g
            self.slow[k] = b3 * self.slow[k] + (1 - b3) * g
            self.sq[k] = b2 * self.sq[k] + (1 - b2) * g * g
            denom = np.sqrt(self.sq[k] / bc2 + self.eps_root) + self.eps
            update = (self.fast[k] / bc1 + alpha * self.slow[k]) / denom + self.wd * params[k]
            out[k] = -_lr(self.lr, self.t - 1) * update
        return out


class SimplifiedAdEMAMix:
    """Morwani et al. (2025), the simplified AdEMAMix of their Algorithm (Adam with an
    undamped momentum ``m = b1 m + g`` and the current gradient mixed in with ``alpha``);
    decoupled weight decay times the learning rate."""

    def __init__(self, lr, b1=0.99, b2=0.95, alpha=0.0, eps=1e-8, weight_decay=0.0):
        self.lr, self.b1, self.b2, self.alpha = lr, b1, b2, alpha
        self.eps, self.wd = eps, weight_decay

    def init(self, params: Tree) -> None:
        self.t = 0
        self.m, self.n = _zeros(params), _zeros(params)

    def update(self, grads: Tree, params: Tree) -> Tree:
        self.t += 1
        out = {}
        for k, g in grads.items():
            self.m[k] = self.b1 * self.m[k] + g
            self.n[k] = self.b2 * self.n[k] + (1 - self.b2) * g * g
            n_hat = self.n[k] / (1 - self.b2**self.t)
            u = (self.m[k] + self.alpha * g) / (np.sqrt(n_hat) + self.eps)
            out[k] = -_lr(self.lr, self.t - 1) * (u + self.wd * params[k])
        return out


class ADOPT:
    """The authors' current ``_single_tensor_adopt`` (iShohei220/adopt, src/adopt): at
    step 0 only ``v = g^2``; then ``m.lerp_(clip(g / max(sqrt(v), eps), step^0.25), 1-b1)``,
    ``p -= lr m``, ``v = b2 v + (1-b2) g^2``. ``nesterov`` is optax's extra (the look-ahead
    ``b1 m + (1-b1) n``); ``clip=None`` turns clipping off."""

    def __init__(self, lr, b1=0.9, b2=0.9999, eps=1e-6, clip: Callable | None = None,
                 nesterov=False, use_clipping=True):
        self.lr, self.b1, self.b2, self.eps, self.nesterov = lr, b1, b2, eps, nesterov
        self.clip = (clip or (lambda step: step**0.25)) if use_clipping else None

    def init(self, params: Tree) -> None:
        self.step = 0
        self.m, self.v = _zeros(params), _zeros(params)

    def update(self, grads: Tree, params: Tree) -> Tree:
        lr = _lr(self.lr, self.step)
        out = {}
        for k, g in grads.items():
            if self.step == 0:
                self.v[k] = self.v[k] + g * g
                out[k] = np.zeros_like(g)
                continue
            n = g / np.maximum(np.sqrt(self.v[k]), self.eps)
            if self.clip is not None:
                c = self.clip(self.step)
                n = np.clip(n, -c, c)
            self.m[k] = self.m[k] + (1 - self.b1) * (n - self.m[k])  # lerp
            step = self.b1 * self.m[k] + (1 - self.b1) * n if self.nesterov else self.m[k]
            out[k] = -lr * step
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
        self.step += 1
        return out


class ACProp:
    """The authors' ``ACProp.step`` (juntang-zhuang/ACProp-Optimizer; non-rectified,
    ``momentum_update=False``, decoupled weight decay), float64. Their ``eps`` is added in
    place to the stored variance just before each use (from step 2), then to the root.

    ``residual='authors'`` centres on the updated mean ``g_t - m_t`` as their code and
    the paper do; ``residual='optax'`` on the previous mean ``g_t - m_{t-1}`` as
    optax.contrib's code does. ``eps_root`` (optax's second epsilon) is added to the
    stored variance after each update instead of the authors' in-place ``eps``.
    """

    def __init__(self, lr, b1=0.9, b2=0.999, eps=1e-16, weight_decay=0.0, residual="optax",
                 eps_root=None):
        self.lr, self.b1, self.b2, self.eps, self.wd = lr, b1, b2, eps, weight_decay
        self.residual, self.eps_root = residual, eps_root

    def init(self, params: Tree) -> None:
        self.t = 0
        self.m, self.v = _zeros(params), _zeros(params)

    def update(self, grads: Tree, params: Tree) -> Tree:
        b1, b2 = self.b1, self.b2
        self.t += 1
        bc1, bc2 = 1 - b1**self.t, 1 - b2 ** (self.t - 1)
        lr = _lr(self.lr, self.t - 1)
        out = {}
        for k, g in grads.items():
            p = params[k] * (1.0 - lr * self.wd)
            m_prev = self.m[k].copy()
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            if self.t <= 1:
                p = p - lr * self.m[k] / bc1
            else:
                if self.eps_root is None:
                    self.v[k] = self.v[k] + self.eps
                denom = np.sqrt(self.v[k]) / math.sqrt(bc2) + self.eps
                p = p - (lr / bc1) * (g * bc1) / denom
            r = g - (self.m[k] if self.residual == "authors" else m_prev)
            self.v[k] = b2 * self.v[k] + (1 - b2) * r * r
            if self.eps_root is not None:
                self.v[k] = self.v[k] + self.eps_root
            out[k] = p - params[k]
        return out


class MADGRAD:
    """The authors' ``MADGRAD.step`` (facebookresearch/madgrad, madgrad.py), coupled
    weight decay (``decouple_decay=False``); ``x0`` is the params at the first step."""

    def __init__(self, lr, momentum=0.9, weight_decay=0.0, eps=1e-6):
        self.lr, self.momentum, self.wd, self.eps = lr, momentum, weight_decay, eps

    def init(self, params: Tree) -> None:
        self.k = 0
        self.s, self.sq = _zeros(params), _zeros(params)
        self.x0 = {k: np.array(v, np.float64) for k, v in params.items()}

    def update(self, grads: Tree, params: Tree) -> Tree:
        lr = _lr(self.lr, self.k) + self.eps
        ck = 1 - self.momentum
        lamb = lr * math.pow(self.k + 1, 0.5)
        out = {}
        for k, g in grads.items():
            p = params[k]
            g = g + self.wd * p
            self.sq[k] = self.sq[k] + lamb * g * g
            rms = np.cbrt(self.sq[k]) + self.eps
            self.s[k] = self.s[k] + lamb * g
            z = self.x0[k] - self.s[k] / rms
            out[k] = (p * (1 - ck) + ck * z) - p
        self.k += 1
        return out


class Normalize:
    """``g / ||g||`` over the whole tree (the adversarial direction of SAM)."""

    def init(self, params: Tree) -> None:
        pass

    def update(self, grads: Tree, params: Tree | None = None) -> Tree:
        norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
        return {k: g / norm for k, g in grads.items()}
