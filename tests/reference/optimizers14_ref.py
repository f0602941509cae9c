"""NumPy float64 references for the element-wise optimisers of issue 14 (Lion, AdaMax,
RAdam, AdaBelief, signSGD/Signum, Rprop, optimistic gradient descent/Adam, Adan,
NovoGrad, Polyak's step size, torch's averaged SGD).

Written from the papers' algorithms (and, where optax or torch fix a detail the paper
leaves open, from their documented equations), never by calling gradtx or optax. The
``Ref`` protocol is :mod:`transforms_ref`'s: ``init(params)``, then
``update(grads, params) -> the step to add to params``; the k-th update (k = 0, 1, ...)
uses ``lr(k)`` and bias corrections with exponent ``t = k + 1``.

A building block is its optimiser with ``lr=-1`` (``u = -lr * d = d``) and no weight
decay.
"""

from __future__ import annotations

import math

import numpy as np

from .transforms_ref import Ref, as_schedule


class _Decayed(Ref):
    """Shared by the optimisers with decoupled weight decay ``p -= lr (d + wd p)``."""

    def step(self, d, k, params):
        lr, wd = self.lr(self.t - 1), self.wd(self.t - 1)
        mask = self.mask(params) if callable(self.mask) else self.mask
        if wd and (mask is None or mask[k]):
            d = d + wd * params[k]
        return -lr * d


class Lion(_Decayed):
    """Chen et al. (2023), Program 1: ``c = b1 m + (1-b1) g``;
    ``p -= lr (sign(c) + wd p)``; ``m = b2 m + (1-b2) g``. optax's variants of the
    sign: ``mode="smooth"``, ``tanh(beta c)``; ``"refined"``, ``c`` where ``|c| < 1``."""

    def __init__(self, lr, b1=0.9, b2=0.99, weight_decay=0.0, mask=None, mode="hard", beta=1.0):
        self.lr, self.b1, self.b2, self.mode, self.beta = as_schedule(lr), b1, b2, mode, beta
        self.wd, self.mask = as_schedule(weight_decay), mask

    def setup(self, params):
        self.zeros("m", params)

    def update(self, grads, params=None):
        self.t += 1
        out = {}
        for k, g in grads.items():
            m = self.state["m"][k]
            c = self.b1 * m + (1 - self.b1) * g
            self.state["m"][k] = self.b2 * m + (1 - self.b2) * g
            if self.mode == "smooth":
                d = np.tanh(self.beta * c)
            elif self.mode == "refined":
                d = np.where(np.abs(c) < 1.0, c, np.sign(c))
            else:
                d = np.sign(c)
            out[k] = self.step(d, k, params)
        return out


class AdaMax(_Decayed):
    """Kingma & Ba (2015), Algorithm 2 with ``eps`` inside the max (optax/torch):
    ``m = b1 m + (1-b1) g``, ``u = max(b2 u, |g| + eps)``,
    ``p -= lr (m / ((1-b1^t) u) + wd p)`` (AdaMaxW: decoupled decay)."""

    def __init__(self, lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0, mask=None):
        self.lr, self.b1, self.b2, self.eps = as_schedule(lr), b1, b2, eps
        self.wd, self.mask = as_schedule(weight_decay), mask

    def setup(self, params):
        self.zeros("m", params)
        self.zeros("u", params)

    def update(self, grads, params=None):
        self.t += 1
        out = {}
        for k, g in grads.items():
            m = self.b1 * self.state["m"][k] + (1 - self.b1) * g
            u = np.maximum(self.b2 * self.state["u"][k], np.abs(g) + self.eps)
            self.state["m"][k], self.state["u"][k] = m, u
            out[k] = self.step(m / (1 - self.b1**self.t) / u, k, params)
        return out


def _m_hat(b1, m, g, t, nesterov):
    if nesterov:  # Dozat (2016), optax's documented form
        return b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
    return m / (1 - b1**t)


