"""Float64 NumPy reference of Mechanic, written from the paper (Cutkosky, Defazio & Mehta,
*Mechanic: A Learning Rate Tuner*, NeurIPS 2023, arXiv:2306.00144, Algorithm 1) around a
base SGD, momentum or Adam written here. Never imports gradtx or optax.

Two details follow optax's ``mechanize`` (the paper leaves them to the implementation):
``Delta_t`` is recovered from the params as ``(x_t - x_ref) / (sum(s) + eps)`` (no buffer
is stored), and ``h`` is clipped to ``[-m_{t-1}, m_{t-1}]`` in the wealth update, with
``m_t = max(beta m_{t-1}, |h_t| + eps)``.
"""

from __future__ import annotations

import math

import numpy as np


class SGD:
    def __init__(self, lr):
        self.lr = lr

    def init(self, params):
        pass

    def step(self, grads):
        return {k: -self.lr * g for k, g in grads.items()}


class Momentum:
    """Heavy ball, as torch / optax ``sgd(lr, momentum)``: ``m = beta m + g``, ``-lr m``."""

    def __init__(self, lr, beta=0.9):
        self.lr, self.beta = lr, beta

    def init(self, params):
        self.m = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads):
        self.m = {k: self.beta * self.m[k] + g for k, g in grads.items()}
        return {k: -self.lr * m for k, m in self.m.items()}


class Adam:
    def __init__(self, lr, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps

    def init(self, params):
        self.t = 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads):
        self.t += 1
        out = {}
        for k, g in grads.items():
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            m_hat = self.m[k] / (1 - self.b1**self.t)
            v_hat = self.v[k] / (1 - self.b2**self.t)
            out[k] = -self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        return out


def _dot(a, b):
    return sum(float(np.sum(a[k] * b[k])) for k in a)


class Mechanic:
    def __init__(self, base, weight_decay=1e-2, eps=1e-8, s_init=1e-6, num_betas=6):
        self.base, self.wd, self.eps, self.s_init = base, weight_decay, eps, s_init
        self.betas = np.array([1.0 - 0.1**i for i in range(1, num_betas + 1)])

    def init(self, params):
        self.base.init(params)
        n = len(self.betas)
        self.x_ref = {k: v.copy() for k, v in params.items()}
        self.r, self.m, self.v = np.zeros(n), np.zeros(n), np.zeros(n)
        self.s = np.full(n, self.s_init)

    def update(self, grads, params):
        u = self.base.step(grads)
        s_sum = float(np.sum(self.s))
        delta = {k: (params[k] - self.x_ref[k]) / (s_sum + self.eps) for k in params}
        g_norm = math.sqrt(_dot(grads, grads))
        x_norm = math.sqrt(_dot(params, params))
        g_wd = {k: grads[k] + self.wd * g_norm * s_sum * params[k] / (x_norm + self.eps)
                for k in grads}  # fmt: skip
        h = _dot(g_wd, delta)
        clipped = np.clip(h, -self.m, self.m)
        self.m = np.maximum(self.betas * self.m, abs(h) + self.eps)
        self.v = self.betas**2 * self.v + h * h
        self.r = self.betas * self.r - self.s * clipped
        wealth = self.s_init / len(self.betas) * self.m + np.maximum(self.r, 0.0)
        self.s = wealth / (np.sqrt(self.v) + self.eps)
        s_new = float(np.sum(self.s))
        return {k: self.x_ref[k] + s_new * (delta[k] + u[k]) - params[k] for k in params}
