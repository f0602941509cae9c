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


# ----------------------------------------------------------------------------------------
# Factored second moments (Adafactor) and SM3
# ----------------------------------------------------------------------------------------


def factored_axes(shape, factored=True, min_dim=128):
    """Adafactor's rule: the two largest axes ``(d1, d0)`` (second largest, largest) if
    the second largest is at least ``min_dim``; else None (a full second moment)."""
    if not factored or len(shape) < 2:
        return None
    order = np.argsort(shape)
    if shape[order[-2]] < min_dim:
        return None
    return int(order[-2]), int(order[-1])


class ScaleByFactoredRms(Ref):
    """Shazeer & Stern (2018), Algorithms 4/5 with ``beta2_t = 1 - (t - s)^-c``
    (``t = 1, 2, ...``; ``c`` = decay_rate, ``s`` = step_offset):
    ``R = b R + (1-b) mean_{d0}(g^2+eps)``, ``C = b C + (1-b) mean_{d1}(g^2+eps)``,
    ``V = (R / mean(R)) outer C``, ``u = g / sqrt(V)``; unfactored:
    ``v = b v + (1-b)(g^2+eps)``, ``u = g / sqrt(v)``."""

    def __init__(self, factored=True, decay_rate=0.8, step_offset=0, min_dim=128, eps=1e-30):
        self.factored, self.c, self.s, self.min_dim, self.eps = (
            factored, decay_rate, step_offset, min_dim, eps)  # fmt: skip

    def setup(self, params):
        self.state = {"r": {}, "c": {}, "v": {}}
        for k, p in params.items():
            dims = factored_axes(np.shape(p), self.factored, self.min_dim)
            if dims is None:
                self.state["v"][k] = np.zeros(np.shape(p))
            else:
                d1, d0 = dims
                self.state["r"][k] = np.zeros(np.delete(np.shape(p), d0))
                self.state["c"][k] = np.zeros(np.delete(np.shape(p), d1))

    def update(self, grads, params=None):
        self.t += 1
        b = 1.0 - float(self.t - self.s) ** (-self.c)
        out = {}
        for k, g in grads.items():
            g2 = g * g + self.eps
            dims = factored_axes(np.shape(g), self.factored, self.min_dim)
            if dims is None:
                v = b * self.state["v"][k] + (1 - b) * g2
                self.state["v"][k] = v
                out[k] = g / np.sqrt(v)
                continue
            d1, d0 = dims
            r = b * self.state["r"][k] + (1 - b) * g2.mean(axis=d0)
            c = b * self.state["c"][k] + (1 - b) * g2.mean(axis=d1)
            self.state["r"][k], self.state["c"][k] = r, c
            # V[i, j] = R[i] C[j] / mean(R): R indexed by axis d1, C by axis d0
            rr = np.expand_dims(r / r.mean(axis=d1 - 1 if d1 > d0 else d1, keepdims=True), d0)
            cc = np.expand_dims(c, d1)
            out[k] = g / np.sqrt(rr * cc)
        return out


class ClipByBlockRms(Ref):
    """``u / max(1, rms(u) / threshold)`` per block (Adafactor's update clipping)."""

    def __init__(self, threshold):
        self.threshold = threshold

    def update(self, grads, params=None):
        return {k: u / max(1.0, rms(u) / self.threshold) for k, u in grads.items()}


class _Ema(Ref):
    """Undebiased moving average of the updates: ``m = d m + (1-d) u``, output ``m``."""

    def __init__(self, decay):
        self.decay = decay

    def setup(self, params):
        self.zeros("m", params)

    def update(self, grads, params=None):
        out = {}
        for k, u in grads.items():
            self.state["m"][k] = self.decay * self.state["m"][k] + (1 - self.decay) * u
            out[k] = self.state["m"][k]
        return out


class _Scale(Ref):
    def __init__(self, s):
        self.s = as_schedule(s)

    def update(self, grads, params=None):
        s = self.s(self.t)
        self.t += 1
        return {k: s * u for k, u in grads.items()}


