"""Float64 NumPy references for Muon, written from Keller Jordan's Muon
(github.com/KellerJordan/Muon: ``zeropower_via_newtonschulz5``, Nesterov momentum, the
``max(1, fan_out/fan_in)**0.5`` width factor), Bernstein & Newhouse 2024 (the adaptive
dual-norm scale), Liu et al. 2025 (``consistent_rms``), Boissin et al. 2025 (AOL) and
Grishina et al. 2025 (Schatten-4) for the preconditionings, and ``torch.optim.Muon``'s
published update rule (``_zeropower_via_newtonschulz``, ``_adjust_lr``,
``_single_tensor_muon``; torch 2.9). Never imports gradtx or optax.

Parameters are dicts of arrays; a leaf is a Muon leaf when ``dims[k]`` gives its
``(reduction_axes, output_axes)``; every other leaf runs the AdamW reference.
"""

from __future__ import annotations

import math

import numpy as np

from .transforms_ref import Adam, Ref, as_schedule

STANDARD = (3.4445, -4.7750, 2.0315)
DION = (
    (4.0848, -6.8946, 2.9270),
    (3.9505, -6.3029, 2.6377),
    (3.7418, -5.5913, 2.3037),
    (2.8769, -3.1427, 1.2046),
    (2.8366, -3.0525, 1.2012),
)


def newton_schulz(g, coeffs=STANDARD, steps=5, preconditioning="frobenius", eps=1e-8,
                  clamp_eps=False):
    """Orthogonalises one matrix ``g``: ``X <- a X + (b A + c A^2) X``, ``A = X X^T``,
    on the wider orientation, after dividing by ``||g||_F + eps`` (``clamp_eps``: by
    ``max(||g||_F, eps)``, torch) or the spectral norm, or with AOL / Schatten-4
    rescaling in the first step."""
    x = np.asarray(g, np.float64)
    transposed = x.shape[0] > x.shape[1]
    if transposed:
        x = x.T
    rows = [coeffs] * steps if np.ndim(coeffs) == 1 else list(coeffs)
    if preconditioning == "frobenius":
        n = np.linalg.norm(x)
        x = x / (max(n, eps) if clamp_eps else n + eps)
    elif preconditioning == "spectral":
        x = x / (np.linalg.norm(x, 2) + eps)
    for i, (a, b, c) in enumerate(rows):
        gram = x @ x.T
        if i == 0 and preconditioning == "aol":
            s = 1.0 / np.sqrt(np.maximum(np.abs(gram).sum(axis=1), 1e-8))
            x, gram = x * s[:, None], gram * np.outer(s, s)
        elif i == 0 and preconditioning == "schatten":
            s = 1.0 / np.sqrt(max(np.linalg.norm(gram), 1e-8))
            x, gram = x * s, gram * s * s
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if transposed else x


def as_matrices(x, red, out):
    """``x`` as ``(batch, fan_in, fan_out)`` and the function that puts it back."""
    batch = [a for a in range(x.ndim) if a not in red and a not in out]
    perm = batch + list(red) + list(out)
    shape = [x.shape[a] for a in perm]
    fan_in = math.prod(x.shape[a] for a in red)
    fan_out = math.prod(x.shape[a] for a in out)
    y = x.transpose(perm).reshape(-1, fan_in, fan_out)
    return y, (lambda z: z.reshape(shape).transpose(np.argsort(perm))), fan_in, fan_out


