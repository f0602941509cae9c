"""Float64 NumPy references of DoG and DoWG, written from the papers (Ivgi, Hinder &
Carmon, arXiv:2302.12022, Algorithm 1; Khaled, Mishchenko & Jin, arXiv:2305.16284,
Algorithm 1) and the authors' PyTorch ``DoG.step`` (formll/dog: ``reps_rel``,
``init_eta``, ``weight_decay`` added to the gradient before the norms). Never imports
gradtx or optax. Norms are over the whole tree (one step size).
"""

from __future__ import annotations

import math

import numpy as np


def _norm(tree):
    return math.sqrt(sum(float(np.sum(v * v)) for v in tree.values()))


class DoG:
    def __init__(self, lr=1.0, reps_rel=1e-6, eps=1e-8, weight_decay=0.0, init_eta=None,
                 init_distance=None):  # fmt: skip
        self.lr, self.reps_rel, self.eps, self.wd = lr, reps_rel, eps, weight_decay
        self.init_eta, self.init_distance = init_eta, init_distance

    def init(self, params):
        self.x0 = {k: v.copy() for k, v in params.items()}
        self.first, self.G, self.k = True, 0.0, 0
        if self.init_eta is not None:
            self.rbar = 0.0
        elif self.init_distance is not None:
            self.rbar = self.init_distance
        else:
            self.rbar = self.reps_rel * (1 + _norm(params))

    def update(self, grads, params):
        g = {k: grads[k] + self.wd * params[k] for k in grads}
        self.rbar = max(self.rbar, _norm({k: params[k] - self.x0[k] for k in params}))
        self.G += _norm(g) ** 2
        eta = self.rbar / math.sqrt(self.G + self.eps)
        if self.first and self.init_eta is not None:
            eta = self.init_eta
        self.first = False
        lr = self.lr(self.k) if callable(self.lr) else self.lr
        self.k += 1
        return {k: -lr * eta * v for k, v in g.items()}


class DoWG:
    def __init__(self, lr=1.0, init_sq_dist=None, eps=1e-4, weight_decay=0.0):
        self.lr, self.eps, self.wd = lr, eps, weight_decay
        self.r2 = eps if init_sq_dist is None else init_sq_dist

    def init(self, params):
        self.x0 = {k: v.copy() for k, v in params.items()}
        self.rbar2, self.v, self.k = self.r2, 0.0, 0

    def update(self, grads, params):
        g = {k: grads[k] + self.wd * params[k] for k in grads}
        self.rbar2 = max(self.rbar2, _norm({k: params[k] - self.x0[k] for k in params}) ** 2)
        self.v += self.rbar2 * _norm(g) ** 2
        eta = self.rbar2 / (math.sqrt(self.v) + self.eps)
        lr = self.lr(self.k) if callable(self.lr) else self.lr
        self.k += 1
        return {k: -lr * eta * u for k, u in g.items()}
