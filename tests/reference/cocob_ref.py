"""Float64 NumPy reference of COCOB-Backprop, written from the paper (Orabona & Tommasi,
*Training Deep Networks without Learning Rates Through Coin Betting*, NeurIPS 2017,
Algorithm 2), per coordinate. Never imports gradtx or optax.

optax's ``cocob`` first adds weight decay and multiplies the gradient by the learning
rate (both off by default: then this is Algorithm 2 exactly); the reference does the same.
"""

from __future__ import annotations

import numpy as np


class COCOB:
    def __init__(self, lr=1.0, alpha=100.0, eps=1e-8, weight_decay=0.0):
        self.lr, self.alpha, self.eps, self.wd = lr, alpha, eps, weight_decay

    def init(self, params):
        self.k = 0
        self.w1 = {k: v.copy() for k, v in params.items()}
        self.L = {k: np.full_like(v, self.eps) for k, v in params.items()}
        self.G = {k: np.zeros_like(v) for k, v in params.items()}
        self.R = {k: np.zeros_like(v) for k, v in params.items()}
        self.theta = {k: np.zeros_like(v) for k, v in params.items()}

    def update(self, grads, params):
        lr = self.lr(self.k) if callable(self.lr) else self.lr
        self.k += 1
        out = {}
        for n, g in grads.items():
            w = params[n]
            g = lr * (g + self.wd * w)
            self.L[n] = np.maximum(self.L[n], np.abs(g))
            self.G[n] = self.G[n] + np.abs(g)
            self.R[n] = np.maximum(self.R[n] - g * (w - self.w1[n]), 0.0)
            self.theta[n] = self.theta[n] + g
            L = self.L[n]
            bet = self.theta[n] / (L * np.maximum(self.G[n] + L, self.alpha * L))
            w_new = self.w1[n] - bet * (L + self.R[n])
            out[n] = w_new - w
        return out