class RAdam(Ref):
    """Liu et al. (2020), Algorithm 2, with optax's threshold (``rho_t >= 5``; the
    paper uses ``> 4``) and ``eps``/``eps_root``:
    ``rho_inf = 2/(1-b2) - 1``, ``rho_t = rho_inf - 2 t b2^t / (1-b2^t)``; if
    ``rho_t >= threshold``: ``r_t = sqrt((rho_t-4)(rho_t-2) rho_inf /
    ((rho_inf-4)(rho_inf-2) rho_t))`` and ``p -= lr r_t m_hat / (sqrt(v_hat + eps_root)
    + eps)``, else ``p -= lr m_hat``."""

    def __init__(self, lr, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, threshold=5.0,
                 nesterov=False):  # fmt: skip
        self.lr, self.b1, self.b2, self.eps, self.eps_root = as_schedule(lr), b1, b2, eps, eps_root
        self.threshold, self.nesterov = threshold, nesterov

    def setup(self, params):
        self.zeros("m", params)
        self.zeros("v", params)

    def update(self, grads, params=None):
        lr = self.lr(self.t)
        self.t += 1
        t, b1, b2 = self.t, self.b1, self.b2
        rho_inf = 2 / (1 - b2) - 1
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        out = {}
        for k, g in grads.items():
            m = b1 * self.state["m"][k] + (1 - b1) * g
            v = b2 * self.state["v"][k] + (1 - b2) * g * g
            self.state["m"][k], self.state["v"][k] = m, v
            m_hat = _m_hat(b1, m, g, t, self.nesterov)
            if rho >= self.threshold:
                r = math.sqrt(
                    (rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)
                )
                d = r * m_hat / (np.sqrt(v / (1 - b2**t) + self.eps_root) + self.eps)
            else:
                d = m_hat
            out[k] = -lr * d
        return out


class AdaBelief(Ref):
    """Zhuang et al. (2020), Algorithm 2: ``m = b1 m + (1-b1) g``,
    ``s = b2 s + (1-b2) (g - m)^2 + eps_root``,
    ``p -= lr m_hat / (sqrt(s / (1-b2^t)) + eps)``."""

    def __init__(self, lr, b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16, nesterov=False):
        self.lr, self.b1, self.b2, self.eps, self.eps_root = as_schedule(lr), b1, b2, eps, eps_root
        self.nesterov = nesterov

    def setup(self, params):
        self.zeros("m", params)
        self.zeros("s", params)

    def update(self, grads, params=None):
        lr = self.lr(self.t)
        self.t += 1
        t, b1, b2 = self.t, self.b1, self.b2
        out = {}
        for k, g in grads.items():
            m = b1 * self.state["m"][k] + (1 - b1) * g
            s = b2 * self.state["s"][k] + (1 - b2) * (g - m) ** 2 + self.eps_root
            self.state["m"][k], self.state["s"][k] = m, s
            m_hat = _m_hat(b1, m, g, t, self.nesterov)
            out[k] = -lr * m_hat / (np.sqrt(s / (1 - b2**t)) + self.eps)
        return out


class Signum(Ref):
    """Bernstein et al. (2018), Algorithm 1 (signSGD, ``beta=None``) and Algorithm 3
    (Signum): ``m = beta m + (1-beta) g`` (no debiasing), ``p -= lr sign(m)``."""

    def __init__(self, lr, beta=None):
        self.lr, self.beta = as_schedule(lr), beta

    def setup(self, params):
        self.zeros("m", params)

    def update(self, grads, params=None):
        lr = self.lr(self.t)
        self.t += 1
        out = {}
        for k, g in grads.items():
            if self.beta is not None:
                g = self.beta * self.state["m"][k] + (1 - self.beta) * g
                self.state["m"][k] = g
            out[k] = -lr * np.sign(g)
        return out


class Rprop(Ref):
    """Riedmiller & Braun (1993) / Igel & Huesken (2000), iRprop-, as torch.optim.Rprop
    documents it: ``s = g * g_prev``; the step size is multiplied by ``eta_plus``
    (``s > 0``) or ``eta_minus`` (``s < 0``) and clipped to ``[min, max]`` (unchanged
    when ``s = 0``, optax's rule); where ``s < 0`` the gradient is set to 0 (no step,
    and it is remembered as 0); ``d = step_size * sign(g)``, ``p -= d``.

    ``lagged=True`` is optax 0.2.8's output, which is this step delayed by one update:
    the k-th update is the (k-1)-th ``d`` (0 at the first update), or 0 where ``s < 0``.
    """

    def __init__(self, lr, eta_minus=0.5, eta_plus=1.2, min_step=1e-6, max_step=50.0,
                 lagged=True, block=False):  # fmt: skip
        self.lr, self.eta_minus, self.eta_plus, self.sign = lr, eta_minus, eta_plus, -1.0
        if block:  # scale_by_rprop: the step before the sign flip
            self.sign = 1.0
        self.min_step, self.max_step, self.lagged = min_step, max_step, lagged

    def setup(self, params):
        self.zeros("step", params, self.lr)
        self.zeros("g_prev", params)
        self.zeros("d_prev", params)

    def update(self, grads, params=None):
        out = {}
        for k, g in grads.items():
            s = g * self.state["g_prev"][k]
            factor = np.where(s > 0, self.eta_plus, self.eta_minus)
            clipped = np.clip(self.state["step"][k] * factor, self.min_step, self.max_step)
            step = np.where(s == 0, self.state["step"][k], clipped)
            g = np.where(s < 0, 0.0, g)
            d = step * np.sign(g)
            u = np.where(s < 0, 0.0, self.state["d_prev"][k]) if self.lagged else d
            out[k] = self.sign * u
            self.state["step"][k], self.state["g_prev"][k], self.state["d_prev"][k] = step, g, d
        return out


