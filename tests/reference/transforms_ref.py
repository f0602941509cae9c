"""NumPy float64 references for every gradtx building block and optimiser.

Written from the published update equations (the papers, optax's and torch's documented
algorithms), never by calling gradtx or optax. A tree is a ``dict`` of NumPy arrays.

Each reference is a small stateful object (a test oracle, not library code)::

    ref = Adam(lr=1e-3)
    ref.init(params)
    updates = ref.update(grads, params)    # the step to add to params

``t`` counts the updates made so far; the k-th update (k = 0, 1, ...) uses
``schedule(k)`` and bias corrections with exponent ``k + 1``, the convention of optax
and of torch's ``state['step']``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

Tree = dict[str, np.ndarray]
Schedule = Callable[[int], float]


def as_schedule(value: float | Schedule) -> Schedule:
    """A float learning rate as a constant schedule; a schedule unchanged."""
    if callable(value):
        return value
    return lambda k: value


def tmap(fn: Callable[..., Any], *trees: Tree) -> Tree:
    """Applies ``fn`` leaf by leaf to trees with the same keys."""
    return {k: fn(*(t[k] for t in trees)) for k in trees[0]}


def to64(tree: Any) -> Tree:
    """A dict of arrays (of any float dtype) as float64 NumPy arrays."""
    return {k: np.asarray(v, np.float64) for k, v in tree.items()}


def noise_std(eta: float, gamma: float, t: int) -> float:
    """Neelakantan et al. (2015): ``sigma_t = sqrt(eta / t^gamma)``, ``t = 1, 2, ...``."""
    return math.sqrt(eta / t**gamma)


class Ref:
    """Base of the references: ``init`` resets the step counter ``t`` and the state."""

    def init(self, params: Tree) -> None:
        self.t = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.setup(params)

    def setup(self, params: Tree) -> None:
        """Creates the per-leaf state; stateless references have none."""

    def zeros(self, name: str, params: Tree, value: float = 0.0) -> None:
        self.state[name] = {k: np.full(np.shape(p), value, np.float64) for k, p in params.items()}


class Chain(Ref):
    """``u = r_n(... r_1(g))``."""

    def __init__(self, *refs: Ref):
        self.refs = refs

    def init(self, params: Tree) -> None:
        for r in self.refs:
            r.init(params)

    def update(self, grads: Tree, params: Tree | None = None) -> Tree:
        for r in self.refs:
            grads = r.update(grads, params)
        return grads


# ----------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------


class Scale(Ref):
    """``u = s g``."""

    def __init__(self, step_size: float):
        self.step_size = step_size

    def update(self, grads, params=None):
        return tmap(lambda g: self.step_size * g, grads)


class ScaleBySchedule(Ref):
    """``u_k = s(k) g_k`` for the k-th update, k = 0, 1, ..."""

    def __init__(self, schedule: Schedule):
        self.schedule = schedule

    def update(self, grads, params=None):
        s = self.schedule(self.t)
        self.t += 1
        return tmap(lambda g: s * g, grads)


class ScaleByLearningRate(ScaleBySchedule):
    """``u_k = -lr(k) g_k``; a float lr is a constant schedule."""

    def __init__(self, learning_rate: float | Schedule):
        lr = as_schedule(learning_rate)
        super().__init__(lambda k: -lr(k))


class Trace(Ref):
    """Heavy ball (Polyak 1964): ``v_t = g_t + beta v_{t-1}``, ``u_t = v_t``;
    Nesterov (Sutskever et al. 2013, torch's form): ``u_t = g_t + beta v_t``."""

    def __init__(self, decay: float, nesterov: bool = False):
        self.decay, self.nesterov = decay, nesterov

    def setup(self, params):
        self.zeros("v", params)

    def update(self, grads, params=None):
        out = {}
        for k, g in grads.items():
            v = g + self.decay * self.state["v"][k]
            self.state["v"][k] = v
            out[k] = g + self.decay * v if self.nesterov else v
        return out


class ScaleByRss(Ref):
    """Adagrad (Duchi et al. 2011), optax's form: ``s_t = s_{t-1} + g_t^2`` with
    ``s_0 = initial_accumulator_value``; ``u_t = g_t / sqrt(s_t + eps)`` (0 where s_t = 0)."""

    def __init__(self, initial_accumulator_value: float = 0.1, eps: float = 1e-7):
        self.s0, self.eps = initial_accumulator_value, eps

    def setup(self, params):
        self.zeros("s", params, self.s0)

    def update(self, grads, params=None):
        out = {}
        for k, g in grads.items():
            s = self.state["s"][k] + g * g
            self.state["s"][k] = s
            out[k] = np.where(s > 0, g / np.sqrt(s + self.eps), 0.0)
        return out


class ScaleByRms(Ref):
    """RMSProp (Tieleman & Hinton 2012): ``nu_t = rho nu_{t-1} + (1-rho) g_t^2``;
    centred (Graves 2013): ``mu_t = rho mu_{t-1} + (1-rho) g_t`` and the variance
    ``nu_t - mu_t^2``; with bias correction each average is divided by ``1 - rho^t``.
    ``u_t = g_t / sqrt(var + eps)`` (eps in the root) or ``g_t / (sqrt(var) + eps)``."""

    def __init__(
        self,
        decay: float = 0.9,
        eps: float = 1e-8,
        initial_scale: float = 0.0,
        eps_in_sqrt: bool = True,
        bias_correction: bool = False,
        centered: bool = False,
    ):
        self.decay, self.eps, self.nu0 = decay, eps, initial_scale
        self.eps_in_sqrt, self.bc, self.centered = eps_in_sqrt, bias_correction, centered

    def setup(self, params):
        self.zeros("nu", params, self.nu0)
        self.zeros("mu", params)

    def update(self, grads, params=None):
        self.t += 1
        rho = self.decay
        c = 1 - rho**self.t if self.bc else 1.0
        out = {}
        for k, g in grads.items():
            nu = rho * self.state["nu"][k] + (1 - rho) * g * g
            mu = rho * self.state["mu"][k] + (1 - rho) * g
            self.state["nu"][k], self.state["mu"][k] = nu, mu
            var = nu / c - (mu / c) ** 2 if self.centered else nu / c
            if self.eps_in_sqrt:
                out[k] = g / np.sqrt(var + self.eps)
            else:
                out[k] = g / (np.sqrt(var) + self.eps)
        return out


class ScaleByAdadelta(Ref):
    """Zeiler (2012), Algorithm 1: ``E[g^2]_t = rho E[g^2]_{t-1} + (1-rho) g_t^2``,
    ``dx_t = sqrt(E[dx^2]_{t-1} + eps) / sqrt(E[g^2]_t + eps) g_t``,
    ``E[dx^2]_t = rho E[dx^2]_{t-1} + (1-rho) dx_t^2``; ``u_t = dx_t``."""

    def __init__(self, rho: float = 0.9, eps: float = 1e-6):
        self.rho, self.eps = rho, eps

    def setup(self, params):
        self.zeros("eg", params)
        self.zeros("ex", params)

    def update(self, grads, params=None):
        rho, eps, out = self.rho, self.eps, {}
        for k, g in grads.items():
            eg = rho * self.state["eg"][k] + (1 - rho) * g * g
            dx = np.sqrt(self.state["ex"][k] + eps) / np.sqrt(eg + eps) * g
            self.state["eg"][k] = eg
            self.state["ex"][k] = rho * self.state["ex"][k] + (1 - rho) * dx * dx
            out[k] = dx
        return out


class ScaleByAdam(Ref):
    """Kingma & Ba (2015), Algorithm 1: ``m_t = b1 m + (1-b1) g``, ``v_t = b2 v + (1-b2) g^2``,
    ``u_t = m_hat / (sqrt(v_hat + eps_root) + eps)`` with ``m_hat = m_t / (1-b1^t)``,
    ``v_hat = v_t / (1-b2^t)``. Nesterov (NAdam, Dozat 2016, optax's documented form):
    ``m_hat = b1 m_t / (1-b1^{t+1}) + (1-b1) g_t / (1-b1^t)``."""

    def __init__(self, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, nesterov=False):
        self.b1, self.b2, self.eps, self.eps_root, self.nesterov = b1, b2, eps, eps_root, nesterov

    def setup(self, params):
        self.zeros("m", params)
        self.zeros("v", params)

    def update(self, grads, params=None):
        self.t += 1
        t, b1, b2 = self.t, self.b1, self.b2
        out = {}
        for k, g in grads.items():
            m = b1 * self.state["m"][k] + (1 - b1) * g
            v = b2 * self.state["v"][k] + (1 - b2) * g * g
            self.state["m"][k], self.state["v"][k] = m, v
            if self.nesterov:
                m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
            else:
                m_hat = m / (1 - b1**t)
            v_hat = v / (1 - b2**t)
            out[k] = m_hat / (np.sqrt(v_hat + self.eps_root) + self.eps)
        return out


class ScaleByAmsgrad(Ref):
    """Reddi et al. (2018) with Adam's bias corrections (optax's form):
    ``v_max_t = max(v_max_{t-1}, v_hat_t)``, ``u_t = m_hat / (sqrt(v_max_t + eps_root) + eps)``;
    either correction can be switched off (both off is the paper's Algorithm 2)."""

    def __init__(
        self,
        b1=0.9,
        b2=0.999,
        eps=1e-8,
        eps_root=0.0,
        bias_correction_mu=True,
        bias_correction_nu=True,
    ):
        self.b1, self.b2, self.eps, self.eps_root = b1, b2, eps, eps_root
        self.bc_mu, self.bc_nu = bias_correction_mu, bias_correction_nu

    def setup(self, params):
        for name in ("m", "v", "vmax"):
            self.zeros(name, params)

    def update(self, grads, params=None):
        self.t += 1
        t, b1, b2 = self.t, self.b1, self.b2
        c1 = 1 - b1**t if self.bc_mu else 1.0
        c2 = 1 - b2**t if self.bc_nu else 1.0
        out = {}
        for k, g in grads.items():
            m = b1 * self.state["m"][k] + (1 - b1) * g
            v = b2 * self.state["v"][k] + (1 - b2) * g * g
            vmax = np.maximum(self.state["vmax"][k], v / c2)
            self.state["m"][k], self.state["v"][k], self.state["vmax"][k] = m, v, vmax
            out[k] = (m / c1) / (np.sqrt(vmax + self.eps_root) + self.eps)
        return out


class ScaleByYogi(Ref):
    """Zaheer et al. (2018), Algorithm 2: ``v_t = v_{t-1} - (1-b2) sign(v_{t-1} - g_t^2) g_t^2``,
    ``m_t`` as in Adam; as optax documents, ``m_0 = v_0 = initial_accumulator_value`` and
    Adam's bias corrections are applied: ``u_t = m_hat / (sqrt(v_hat + eps_root) + eps)``."""

    def __init__(self, b1=0.9, b2=0.999, eps=1e-3, eps_root=0.0, initial_accumulator_value=1e-6):
        self.b1, self.b2, self.eps, self.eps_root = b1, b2, eps, eps_root
        self.v0 = initial_accumulator_value

    def setup(self, params):
        self.zeros("m", params, self.v0)
        self.zeros("v", params, self.v0)

    def update(self, grads, params=None):
        self.t += 1
        t, b1, b2 = self.t, self.b1, self.b2
        out = {}
        for k, g in grads.items():
            m = b1 * self.state["m"][k] + (1 - b1) * g
            v_prev = self.state["v"][k]
            v = v_prev - (1 - b2) * np.sign(v_prev - g * g) * g * g
            self.state["m"][k], self.state["v"][k] = m, v
            m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
            out[k] = m_hat / (np.sqrt(v_hat + self.eps_root) + self.eps)
        return out


class AddDecayedWeights(Ref):
    """``u_k = g_k + wd(k) p_k`` where the mask is True (Loshchilov & Hutter 2019)."""

    def __init__(self, weight_decay: float | Schedule = 0.0, mask: Any = None):
        self.wd, self.mask = as_schedule(weight_decay), mask

    def update(self, grads, params=None):
        wd = self.wd(self.t)
        self.t += 1
        mask = self.mask(params) if callable(self.mask) else self.mask
        return {k: g + wd * params[k] if mask is None or mask[k] else g for k, g in grads.items()}


class ClipByGlobalNorm(Ref):
    """Pascanu et al. (2013): ``u = g min(1, c / ||g||)``, the norm over every leaf."""

    def __init__(self, max_norm: float):
        self.max_norm = max_norm

    def update(self, grads, params=None):
        norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
        factor = 1.0 if norm < self.max_norm else self.max_norm / norm
        return tmap(lambda g: g * factor, grads)


class AdaBoundTorch(Ref):
    """A line-by-line NumPy port of ``AdaBound.step`` in the authors' reference code
    (Luo et al., ICLR 2019, github.com/Luolc/AdaBound, ``adabound/adabound.py``), for one
    parameter group. The comments quote the torch lines.

    ``lr`` may be a schedule: ``group['lr']`` at the k-th step is ``lr(k)``, as a torch
    lr scheduler sets it before each ``step()``. ``base_lr`` is the ``lr=`` the optimiser
    was constructed with (``self.base_lrs``, stored once, before any scheduler touches
    ``group['lr']``); default ``lr(0)``. A warmup scheduler attached to
    ``AdaBound(params, lr=1e-3)`` is ``lr=warmup, base_lr=1e-3``: the first
    ``group['lr']`` is 0 but the bounds divide by ``1e-3``. The update returned is
    ``p_new - p_old``. With ``weight_decay=0`` this is gradtx's ``bound_lr``.
    """

    def __init__(
        self,
        lr: float | Schedule = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsbound: bool = False,
        base_lr: float | None = None,
    ):
        self.lr, self.betas, self.final_lr, self.gamma = as_schedule(lr), betas, final_lr, gamma
        self.eps, self.weight_decay, self.amsbound = eps, weight_decay, amsbound
        # self.base_lrs = list(map(lambda group: group['lr'], self.param_groups))
        self.base_lr = self.lr(0) if base_lr is None else base_lr

    def setup(self, params):
        self.zeros("exp_avg", params)  # state['exp_avg'] = torch.zeros_like(p.data)
        self.zeros("exp_avg_sq", params)  # state['exp_avg_sq'] = torch.zeros_like(p.data)
        self.zeros("max_exp_avg_sq", params)  # if amsbound: state['max_exp_avg_sq'] = ...

    def update(self, grads, params=None):
        group_lr = self.lr(self.t)  # group['lr'] as set by the lr scheduler
        beta1, beta2 = self.betas  # beta1, beta2 = group['betas']
        self.t += 1  # state['step'] += 1
        step = self.t
        out = {}
        for k, grad in grads.items():
            p = params[k]
            exp_avg, exp_avg_sq = self.state["exp_avg"][k], self.state["exp_avg_sq"][k]
            if self.weight_decay != 0:
                # grad = grad.add(group['weight_decay'], p.data)
                grad = grad + self.weight_decay * p
            # exp_avg.mul_(beta1).add_(1 - beta1, grad)
            exp_avg = exp_avg * beta1 + (1 - beta1) * grad
            exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * grad * grad  # .addcmul_(1-beta2, g, g)
            if self.amsbound:
                # torch.max(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
                max_exp_avg_sq = np.maximum(self.state["max_exp_avg_sq"][k], exp_avg_sq)
                self.state["max_exp_avg_sq"][k] = max_exp_avg_sq
                denom = np.sqrt(max_exp_avg_sq) + self.eps  # max_exp_avg_sq.sqrt().add_(eps)
            else:
                denom = np.sqrt(exp_avg_sq) + self.eps  # exp_avg_sq.sqrt().add_(group['eps'])
            self.state["exp_avg"][k], self.state["exp_avg_sq"][k] = exp_avg, exp_avg_sq

            bias_correction1 = 1 - beta1**step
            bias_correction2 = 1 - beta2**step
            step_size = group_lr * math.sqrt(bias_correction2) / bias_correction1

            # final_lr = group['final_lr'] * group['lr'] / base_lr
            final_lr = self.final_lr * group_lr / self.base_lr
            lower_bound = final_lr * (1 - 1 / (self.gamma * step + 1))
            upper_bound = final_lr * (1 + 1 / (self.gamma * step))
            step_size = np.full_like(denom, step_size)  # torch.full_like(denom, step_size)
            # step_size.div_(denom).clamp_(lower_bound, upper_bound).mul_(exp_avg)
            step_size = np.clip(step_size / denom, lower_bound, upper_bound) * exp_avg
            out[k] = -step_size  # p.data.add_(-step_size)
        return out


# ----------------------------------------------------------------------------------------
# Optimisers, each written out in full from its published algorithm (not composed from
# the blocks above, so the tests also check how gradtx composes its aliases).
# ----------------------------------------------------------------------------------------


class SGD(Ref):
    """torch.optim.SGD's documented algorithm with dampening 0 (= optax.sgd):
    ``b_t = mu b_{t-1} + g_t`` (``b_1 = g_1``); ``d_t = g_t + mu b_t`` (Nesterov) or
    ``b_t``; ``p_t = p_{t-1} - lr_t d_t``; no momentum: ``d_t = g_t``."""

    def __init__(self, lr, momentum: float | None = None, nesterov: bool = False):
        self.lr, self.momentum, self.nesterov = as_schedule(lr), momentum, nesterov

    def setup(self, params):
        self.zeros("b", params)

    def update(self, grads, params=None):
        lr, mu = self.lr(self.t), self.momentum
        self.t += 1
        out = {}
        for k, g in grads.items():
            d = g
            if mu is not None:
                b = g if self.t == 1 else mu * self.state["b"][k] + g
                self.state["b"][k] = b
                d = g + mu * b if self.nesterov else b
            out[k] = -lr * d
        return out


class Adagrad(Ref):
    """Duchi et al. (2011) in optax's documented form:
    ``s_t = s_{t-1} + g_t^2`` (``s_0 = initial_accumulator_value``),
    ``p_t = p_{t-1} - lr_t g_t / sqrt(s_t + eps)``."""

    def __init__(self, lr, initial_accumulator_value=0.1, eps=1e-7):
        self.lr, self.s0, self.eps = as_schedule(lr), initial_accumulator_value, eps

    def setup(self, params):
        self.zeros("s", params, self.s0)

    def update(self, grads, params=None):
        lr = self.lr(self.t)
        self.t += 1
        out = {}
        for k, g in grads.items():
            self.state["s"][k] = self.state["s"][k] + g * g
            out[k] = -lr * g / np.sqrt(self.state["s"][k] + self.eps)
        return out


class RMSProp(Ref):
    """RMSProp as optax documents it: ``nu_t = rho nu_{t-1} + (1-rho) g_t^2`` (centred:
    minus ``mu_t^2``, ``mu_t = rho mu_{t-1} + (1-rho) g_t``; optional bias correction
    ``/(1-rho^t)``), ``s_t = -lr_t g_t / sqrt(nu_t + eps)`` (or ``/(sqrt(nu_t) + eps)``),
    then momentum on the scaled step: ``b_t = s_t + m b_{t-1}``, ``u_t = b_t`` (Nesterov
    ``s_t + m b_t``); without momentum ``u_t = s_t``."""

    def __init__(
        self,
        lr,
        decay=0.9,
        eps=1e-8,
        initial_scale=0.0,
        eps_in_sqrt=True,
        centered=False,
        momentum=None,
        nesterov=False,
        bias_correction=False,
    ):
        self.lr, self.rho, self.eps, self.nu0 = as_schedule(lr), decay, eps, initial_scale
        self.eps_in_sqrt, self.centered, self.bc = eps_in_sqrt, centered, bias_correction
        self.momentum, self.nesterov = momentum, nesterov

    def setup(self, params):
        self.zeros("nu", params, self.nu0)
        self.zeros("mu", params)
        self.zeros("b", params)

    def update(self, grads, params=None):
        lr, rho = self.lr(self.t), self.rho
        self.t += 1
        c = 1 - rho**self.t if self.bc else 1.0
        out = {}
        for k, g in grads.items():
            nu = rho * self.state["nu"][k] + (1 - rho) * g**2
            mu = rho * self.state["mu"][k] + (1 - rho) * g
            self.state["nu"][k], self.state["mu"][k] = nu, mu
            var = nu / c - (mu / c) ** 2 if self.centered else nu / c
            denom = np.sqrt(var + self.eps) if self.eps_in_sqrt else np.sqrt(var) + self.eps
            s = -lr * g / denom
            if self.momentum is not None:
                b = s + self.momentum * self.state["b"][k]
                self.state["b"][k] = b
                s = s + self.momentum * b if self.nesterov else b
            out[k] = s
        return out


class Adadelta(Ref):
    """torch.optim.Adadelta's documented algorithm (Zeiler 2012 plus an lr and L2 decay):
    ``g <- g + wd p``; ``v_t = rho v + (1-rho) g^2``;
    ``dx_t = sqrt(u_{t-1} + eps) / sqrt(v_t + eps) g``; ``u_t = rho u + (1-rho) dx_t^2``;
    ``p_t = p_{t-1} - lr dx_t``. ``lr=None`` is the paper's rule (lr = 1)."""

    def __init__(self, lr=None, rho=0.9, eps=1e-6, weight_decay=0.0):
        self.lr = as_schedule(1.0 if lr is None else lr)
        self.rho, self.eps, self.wd = rho, eps, weight_decay

    def setup(self, params):
        self.zeros("v", params)
        self.zeros("u", params)

    def update(self, grads, params=None):
        lr, rho, eps = self.lr(self.t), self.rho, self.eps
        self.t += 1
        out = {}
        for k, g in grads.items():
            g = g + self.wd * params[k]
            v = rho * self.state["v"][k] + (1 - rho) * g * g
            dx = np.sqrt(self.state["u"][k] + eps) / np.sqrt(v + eps) * g
            self.state["v"][k] = v
            self.state["u"][k] = rho * self.state["u"][k] + (1 - rho) * dx * dx
            out[k] = -lr * dx
        return out


class Adam(Ref):
    """Kingma & Ba (2015), Algorithm 1, with optax's ``eps_root``:
    ``p_t = p_{t-1} - lr_t m_hat_t / (sqrt(v_hat_t + eps_root) + eps)``. ``nesterov``:
    NAdam's ``m_hat_t = b1 m_t / (1-b1^{t+1}) + (1-b1) g_t / (1-b1^t)`` (Dozat 2016).
    ``weight_decay`` (AdamW, Loshchilov & Hutter 2019, optax's form):
    ``p_t = p_{t-1} - lr_t (m_hat/(sqrt(v_hat + eps_root) + eps) + wd p_{t-1})`` where
    ``mask`` is True."""

    def __init__(
        self,
        lr,
        b1=0.9,
        b2=0.999,
        eps=1e-8,
        eps_root=0.0,
        nesterov=False,
        weight_decay=0.0,
        mask=None,
    ):
        self.lr, self.b1, self.b2, self.eps, self.eps_root = as_schedule(lr), b1, b2, eps, eps_root
        self.nesterov, self.wd, self.mask = nesterov, as_schedule(weight_decay), mask

    def setup(self, params):
        self.zeros("m", params)
        self.zeros("v", params)

    def update(self, grads, params=None):
        lr, wd = self.lr(self.t), self.wd(self.t)
        self.t += 1
        t, b1, b2 = self.t, self.b1, self.b2
        mask = self.mask(params) if callable(self.mask) else self.mask
        out = {}
        for k, g in grads.items():
            m = b1 * self.state["m"][k] + (1 - b1) * g
            v = b2 * self.state["v"][k] + (1 - b2) * g * g
            self.state["m"][k], self.state["v"][k] = m, v
            if self.nesterov:
                m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
            else:
                m_hat = m / (1 - b1**t)
            d = m_hat / (np.sqrt(v / (1 - b2**t) + self.eps_root) + self.eps)
            if mask is None or mask[k]:
                d = d + wd * params[k]
            out[k] = -lr * d
        return out


class AMSGrad(Ref):
    """Reddi et al. (2018) with Adam's bias corrections (optax's documented form):
    ``v_max_t = max(v_max_{t-1}, v_t / (1-b2^t))``,
    ``p_t = p_{t-1} - lr_t (m_t / (1-b1^t)) / (sqrt(v_max_t + eps_root) + eps)``."""

    def __init__(self, lr, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0):
        self.lr, self.b1, self.b2, self.eps, self.eps_root = as_schedule(lr), b1, b2, eps, eps_root

    def setup(self, params):
        for name in ("m", "v", "vmax"):
            self.zeros(name, params)

    def update(self, grads, params=None):
        lr = self.lr(self.t)
        self.t += 1
        t, b1, b2 = self.t, self.b1, self.b2
        out = {}
        for k, g in grads.items():
            m = b1 * self.state["m"][k] + (1 - b1) * g
            v = b2 * self.state["v"][k] + (1 - b2) * g * g
            vmax = np.maximum(self.state["vmax"][k], v / (1 - b2**t))
            self.state["m"][k], self.state["v"][k], self.state["vmax"][k] = m, v, vmax
            out[k] = -lr * (m / (1 - b1**t)) / (np.sqrt(vmax + self.eps_root) + self.eps)
        return out


class Yogi(Ref):
    """Zaheer et al. (2018), Algorithm 2, in optax's documented form (``m_0 = v_0 = 1e-6``
    and Adam's bias corrections):
    ``v_t = v_{t-1} - (1-b2) sign(v_{t-1} - g_t^2) g_t^2``,
    ``p_t = p_{t-1} - lr_t m_hat_t / (sqrt(v_hat_t) + eps)``."""

    def __init__(self, lr, b1=0.9, b2=0.999, eps=1e-3):
        self.lr, self.b1, self.b2, self.eps = as_schedule(lr), b1, b2, eps

    def setup(self, params):
        self.zeros("m", params, 1e-6)
        self.zeros("v", params, 1e-6)

    def update(self, grads, params=None):
        lr = self.lr(self.t)
        self.t += 1
        t, b1, b2 = self.t, self.b1, self.b2
        out = {}
        for k, g in grads.items():
            m = b1 * self.state["m"][k] + (1 - b1) * g
            v = self.state["v"][k]
            v = v - (1 - b2) * np.sign(v - g**2) * g**2
            self.state["m"][k], self.state["v"][k] = m, v
            out[k] = -lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + self.eps)
        return out