class Muon(Ref):
    """optax.contrib's Muon (Jordan's with bias-corrected Nesterov momentum):
    ``m_t = beta m + (1-beta) g``; ``m_hat = beta m_t/(1-beta^{t+1}) + (1-beta) g/(1-beta^t)``
    (nesterov) or ``m_t/(1-beta^t)``; ``u = NS(m_hat)`` per matrix of each leaf;
    adaptive: ``u <- <m_hat, u> u``; ``p -= lr (s u + wd p)`` with
    ``s = sqrt(max(1, fan_out/fan_in))`` or ``rms sqrt(max(fan_in, fan_out))``. Other
    leaves: AdamW(lr, adam_b1, adam_b2, eps, nesterov, adam_wd)."""

    def __init__(self, lr, dims, coeffs=STANDARD, steps=5, beta=0.95, eps=1e-8, wd=0.0,
                 nesterov=True, adaptive=False, preconditioning="frobenius",
                 consistent_rms=None, adam_b1=0.9, adam_b2=0.999, adam_wd=0.0):
        self.lr, self.dims, self.coeffs, self.steps = as_schedule(lr), dims, coeffs, steps
        self.beta, self.eps, self.wd, self.nesterov = beta, eps, wd, nesterov
        self.adaptive, self.pre, self.rms = adaptive, preconditioning, consistent_rms
        self.adam = Adam(lr, adam_b1, adam_b2, eps, nesterov=nesterov, weight_decay=adam_wd)

    def setup(self, params):
        self.zeros("m", params)
        self.adam.init({k: p for k, p in params.items() if self.dims.get(k) is None})

    def direction(self, g, m_new, t):
        b = self.beta
        if self.nesterov:
            return b * m_new / (1 - b ** (t + 1)) + (1 - b) * g / (1 - b**t)
        return m_new / (1 - b**t)

    def clamp(self):
        return False

    def scale(self, fan_in, fan_out):
        if self.rms is None:
            return math.sqrt(max(1.0, fan_out / fan_in))
        return self.rms * math.sqrt(max(fan_in, fan_out))

    def update(self, grads, params=None):
        lr = self.lr(self.t)
        self.t += 1
        others = {k: g for k, g in grads.items() if self.dims.get(k) is None}
        out = self.adam.update(others, {k: params[k] for k in others}) if others else {}
        for k, g in grads.items():
            if self.dims.get(k) is None:
                continue
            m = self.beta * self.state["m"][k] + (1 - self.beta) * g
            self.state["m"][k] = m
            m_hat = self.direction(g, m, self.t)
            mats, back, fan_in, fan_out = as_matrices(m_hat, *self.dims[k])
            u = back(np.stack([
                newton_schulz(x, self.coeffs, self.steps, self.pre, self.eps, self.clamp())
                for x in mats
            ]))
            if self.adaptive:
                u = np.sum(m_hat * u) * u
            out[k] = -lr * (self.scale(fan_in, fan_out) * u + self.wd * params[k])
        return out


class MuonTorch(Muon):
    """Muon's rule as ``torch.optim.Muon`` publishes it, on a weight in torch's
    ``(out, in)`` layout (``A, B = param.shape[:2]``)::

        buf.lerp_(grad, 1 - momentum)
        update = grad.lerp(buf, momentum) if nesterov else buf
        update = _zeropower_via_newtonschulz(update, ns_coefficients, ns_steps, eps)
        adjusted_lr = lr * (sqrt(max(1, A / B)) if adjust_lr_fn in (None, "original")
                            else 0.2 * sqrt(max(A, B)))  # "match_rms_adamw"
        param.mul_(1 - lr * weight_decay)
        param.add_(update, alpha=-adjusted_lr)

    with ``X / ||X||.clamp(min=eps)`` before the iterations (torch runs them in bfloat16;
    the reference in float64). ``dims`` is ignored: every key of ``torch_keys`` is a
    torch-layout 2D weight; other leaves run the AdamW reference."""

    def __init__(self, lr, torch_keys, adjust_lr_fn="original", momentum=0.95, eps=1e-7,
                 wd=0.1, nesterov=True, coeffs=STANDARD, steps=5, **adam):
        super().__init__(lr, {k: ((1,), (0,)) for k in torch_keys}, coeffs, steps, momentum,
                         eps, wd, nesterov, **adam)
        self.adjust = adjust_lr_fn

    def direction(self, g, m_new, t):
        return g + self.beta * (m_new - g) if self.nesterov else m_new  # grad.lerp(buf, b)

    def clamp(self):
        return True

    def update(self, grads, params=None):
        lr = self.lr(self.t)
        self.t += 1
        others = {k: g for k, g in grads.items() if self.dims.get(k) is None}
        out = self.adam.update(others, {k: params[k] for k in others}) if others else {}
        for k, g in grads.items():
            if self.dims.get(k) is None:
                continue
            buf = self.state["m"][k] + (1 - self.beta) * (g - self.state["m"][k])
            self.state["m"][k] = buf
            upd = newton_schulz(self.direction(g, buf, self.t), self.coeffs, self.steps,
                                "frobenius", self.eps, clamp_eps=True)
            a, b = params[k].shape[:2]
            ratio = math.sqrt(max(1, a / b)) if self.adjust == "original" else (
                0.2 * math.sqrt(max(a, b)))
            p_new = params[k] * (1 - lr * self.wd) - lr * ratio * upd
            out[k] = p_new - params[k]
        return out
