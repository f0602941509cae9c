"""Float64 NumPy reference of schedule-free SGD and AdamW, written from the paper (Defazio
et al., *The Road Less Scheduled*, 2024) and the authors' PyTorch code
(facebookresearch/schedule_free: ``SGDScheduleFree``, ``AdamWScheduleFree`` and their
``*_reference`` versions). Never imports gradtx or optax.

The authors' production step updates ``y`` (the model's params) without forming ``x``:
``y <- (1 - c) y + c z + lr (b1 (1 - c) - 1) g_hat`` and ``z <- z - lr g_hat``; their
reference version keeps ``x`` explicitly, ``x <- (1 - c) x + c z``. This reference does
both (``y`` by the first rule, ``x`` by the second), so a test of the evaluation params
(``x``) checks the two forms against each other too.

``convention="optax"`` gives optax.contrib's numbers (Adam's bias correction inside the
root, the warmup of the base step evaluated at its 0-based count); ``"authors"`` the
authors' (``lr_t = lr warmup(t) sqrt(1 - b2^t)`` scales the step, the weight decay and
the averaging weights; the warmup at the 1-based step).
"""

from __future__ import annotations

import math

import numpy as np


class ScheduleFree:
    def __init__(self, base: str, lr: float, warmup_steps: int | None = None, b1: float = 0.9,
                 b2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
                 weight_lr_power: float = 2.0, r: float = 0.0,
                 convention: str = "optax") -> None:  # fmt: skip
        assert base in ("sgd", "adamw") and convention in ("optax", "authors")
        self.base, self.lr, self.warmup = base, lr, warmup_steps
        self.b1, self.b2, self.eps, self.wd = b1, b2, eps, weight_decay
        self.p, self.r, self.convention = weight_lr_power, r, convention

    def sched(self, n: int) -> float:
        if self.warmup is None:
            return self.lr
        return self.lr * min(n / self.warmup, 1.0)

    def init(self, params: dict[str, np.ndarray]) -> None:
        self.k = 0
        self.z = {k: np.array(v, np.float64) for k, v in params.items()}
        self.x = {k: np.array(v, np.float64) for k, v in params.items()}
        self.v = {k: np.zeros(np.shape(v)) for k, v in params.items()}
        self.lr_max = 0.0
        self.weight_sum = 0.0

    def update(self, grads: dict[str, np.ndarray], y: dict[str, np.ndarray]) -> dict:
        k, t = self.k, self.k + 1
        if self.convention == "authors":
            bc = math.sqrt(1 - self.b2**t) if self.base == "adamw" else 1.0
            lr_z = lr_w = self.sched(t) * bc
        else:
            lr_z, lr_w = self.sched(k), self.sched(t)
        self.lr_max = max(self.lr_max, lr_w)
        weight = t**self.r * self.lr_max**self.p
        self.weight_sum += weight
        c = weight / self.weight_sum if self.weight_sum > 0 else 0.0
        out = {}
        for name, g in grads.items():
            g = np.asarray(g, np.float64)
            yk, z = y[name], self.z[name]
            if self.base == "adamw":
                self.v[name] = self.b2 * self.v[name] + (1 - self.b2) * g * g
                if self.convention == "authors":
                    denom = np.sqrt(self.v[name]) + self.eps
                else:
                    denom = np.sqrt(self.v[name] / (1 - self.b2**t)) + self.eps
                g = g / denom
            g = g + self.wd * yk
            y_new = (1 - c) * yk + c * z + lr_z * (self.b1 * (1 - c) - 1) * g
            self.z[name] = z - lr_z * g
            self.x[name] = (1 - c) * self.x[name] + c * self.z[name]
            out[name] = y_new - yk
        self.k += 1
        return out