class OptimisticGD(Ref):
    """Generalised optimistic gradient descent (Mokhtari et al. 2020, optax's form):
    ``p -= lr ((alpha + beta) g_t - beta g_{t-1})`` with ``g_0 = g_1``. ``adam=True``
    feeds it Adam's (or NAdam's) step instead of ``g`` (Daskalakis et al. 2018's
    optimistic Adam)."""

    def __init__(self, lr, alpha=1.0, beta=1.0, adam=False, b1=0.9, b2=0.999, eps=1e-8,
                 eps_root=0.0, nesterov=True):  # fmt: skip
        self.lr, self.alpha, self.beta = as_schedule(lr), alpha, beta
        self.adam, self.b1, self.b2, self.eps, self.eps_root = adam, b1, b2, eps, eps_root
        self.nesterov = nesterov

    def setup(self, params):
        self.zeros("prev", params)
        self.zeros("m", params)
        self.zeros("v", params)

    def update(self, grads, params=None):
        lr = self.lr(self.t)
        self.t += 1
        t, b1, b2 = self.t, self.b1, self.b2
        out = {}
        for k, g in grads.items():
            if self.adam:
                m = b1 * self.state["m"][k] + (1 - b1) * g
                v = b2 * self.state["v"][k] + (1 - b2) * g * g
                self.state["m"][k], self.state["v"][k] = m, v
                g = _m_hat(b1, m, g, t, self.nesterov) / (
                    np.sqrt(v / (1 - b2**t) + self.eps_root) + self.eps
                )
            prev = g if t == 1 else self.state["prev"][k]
            self.state["prev"][k] = g
            out[k] = -lr * ((self.alpha + self.beta) * g - self.beta * prev)
        return out


class Adan(_Decayed):
    """Xie et al. (2022), Algorithm 1, as optax implements it (decays ``b`` on the old
    value, every average bias-corrected): ``d = g - g_prev`` (0 at the first step),
    ``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) d``,
    ``n = b3 n + (1-b3) (g + (1-b2) d)^2``,
    ``p -= lr ((m_hat + (1-b2) v_hat) / (sqrt(n_hat + eps_root) + eps) + wd p)``."""

    def __init__(self, lr, b1=0.98, b2=0.92, b3=0.99, eps=1e-8, eps_root=1e-8,
                 weight_decay=0.0, mask=None):  # fmt: skip
        self.lr, self.b1, self.b2, self.b3 = as_schedule(lr), b1, b2, b3
        self.eps, self.eps_root = eps, eps_root
        self.wd, self.mask = as_schedule(weight_decay), mask

    def setup(self, params):
        for name in ("m", "v", "n", "g"):
            self.zeros(name, params)

    def update(self, grads, params=None):
        self.t += 1
        t, b1, b2, b3 = self.t, self.b1, self.b2, self.b3
        out = {}
        for k, g in grads.items():
            st = self.state
            d = np.zeros_like(g) if t == 1 else g - st["g"][k]
            m = b1 * st["m"][k] + (1 - b1) * g
            v = b2 * st["v"][k] + (1 - b2) * d
            n = b3 * st["n"][k] + (1 - b3) * (g + (1 - b2) * d) ** 2
            st["m"][k], st["v"][k], st["n"][k], st["g"][k] = m, v, n, g
            m_hat, v_hat, n_hat = m / (1 - b1**t), v / (1 - b2**t), n / (1 - b3**t)
            d_out = (m_hat + (1 - b2) * v_hat) / (np.sqrt(n_hat + self.eps_root) + self.eps)
            out[k] = self.step(d_out, k, params)
        return out