def Adafactor(lr=None, min_dim=128, decay_rate=0.8, decay_offset=0, param_scale=True,
              clipping_threshold=1.0, momentum=None, weight_decay_rate=None, eps=1e-30,
              factored=True, weight_decay_mask=None) -> Ref:  # fmt: skip
    """Shazeer & Stern (2018) in optax's order: factored RMS scaling, update clipping,
    learning rate, relative step ``max(rms(p), 1e-3)``, momentum, weight decay, ``-1``."""
    refs: list[Ref] = [ScaleByFactoredRms(factored, decay_rate, decay_offset, min_dim, eps)]
    if clipping_threshold is not None:
        refs.append(ClipByBlockRms(clipping_threshold))
    if lr is not None:
        refs.append(_Scale(lr))
    if param_scale:
        refs.append(ScaleByParamBlockRms(1e-3))
    if momentum is not None:
        refs.append(_Ema(momentum))
    if weight_decay_rate is not None:
        refs.append(AddDecayedWeights(weight_decay_rate, weight_decay_mask))
    refs.append(_Scale(-1.0))
    return Chain(*refs)


class ScaleBySM3(Ref):
    """Anil et al. (2019), SM3-II with per-axis covers: for rank >= 2,
    ``nu = c g^2 + b2 min_i a_i`` (each ``a_i`` broadcast along its axis),
    ``a_i = max over the other axes of nu``; rank <= 1 keeps ``nu`` itself
    (``c = 1`` when ``b2 = 1``, else ``1 - b2``). Then ``g~ = g / sqrt(nu + eps)``
    (0 where ``nu = 0``) and momentum ``m = b1 m + (1-b1) g~``, the output."""

    def __init__(self, b1=0.9, b2=1.0, eps=1e-8):
        self.b1, self.b2, self.eps = b1, b2, eps
        self.coeff = 1.0 if b2 == 1.0 else 1.0 - b2

    def setup(self, params):
        self.zeros("m", params)
        self.acc = {}
        for k, p in params.items():
            shape = np.shape(p)
            self.acc[k] = [np.zeros(shape)] if len(shape) < 2 else [np.zeros(n) for n in shape]

    def update(self, grads, params=None):
        out = {}
        for k, g in grads.items():
            acc = self.acc[k]
            if g.ndim < 2:
                prev = acc[0]
            else:
                prev = np.full(g.shape, np.inf)
                for i, a in enumerate(acc):
                    shape = [1] * g.ndim
                    shape[i] = g.shape[i]
                    prev = np.minimum(prev, a.reshape(shape))
            nu = self.coeff * g * g + self.b2 * prev
            scaled = np.where(nu > 0, g / np.sqrt(nu + self.eps), 0.0)
            if g.ndim < 2:
                self.acc[k] = [nu]
            else:
                self.acc[k] = [
                    nu.max(axis=tuple(j for j in range(g.ndim) if j != i)) for i in range(g.ndim)
                ]
            m = self.b1 * self.state["m"][k] + (1 - self.b1) * scaled
            self.state["m"][k] = m
            out[k] = m
        return out


def SM3(lr, momentum=0.9) -> Ref:
    return Chain(ScaleBySM3(momentum), _Scale(-lr))


# ----------------------------------------------------------------------------------------
# DoG and L-BFGS
# ----------------------------------------------------------------------------------------


class ScaleByDistanceOverGradients(Ref):
    """Ivgi et al. (2023), layer-wise DoG: per block
    ``r = max(r, |p - p0|)`` (``r_0 = reps (1 + |p0|)``), ``G += |g|^2``,
    ``u = s r / sqrt(G + eps) g``."""

    def __init__(self, reps_rel=1e-6, eps=1e-8, global_scale=1.0):
        self.reps, self.eps, self.s = reps_rel, eps, global_scale

    def setup(self, params):
        self.p0 = {k: np.array(p) for k, p in params.items()}
        self.r = {k: self.reps * (1 + norm(p)) for k, p in params.items()}
        self.G = {k: 0.0 for k in params}

    def update(self, grads, params=None):
        out = {}
        for k, g in grads.items():
            self.r[k] = max(self.r[k], norm(params[k] - self.p0[k]))
            self.G[k] += norm(g) ** 2
            out[k] = self.s * self.r[k] / math.sqrt(self.G[k] + self.eps) * g
        return out


