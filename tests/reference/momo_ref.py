"""Float64 NumPy references of MoMo and MoMo-Adam, written from the paper (Schaipp et al.,
*MoMo: Momentum Models for Adaptive Learning Rates*, arXiv:2305.07583, Algorithms 1-2)
and the authors' PyTorch ``Momo.step`` / ``MomoAdam.step`` (fabian-sp/MoMo; one parameter
group, ``bias_correction=False`` for MoMo, ``use_fstar`` = adapt_lower_bound). Never
imports gradtx or optax.

``convention="authors"`` divides the whole step by ``1 + lr * weight_decay`` (their
``p = (p - tau d) / (1 + lr wd)``); ``"optax"`` divides only the params
(``u = -lr wd / (1 + lr wd) p - tau d``). ``tau = 0`` when ``|d|^2`` is below float64's
epsilon (optax's guard; the authors divide).
"""

from __future__ import annotations

import numpy as np

_TINY = float(np.finfo(float).eps)


def _dot(a, b):
    return sum(float(np.sum(a[k] * b[k])) for k in a)


class Momo:
    def __init__(self, lr=1.0, beta=0.9, lower_bound=0.0, weight_decay=0.0, use_fstar=False,
                 convention="optax"):  # fmt: skip
        self.lr, self.beta, self.lb0, self.wd = lr, beta, lower_bound, weight_decay
        self.use_fstar, self.convention = use_fstar, convention

    def init(self, params):
        self.k, self.lb = 0, self.lb0

    def update(self, grads, params, loss):
        beta, lr = self.beta, (self.lr(self.k) if callable(self.lr) else self.lr)
        if self.k == 0:  # the averages start at the first values
            self.loss_avg = loss
            self.d = {k: g.copy() for k, g in grads.items()}
            self.gamma = _dot(grads, params)
        else:
            self.loss_avg = beta * self.loss_avg + (1 - beta) * loss
            self.d = {k: beta * self.d[k] + (1 - beta) * grads[k] for k in grads}
            self.gamma = beta * self.gamma + (1 - beta) * _dot(grads, params)
        self.k += 1
        dot, norm, c = _dot(self.d, params), _dot(self.d, self.d), 1 + lr * self.wd
        if self.use_fstar:
            cap = c * self.loss_avg + dot - c * self.gamma
            if cap < c * self.lb:
                self.lb = max(cap / (2 * c), self.lb0)
        nom = c * (self.loss_avg - self.lb) + dot - c * self.gamma
        t1 = 0.0 if norm <= _TINY else max(nom, 0.0) / norm
        tau = min(lr, t1)
        if self.use_fstar:
            h = self.loss_avg + dot - self.gamma
            self.lb = max(h - 0.5 * tau * norm, self.lb0)
        if self.convention == "authors":
            return {k: (params[k] - tau * self.d[k]) / c - params[k] for k in params}
        return {k: -(lr * self.wd) / c * params[k] - tau * self.d[k] for k in params}


class MomoAdam:
    def __init__(self, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, lower_bound=0.0,
                 weight_decay=0.0, use_fstar=False, convention="optax"):  # fmt: skip
        self.lr, (self.b1, self.b2), self.eps = lr, betas, eps
        self.lb0, self.wd, self.use_fstar, self.convention = (lower_bound, weight_decay,
                                                              use_fstar, convention)  # fmt: skip

    def init(self, params):
        self.k, self.lb, self.loss_avg, self.gamma = 0, self.lb0, 0.0, 0.0
        self.d = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def update(self, grads, params, loss):
        b1, b2 = self.b1, self.b2
        lr = self.lr(self.k) if callable(self.lr) else self.lr
        self.k += 1
        bc1, bc2 = 1 - b1**self.k, 1 - b2**self.k
        D = {}
        for k, g in grads.items():
            self.d[k] = b1 * self.d[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            D[k] = np.sqrt(self.v[k] / bc2) + self.eps
        self.gamma = b1 * self.gamma + (1 - b1) * _dot(grads, params)
        self.loss_avg = (1 - b1) * loss + b1 * self.loss_avg
        dot = _dot(self.d, params)
        norm = sum(float(np.sum(self.d[k] * self.d[k] / D[k])) for k in grads)
        c = 1 + lr * self.wd
        if self.use_fstar:
            cap = c * self.loss_avg + dot - c * self.gamma
            if cap < c * bc1 * self.lb:
                self.lb = max(cap / (2 * c * bc1), self.lb0)
        nom = c * (self.loss_avg - bc1 * self.lb) + dot - c * self.gamma
        t1 = 0.0 if norm <= _TINY else max(nom, 0.0) / norm
        tau = min(lr / bc1, t1)
        if self.use_fstar:
            h = self.loss_avg + dot - self.gamma
            self.lb = max((h - 0.5 * tau * norm) / bc1, self.lb0)
        if self.convention == "authors":
            return {k: (params[k] - tau * self.d[k] / D[k]) / c - params[k] for k in params}
        return {k: -(lr * self.wd) / c * params[k] - tau * self.d[k] / D[k] for k in params}