class NovoGrad(Ref):
    """Ginsburg et al. (2019), Algorithm 1, per leaf: ``v_1 = ||g_1||^2``,
    ``v_t = b2 v + (1-b2) ||g_t||^2``; ``s = g / (sqrt(v + eps_root) + eps) + wd p``;
    ``m_1 = s``, ``m_t = b1 m + s``; ``p -= lr m``."""

    def __init__(self, lr, b1=0.9, b2=0.25, eps=1e-6, eps_root=0.0, weight_decay=0.0):
        self.lr, self.b1, self.b2, self.eps, self.eps_root = as_schedule(lr), b1, b2, eps, eps_root
        self.wd = weight_decay

    def setup(self, params):
        self.zeros("m", params)
        self.state["v"] = {k: 0.0 for k in params}

    def update(self, grads, params=None):
        lr = self.lr(self.t)
        self.t += 1
        out = {}
        for k, g in grads.items():
            sq = float(np.sum(g * g))
            v = sq if self.t == 1 else self.b2 * self.state["v"][k] + (1 - self.b2) * sq
            s = g / (math.sqrt(v + self.eps_root) + self.eps) + self.wd * params[k]
            m = s if self.t == 1 else self.b1 * self.state["m"][k] + s
            self.state["v"][k], self.state["m"][k] = v, m
            out[k] = -lr * m
        return out


class PolyakSGD(Ref):
    """Loizou et al. (2021), SPS_max: ``gamma = min((f - f*) / (||g||^2 + eps), gamma_max)``
    (``sps+``: the gap clipped at 0; 0 when ``||g||^2 + eps`` is at most float64's
    epsilon), ``p -= gamma s_k g`` with ``s_k = scaling(k)``. As optax's alias chains
    ``sgd(scaling)`` BEFORE the Polyak step, ``g`` in ``gamma`` is the scaled gradient
    ``s_k g`` (the same when ``scaling = 1``). ``value`` is the (constant) loss."""

    def __init__(self, max_lr=1.0, scaling=1.0, f_min=0.0, eps=0.0, variant="sps",
                 value=None):  # fmt: skip
        self.max_lr, self.scaling, self.f_min, self.eps = max_lr, as_schedule(scaling), f_min, eps
        self.variant, self.value = variant, value

    def update(self, grads, params=None):
        s = self.scaling(self.t)
        self.t += 1
        grads = {k: s * g for k, g in grads.items()}
        sq = sum(float(np.sum(g * g)) for g in grads.values())
        gap = self.value - self.f_min
        if self.variant == "sps+":
            gap = max(gap, 0.0)
        gamma = 0.0 if sq + self.eps <= np.finfo(float).eps else min(gap / (sq + self.eps),
                                                                     self.max_lr)  # fmt: skip
        return {k: -gamma * g for k, g in grads.items()}


class ASGD(Ref):
    """torch.optim.ASGD's documented algorithm (``_single_tensor_asgd``), one group:
    ``grad += wd p``; ``p *= 1 - lambd eta``; ``p -= eta grad``; ``ax = p`` if
    ``mu == 1`` else ``ax += mu (p - ax)``; then, with ``step`` the 1-based count,
    ``eta = lr / (1 + lambd lr step)^alpha``, ``mu = 1 / max(1, step - t0)``
    (``eta_0 = lr``, ``mu_0 = 1``). ``self.ax`` holds the average."""

    def __init__(self, lr=0.01, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0):
        self.lr, self.lambd, self.alpha, self.t0, self.wd = lr, lambd, alpha, t0, weight_decay

    def setup(self, params):
        self.eta, self.mu = self.lr, 1.0
        self.ax = {k: np.zeros_like(p) for k, p in params.items()}

    def update(self, grads, params=None):
        self.t += 1
        out = {}
        for k, g in grads.items():
            p = params[k]
            g = g + self.wd * p
            new_p = p * (1 - self.lambd * self.eta) - self.eta * g
            if self.mu == 1:
                self.ax[k] = new_p.copy()
            else:
                self.ax[k] = self.ax[k] + (new_p - self.ax[k]) * self.mu
            out[k] = new_p - p
        self.eta = self.lr / ((1 + self.lambd * self.lr * self.t) ** self.alpha)
        self.mu = 1 / max(1, self.t - self.t0)
        return out
