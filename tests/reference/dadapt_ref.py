"""Float64 NumPy reference of D-Adaptation Adam(W), written from the paper (Defazio &
Mishchenko, arXiv:2301.07733, Algorithm 4 / Appendix: Adam version) and the authors'
PyTorch ``DAdaptAdam.step`` (facebookresearch/dadaptation, ``dadapt_adam.py``; one
parameter group, ``layer_scale=1``, ``growth_rate=inf``). Never imports gradtx or optax.

``use_bias_correction`` and ``decouple`` are the authors' flags (their defaults are
False and False; optax's ``dadapt_adamw`` is ``use_bias_correction=True,
decouple=True``). ``lr`` is a float or a function of the 0-based step.
"""

from __future__ import annotations

import math

import numpy as np


class DAdaptAdam:
    def __init__(self, lr=1.0, betas=(0.9, 0.999), eps=1e-8, d0=1e-6, weight_decay=0.0,
                 use_bias_correction=True, decouple=True):  # fmt: skip
        self.lr, (self.b1, self.b2), self.eps, self.d0 = lr, betas, eps, d0
        self.wd, self.use_bc, self.decouple = weight_decay, use_bias_correction, decouple

    def init(self, params):
        self.k, self.d, self.numerator_weighted = 0, self.d0, 0.0
        self.s = {k: np.zeros_like(v) for k, v in params.items()}
        self.exp_avg = {k: np.zeros_like(v) for k, v in params.items()}
        self.exp_avg_sq = {k: np.zeros_like(v) for k, v in params.items()}

    def update(self, grads, params):
        b1, b2, k, d = self.b1, self.b2, self.k, self.d
        lr = self.lr(k) if callable(self.lr) else self.lr
        bc = math.sqrt(1 - b2 ** (k + 1)) / (1 - b1 ** (k + 1)) if self.use_bc else 1.0
        dlr = d * lr * bc
        sb2 = math.sqrt(b2)
        numerator_acum, sk_l1 = 0.0, 0.0
        for n, g in grads.items():
            p = params[n]
            if self.wd != 0 and not self.decouple:
                g = g + self.wd * p
            denom = np.sqrt(self.exp_avg_sq[n]) + self.eps
            numerator_acum += dlr * float(np.dot(g.ravel(), (self.s[n] / denom).ravel()))
            self.exp_avg[n] = b1 * self.exp_avg[n] + dlr * (1 - b1) * g
            self.exp_avg_sq[n] = b2 * self.exp_avg_sq[n] + (1 - b2) * g * g
            self.s[n] = sb2 * self.s[n] + dlr * (1 - sb2) * g
            sk_l1 += float(np.sum(np.abs(self.s[n])))
        self.numerator_weighted = sb2 * self.numerator_weighted + (1 - sb2) * numerator_acum
        self.k += 1
        if sk_l1 == 0:  # the authors return before the step
            return {n: np.zeros_like(g) for n, g in grads.items()}
        d_hat = self.numerator_weighted / ((1 - sb2) * sk_l1)
        self.d = max(d, d_hat)
        out = {}
        for n in grads:
            p = params[n]
            denom = np.sqrt(self.exp_avg_sq[n]) + self.eps
            decay = -self.wd * dlr * p if self.decouple else 0.0
            out[n] = decay - self.exp_avg[n] / denom
        return out