class ScaleByLBFGS(Ref):
    """Nocedal & Wright, Algorithm 7.4 (two-loop recursion) over the last ``m`` pairs
    ``s = p_k - p_{k-1}``, ``y = g_k - g_{k-1}`` (``rho = 1/<y, s>``, 0 if that is 0),
    ``H_0 = gamma I`` with ``gamma = <s, y>/<y, y>`` of the newest pair (1 if
    ``<y, y> = 0``), and ``gamma_0 = min(1, 1/|g_0|)`` at the first step (optax's
    choice). Works on the whole tree as one flat vector."""

    def __init__(self, memory_size=10, scale_init_precond=True):
        self.m, self.scale = memory_size, scale_init_precond

    def setup(self, params):
        self.keys = list(params)
        self.shapes = {k: np.shape(p) for k, p in params.items()}
        self.pairs: list[tuple[np.ndarray, np.ndarray, float]] = []  # newest last
        self.prev = None

    def flat(self, tree):
        return np.concatenate([np.ravel(tree[k]) for k in self.keys])

    def unflat(self, v):
        out, i = {}, 0
        for k in self.keys:
            n = int(np.prod(self.shapes[k]))
            out[k] = v[i : i + n].reshape(self.shapes[k])
            i += n
        return out

    def update(self, grads, params=None):
        g, p = self.flat(grads), self.flat(params)
        if self.prev is None:
            gamma = min(1.0, 1.0 / np.linalg.norm(g)) if self.scale else 1.0
        else:
            s, y = p - self.prev[0], g - self.prev[1]
            sy = float(s @ y)
            self.pairs.append((s, y, 0.0 if sy == 0.0 else 1.0 / sy))
            self.pairs = self.pairs[-self.m :]
            yy = float(y @ y)
            gamma = (sy / yy if yy > 0 else 1.0) if self.scale else 1.0
        self.prev = (p, g)
        q = g.copy()
        alphas = []
        for s, y, rho in reversed(self.pairs):
            a = rho * float(s @ q)
            q = q - a * y
            alphas.append(a)
        r = gamma * q
        for (s, y, rho), a in zip(self.pairs, reversed(alphas), strict=True):
            b = rho * float(y @ r)
            r = r + (a - b) * s
        return self.unflat(r)


def backtracking_descent(f, grad, x0, steps, max_backtracking_steps=15, slope_rtol=1e-4,
                         decrease_factor=0.8, increase_factor=1.5, max_learning_rate=1.0,
                         atol=0.0, rtol=0.0):  # fmt: skip
    """Gradient descent with the Armijo backtracking search (Nocedal & Wright,
    Algorithm 3.1): the first trial is ``min(increase_factor * eta_prev, max_lr)``,
    then ``eta *= decrease_factor`` until ``f(x + eta u) <= (1 + rtol) f(x) + eta c
    <u, g> + atol`` or ``max_backtracking_steps`` reductions; a non-finite end takes a
    zero step. Returns the iterates and the accepted step sizes."""
    x, eta_prev = np.array(x0, np.float64), 1.0
    xs, etas = [], []
    for _ in range(steps):
        value, g = f(x), grad(x)
        u = -g
        slope = float(u @ g)
        eta, err, i = min(increase_factor * eta_prev, max_learning_rate), math.inf, 0
        while not err <= atol and i <= max_backtracking_steps:
            if i > 0:
                eta *= decrease_factor
            new = f(x + eta * u)
            err = new - (1 + rtol) * value - eta * slope_rtol * slope
            err = math.inf if math.isnan(err) else max(err, 0.0)
            i += 1
        eta = 0.0 if math.isinf(err) else eta
        x = x + eta * u
        eta_prev = eta
        xs.append(x.copy())
        etas.append(eta)
    return np.stack(xs), np.array(etas)
