"""NumPy float64 references for the optax-API wrappers: masking, partitions, freezing,
conditional steps, the EMA of updates, ``apply_every``, Polyak / periodic target updates
and Lookahead.

Written from the definitions (optax's documented semantics; Zhang et al. 2019 for
Lookahead; Polyak & Juditsky 1992 for averaging), never by calling gradtx or optax. A
tree is a ``dict`` of NumPy arrays, as in :mod:`transforms_ref`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .transforms_ref import Ref, Tree, tmap


def _sub(tree: Tree | None, keys: list[str]) -> Tree | None:
    return None if tree is None else {k: tree[k] for k in keys}


class Masked(Ref):
    """``u^i = inner(g restricted to the masked-in keys)^i`` where ``mask[i]``, else ``g^i``;
    the inner reference only ever sees the masked-in keys."""

    def __init__(self, inner: Ref, mask: dict[str, bool]):
        self.inner, self.mask = inner, mask

    def keys(self, tree):
        return [k for k in tree if self.mask[k]]

    def init(self, params):
        self.inner.init(_sub(params, self.keys(params)))

    def update(self, grads, params=None):
        keys = self.keys(grads)
        inner = self.inner.update(_sub(grads, keys), _sub(params, keys)) if keys else {}
        return {k: inner[k] if k in inner else g for k, g in grads.items()}


class Partition(Ref):
    """Each label's reference updates the keys with that label (``Masked`` per label)."""

    def __init__(self, refs: dict[str, Ref], labels: dict[str, str]):
        self.parts = [
            Masked(r, {k: v == lab for k, v in labels.items()}) for lab, r in refs.items()
        ]

    def init(self, params):
        for p in self.parts:
            p.init(params)

    def update(self, grads, params=None):
        for p in self.parts:
            grads = p.update(grads, params)
        return grads


class SetToZero(Ref):
    """``u = 0``."""

    def update(self, grads, params=None):
        return tmap(np.zeros_like, grads)


class Conditionally(Ref):
    """At call ``t = 0, 1, ...``: ``inner(g)`` if ``cond(t)``, else ``g`` (``mask=False``)
    or ``0`` (``mask=True``); the inner state only advances when ``cond(t)``."""

    def __init__(self, inner: Ref, cond: Callable[[int], bool], mask: bool):
        self.inner, self.cond, self.mask = inner, cond, mask

    def init(self, params):
        self.t = 0
        self.inner.init(params)

    def update(self, grads, params=None):
        t = self.t
        self.t += 1
        if self.cond(t):
            return self.inner.update(grads, params)
        return tmap(np.zeros_like, grads) if self.mask else grads


class Ema(Ref):
    """``m_t = beta m_{t-1} + (1 - beta) g_t`` (``m_0 = 0``); ``u_t = m_t / (1 - beta^t)``
    when ``debias``, else ``m_t``."""

    def __init__(self, decay: float, debias: bool = True):
        self.decay, self.debias = decay, debias

    def setup(self, params):
        self.zeros("m", params)

    def update(self, grads, params=None):
        self.t += 1
        out = {}
        for k, g in grads.items():
            m = self.decay * self.state["m"][k] + (1 - self.decay) * g
            self.state["m"][k] = m
            out[k] = m / (1 - self.decay**self.t) if self.debias else m
        return out


class Measure(Ref):
    """``u = measure(g)`` leaf by leaf (``measure`` keeps the keys)."""

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray]):
        self.fn = fn

    def update(self, grads, params=None):
        return tmap(self.fn, grads)


class ApplyEvery(Ref):
    """Sums ``k`` consecutive updates; emits the sum on calls ``k-1, 2k-1, ...`` and
    zero otherwise."""

    def __init__(self, k: int):
        self.k = k

    def setup(self, params):
        self.zeros("acc", params)

    def update(self, grads, params=None):
        c = self.t % self.k
        self.t += 1
        out = {}
        for key, g in grads.items():
            acc = g if c == 0 else self.state["acc"][key] + g
            self.state["acc"][key] = acc
            out[key] = acc if c == self.k - 1 else np.zeros_like(g)
        return out


class Stateless(Ref):
    """``u = f(g, p)`` leaf by leaf."""

    def __init__(self, fn: Callable[[np.ndarray, np.ndarray], np.ndarray]):
        self.fn = fn

    def update(self, grads, params=None):
        return tmap(self.fn, grads, params)


def incremental_update(new: Tree, old: Tree, step_size: float) -> Tree:
    """Polyak averaging: ``tau new + (1 - tau) old``."""
    return tmap(lambda n, o: step_size * n + (1 - step_size) * o, new, old)


def periodic_update(new: Tree, old: Tree, steps: int, period: int) -> Tree:
    """``new`` every ``period`` steps (``steps % period == 0``), else ``old``."""
    return {k: np.array(v, np.float64) for k, v in (new if steps % period == 0 else old).items()}


def lookahead_run(
    fast_opt: Ref,
    grad_fn: Callable[[Tree], Tree],
    params: Tree,
    n_steps: int,
    sync_period: int,
    alpha: float,
    reset_state: bool = False,
) -> tuple[list[Tree], list[Tree]]:
    """Zhang et al. (2019), Algorithm 1: ``theta <- theta + fast(grad(theta))`` for ``k``
    steps, then ``phi <- phi + alpha (theta - phi)`` and ``theta <- phi`` (and, with
    ``reset_state``, the fast optimiser starts afresh). Returns the fast and slow weights
    after every step."""
    fast = {k: np.array(v, np.float64) for k, v in params.items()}
    slow = {k: v.copy() for k, v in fast.items()}
    fast_opt.init(fast)
    fasts, slows = [], []
    for t in range(n_steps):
        fast = tmap(np.add, fast, fast_opt.update(grad_fn(fast), fast))
        if (t + 1) % sync_period == 0:
            slow = tmap(lambda s, f: s + alpha * (f - s), slow, fast)
            fast = {k: v.copy() for k, v in slow.items()}
            if reset_state:
                fast_opt.init(fast)
        fasts.append(fast)
        slows.append(slow)
    return fasts, slows
