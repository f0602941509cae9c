"""Float64 NumPy references for Sophia (Liu et al., 2023) and SAM (Foret et al., 2021),
written from the papers' algorithms and the authors' code (Liuhong99/Sophia,
google-research/sam). They never import gradtx or optax.

Sophia takes the Hessian-diagonal estimate as a function of the params (the tests use
objectives whose Hessian is diagonal, where Hutchinson's estimate ``u * (H u)`` is exact
for any signs). SAM takes the loss gradient as a function of the params. Where optax
and the paper differ, a flag selects the convention.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Tree = dict[str, np.ndarray]


def _lr(lr, step):
    return lr(step) if callable(lr) else lr


class Sophia:
    """Sophia-H, the paper's Algorithm 3 with decoupled weight decay times the lr:
    ``m = b1 m + (1-b1) g``; every ``k`` steps ``h = b2 h + (1-b2) hess(p)``;
    ``p -= lr (clip(m / max(gamma h, eps), rho) + wd p)``.

    ``optax=True`` (what optax.contrib and levanter do): ``m`` is bias-corrected and the
    step divides by ``h`` *before* this step's refresh. ``optax=False``: the paper
    (refresh first, no bias correction)."""

    def __init__(self, lr, hess: Callable[[Tree], Tree], b1=0.965, b2=0.99, eps=1e-8,
                 weight_decay=1e-4, gamma=0.01, clip_threshold=1.0, update_interval=10,
                 optax=True):
        self.lr, self.hess, self.b1, self.b2, self.eps = lr, hess, b1, b2, eps
        self.wd, self.gamma, self.rho, self.k, self.optax = (
            weight_decay, gamma, clip_threshold, update_interval, optax)

    def init(self, params: Tree) -> None:
        self.t = 0
        self.m = {k: np.zeros(np.shape(v)) for k, v in params.items()}
        self.h = {k: np.zeros(np.shape(v)) for k, v in params.items()}

    def _refresh(self, params):
        est = self.hess(params)
        for k in self.h:
            self.h[k] = self.b2 * self.h[k] + (1 - self.b2) * est[k]

    def update(self, grads: Tree, params: Tree) -> Tree:
        refresh = self.t % self.k == 0
        lr = _lr(self.lr, self.t)
        self.t += 1
        if refresh and not self.optax:
            self._refresh(params)
        out = {}
        for k, g in grads.items():
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            m = self.m[k] / (1 - self.b1**self.t) if self.optax else self.m[k]
            ratio = m / np.maximum(self.gamma * self.h[k], self.eps)
            if self.rho is not None:
                ratio = np.clip(ratio, -self.rho, self.rho)
            out[k] = -lr * (ratio + self.wd * params[k])
        if refresh and self.optax:
            self._refresh(params)
        return out


def global_norm(tree: Tree) -> float:
    return math.sqrt(sum(float(np.sum(v * v)) for v in tree.values()))


class SAM:
    """SAM's step (Foret et al., Algorithm 1; google-research/sam's ``train``): from the
    outer params ``w``, ``n_adv`` ascent steps ``w_adv += rho g / ||g||`` with ``g`` the
    gradient at ``w_adv`` (one step in the paper), then the outer optimiser, SGD with
    heavy-ball momentum ``v = mu v + g_adv; w -= lr v`` (torch's and optax's ``sgd``),
    with ``g_adv`` the gradient at the last adversarial point."""

    def __init__(self, grad: Callable[[Tree], Tree], lr, rho, momentum=0.0, n_adv=1):
        self.grad, self.lr, self.rho, self.mu, self.n_adv = grad, lr, rho, momentum, n_adv

    def init(self, params: Tree) -> None:
        self.v = {k: np.zeros(np.shape(p)) for k, p in params.items()}

    def step(self, params: Tree) -> Tree:
        """One SAM step: returns the new outer params."""
        w_adv = {k: np.array(p, np.float64) for k, p in params.items()}
        for _ in range(self.n_adv):
            g = self.grad(w_adv)
            n = global_norm(g)
            w_adv = {k: w_adv[k] + self.rho * g[k] / n for k in w_adv}
        g_adv = self.grad(w_adv)
        out = {}
        for k, p in params.items():
            self.v[k] = self.mu * self.v[k] + g_adv[k]
            out[k] = p - self.lr * self.v[k]
        return out


class DPSGD:
    """DP-SGD (Abadi et al., 2016, Algorithm 1): clip each example's gradient to global
    norm ``C``, sum, add ``N(0, sigma^2 C^2)`` noise, divide by the batch size ``B``;
    then heavy-ball momentum ``v = mu v + g`` (Nesterov: ``g + mu v``) and ``-lr``.
    The standard-normal noise of each step is given (``noise[k]`` per leaf), so the
    reference draws nothing."""

    def __init__(self, lr, l2_norm_clip, noise_multiplier, momentum=None, nesterov=False):
        self.lr, self.c, self.sigma = lr, l2_norm_clip, noise_multiplier
        self.mu, self.nesterov = momentum, nesterov

    def init(self, params: Tree) -> None:
        self.v = {k: np.zeros(np.shape(p)) for k, p in params.items()}

    def aggregate(self, per_example: Tree, noise: Tree) -> Tree:
        keys = list(per_example)
        b = per_example[keys[0]].shape[0]
        norms = np.sqrt(sum(np.sum(per_example[k].reshape(b, -1) ** 2, axis=1) for k in keys))
        factor = np.minimum(1.0, self.c / np.where(norms > 0, norms, 1.0))
        out = {}
        for k in keys:
            g = per_example[k]
            clipped = np.tensordot(factor, g, axes=1)
            out[k] = (clipped + self.sigma * self.c * noise[k]) / b
        return out

    def update(self, per_example: Tree, noise: Tree) -> Tree:
        g = self.aggregate(per_example, noise)
        if self.mu is None:
            return {k: -self.lr * v for k, v in g.items()}
        out = {}
        for k in g:
            self.v[k] = self.mu * self.v[k] + g[k]
            step = g[k] + self.mu * self.v[k] if self.nesterov else self.v[k]
            out[k] = -self.lr * step
        return out


class Adam:
    """Adam on one array (Kingma & Ba), the base optimiser of the GaLore reference."""

    def __init__(self, b1=0.9, b2=0.999, eps=1e-8):
        self.b1, self.b2, self.eps = b1, b2, eps
        self.t, self.m, self.v = 0, None, None

    def __call__(self, g: np.ndarray) -> np.ndarray:
        if self.m is None:
            self.m, self.v = np.zeros_like(g), np.zeros_like(g)
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        m_hat, v_hat = self.m / (1 - self.b1**self.t), self.v / (1 - self.b2**self.t)
        return m_hat / (np.sqrt(v_hat) + self.eps)


class GaLore:
    """GaLore (Zhao et al., 2024, Algorithm 1) with an Adam base, decoupled weight decay
    and ``-lr``: every ``gap`` steps ``P`` = the top-``r`` left (``m >= n``, optax's side)
    or right singular vectors of the matrix gradient; ``R = P^T G`` (or ``G Q``); the
    update is ``scale * P Adam(R)`` (or ``Adam(R) Q^T``). ``matrix[k]`` gives the leaf's
    2-D view as ``(to_2d, from_2d)`` or None (plain Adam). Singular vectors are defined
    up to sign: the tests use cases where the sign cannot matter (one projector for the
    whole run, or a sign-equivariant stateless base)."""

    def __init__(self, lr, rank, gap, matrix, scale=1.0, weight_decay=0.0, base=None):
        self.lr, self.rank, self.gap, self.matrix = lr, rank, gap, matrix
        self.scale, self.wd = scale, weight_decay
        self.base = base or Adam

    def init(self, params: Tree) -> None:
        self.t = 0
        self.opt = {k: self.base() for k in params}
        self.proj: dict = {}

    def update(self, grads: Tree, params: Tree) -> Tree:
        refresh = self.t % self.gap == 0
        self.t += 1
        out = {}
        for k, g in grads.items():
            view = self.matrix.get(k)
            if view is None:
                u = self.opt[k](g)
            else:
                to_2d, from_2d = view
                g2 = to_2d(g)
                m, n = g2.shape
                r = min(self.rank, m, n)
                if refresh:
                    left, _, right_t = np.linalg.svd(g2, full_matrices=False)
                    self.proj[k] = left[:, :r] if m >= n else right_t[:r].T
                p = self.proj[k]
                low = p.T @ g2 if m >= n else g2 @ p
                step = self.opt[k](low)
                u = self.scale * from_2d(p @ step if m >= n else step @ p.T)
            out[k] = -self.lr * (u + self.wd * params[k])
        return out
