"""Float64 NumPy reference of Prodigy, written from the paper (Mishchenko & Defazio,
arXiv:2306.06101, Algorithm 4: Adam version) and the authors' PyTorch ``Prodigy.step``
(konstmish/prodigy, ``prodigyopt/prodigy.py``; one parameter group, ``growth_rate=inf``,
``decouple=True``, ``slice_p=1``). Never imports gradtx or optax.

``use_bias_correction`` is the authors' flag (their default False; optax always applies
the correction). ``lr`` is a float or a function of the 0-based step (a torch LR scheduler
sets the group's lr before each step).
"""

from __future__ import annotations

import math

import numpy as np


class Prodigy:
    def __init__(self, lr=1.0, betas=(0.9, 0.999), beta3=None, eps=1e-8, d0=1e-6, d_coef=1.0,
                 weight_decay=0.0, safeguard_warmup=False, use_bias_correction=True):  # fmt: skip
        self.lr, self.b1, self.b2 = lr, betas[0], betas[1]
        self.b3 = math.sqrt(self.b2) if beta3 is None else beta3
        self.eps, self.d0, self.d_coef, self.wd = eps, d0, d_coef, weight_decay
        self.safeguard, self.use_bc = safeguard_warmup, use_bias_correction

    def init(self, params):
        self.k, self.d, self.d_max, self.d_numerator = 0, self.d0, self.d0, 0.0
        self.p0 = {k: v.copy() for k, v in params.items()}
        self.s = {k: np.zeros_like(v) for k, v in params.items()}
        self.exp_avg = {k: np.zeros_like(v) for k, v in params.items()}
        self.exp_avg_sq = {k: np.zeros_like(v) for k, v in params.items()}

    def update(self, grads, params):
        b1, b2, b3, k, d = self.b1, self.b2, self.b3, self.k, self.d
        lr = self.lr(k) if callable(self.lr) else self.lr
        bc = math.sqrt(1 - b2 ** (k + 1)) / (1 - b1 ** (k + 1)) if self.use_bc else 1.0
        dlr = d * lr * bc
        self.d_numerator *= b3
        d_denom = 0.0
        for n, g in grads.items():
            p = params[n]
            self.d_numerator += (d / self.d0) * dlr * float(np.dot(g.ravel(),
                                                                    (self.p0[n] - p).ravel()))
            self.exp_avg[n] = b1 * self.exp_avg[n] + d * (1 - b1) * g
            self.exp_avg_sq[n] = b2 * self.exp_avg_sq[n] + d * d * (1 - b2) * g * g
            rate = (d / self.d0) * (d if self.safeguard else dlr)
            self.s[n] = b3 * self.s[n] + rate * g
            d_denom += float(np.sum(np.abs(self.s[n])))
        self.k += 1
        if d_denom == 0:  # the authors return before the step
            return {n: np.zeros_like(g) for n, g in grads.items()}
        d_hat = self.d_coef * self.d_numerator / d_denom
        if d == self.d0:
            d = max(d, d_hat)
        self.d_max = max(self.d_max, d_hat)
        d = self.d = min(self.d_max, d * math.inf) if d > 0 else self.d_max
        out = {}
        for n in grads:
            p = params[n]
            denom = np.sqrt(self.exp_avg_sq[n]) + d * self.eps
            out[n] = -self.wd * dlr * p - dlr * self.exp_avg[n] / denom
        return out
