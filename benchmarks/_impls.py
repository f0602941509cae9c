"""The benchmarked implementations: one jitted, donated step per library, torch optional.

Every implementation is a small object with ``compile()`` (returns seconds and the
``memory_analysis`` temp bytes, or ``None`` for torch) and ``step()`` (one optimiser
step, blocking until the result is ready).
"""

from __future__ import annotations

import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import gradtx

# Bytes a perfect single-pass float32 step must move per parameter (reads + writes):
# params, grads and every state array read once; params and state written once.
BYTES_PER_PARAM = {
    "sgd": 12,
    "sgd_momentum": 20,
    "adam": 28,
    "adamw": 28,
    "yogi": 28,
    "amsgrad": 36,
    "adagrad": 20,
    "rmsprop": 20,
    "adabound": 28,
    "clip_adam": 32,  # + one read of the gradients for the global norm
}
# The optimisers added for issue 14 are not listed there: their bytes come from their state
# (``bytes_per_param``: 12 + 2 x the state's bytes per parameter). For lamb, lars, fromage
# and novograd (per-leaf norms) and adafactor/sm3 (row/column reductions) that is a lower
# bound: no single pass can compute a norm and apply it.
LR = 1e-3


# Each benchmarked optimiser: (alias name, keyword arguments besides the learning rate).
# gradtx and optax share the alias names, so one table builds both.
OPTIMIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd": ("sgd", {}),
    "sgd_momentum": ("sgd", {"momentum": 0.9}),
    "adam": ("adam", {}),
    "adamw": ("adamw", {"weight_decay": 1e-4}),
    "yogi": ("yogi", {}),
    "amsgrad": ("amsgrad", {}),
    "adagrad": ("adagrad", {}),
    "rmsprop": ("rmsprop", {}),
    "adabound": ("adabound", {}),
    # chain(clip_by_global_norm(1.0), adam(lr)): gradient clipping before the optimiser
    "clip_adam": ("adam", {}),
    # issue 14: every optimiser gradtx has that optax also has, with optax's defaults
    # (polyak_sgd is left out: its step needs the loss value, which this step does not have)
    "lion": ("lion", {}),
    "adamax": ("adamax", {}),
    "adamaxw": ("adamaxw", {}),
    "nadam": ("nadam", {}),
    "nadamw": ("nadamw", {}),
    "radam": ("radam", {}),
    "adabelief": ("adabelief", {}),
    "adan": ("adan", {}),
    "novograd": ("novograd", {}),
    "sign_sgd": ("sign_sgd", {}),
    "signum": ("signum", {}),
    "rprop": ("rprop", {}),
    "noisy_sgd": ("noisy_sgd", {"key": 0}),
    "optimistic_gradient_descent": ("optimistic_gradient_descent", {}),
    "optimistic_adam": ("optimistic_adam", {}),  # deprecated in optax for the v2
    "optimistic_adam_v2": ("optimistic_adam_v2", {}),
    "lamb": ("lamb", {}),
    "lars": ("lars", {}),
    "fromage": ("fromage", {}),
    "adafactor": ("adafactor", {}),
    "sm3": ("sm3", {}),
    "asgd": ("asgd", {}),  # gradtx only: optax has no ASGD
}
# The optimisers benchmarked before issue 14; --quick runs the others on flat 1e6 only.
CLASSIC = ("sgd", "sgd_momentum", "adam", "adamw", "yogi", "amsgrad", "adagrad", "rmsprop",
           "adabound", "clip_adam")
CLIPPED = {"clip_adam": 1.0}  # the rows that clip the gradients' global norm first


def _build(library: Any, name: str) -> Any | None:
    alias, kwargs = OPTIMIZERS[name]
    factory = getattr(library, alias, None)
    if factory is None:
        return None
    tx = factory(LR, **kwargs)
    if name in CLIPPED:
        tx = library.chain(library.clip_by_global_norm(CLIPPED[name]), tx)
    return tx


def gradtx_opt(name: str) -> Any:
    return _build(gradtx, name)


def optax_opt(name: str) -> Any | None:
    """optax's alias of the same name, or None (optax has no AdaBound)."""
    import optax

    return _build(optax, name)


def state_bytes_per_param(tx: Any, shapes: dict[str, tuple[int, ...]]) -> float:
    """Bytes of ``jax.tree.leaves(tx.init(params))`` per float32 parameter (shapes only:
    ``jax.eval_shape``, nothing is allocated)."""
    params = {k: jax.ShapeDtypeStruct(s, jnp.float32) for k, s in shapes.items()}
    state = jax.eval_shape(tx.init, params)
    n = sum(int(np.prod(s, dtype=np.int64)) for s in shapes.values())
    return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(state)) / max(n, 1)


def bytes_per_param(name: str, shapes: dict[str, tuple[int, ...]]) -> float:
    """Bytes a single-pass float32 step must move per parameter: ``BYTES_PER_PARAM`` where
    listed, else params read + written, grads read, and the state read + written."""
    if name in BYTES_PER_PARAM:
        return BYTES_PER_PARAM[name]
    return 12 + 2 * state_bytes_per_param(gradtx_opt(name), shapes)


def torch_module() -> Any | None:
    """torch if importable, else None. Its OpenMP threads are told to sleep when idle
    (``OMP_WAIT_POLICY=PASSIVE`` unless set): spinning threads would steal the 2 cores
    from the XLA step that runs next in the interleaved loop."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_opt(torch: Any, name: str, params: list, mode: str) -> Any | None:
    """A torch.optim optimiser in ``foreach`` or ``fused`` mode, or None if torch has none."""
    o = torch.optim
    kw = {"foreach": True} if mode == "foreach" else {"fused": True}
    makers = {
        "sgd": lambda: o.SGD(params, lr=LR, **kw),
        "sgd_momentum": lambda: o.SGD(params, lr=LR, momentum=0.9, **kw),
        "adam": lambda: o.Adam(params, lr=LR, **kw),
        "adamw": lambda: o.AdamW(params, lr=LR, weight_decay=1e-4, **kw),
        "amsgrad": lambda: o.Adam(params, lr=LR, amsgrad=True, **kw),
        "adagrad": lambda: o.Adagrad(params, lr=LR, **kw),
        "rmsprop": lambda: o.RMSprop(params, lr=LR, **kw),
    }
    if name not in makers:
        return None
    try:
        opt = makers[name]()
        opt.step()  # fused is not implemented for every optimiser on CPU
    except (RuntimeError, ValueError, TypeError):
        return None
    return opt


def _tree(shapes: dict[str, tuple[int, ...]], value: float) -> dict[str, jax.Array]:
    return {k: jnp.full(s, value, jnp.float32) for k, s in shapes.items()}


def _memory_temp_bytes(compiled: Any) -> int | None:
    try:
        return int(compiled.memory_analysis().temp_size_in_bytes)
    except Exception:  # noqa: BLE001 - not every backend reports it
        return None


class JaxImpl:
    """``params, state = step(params, grads, state)`` jitted, params and state donated.

    ``gradtx.make_step(tx)`` (the native kernel where it applies), or with ``user_jit``
    the step a user writes: ``jax.jit`` of ``tx.update`` + ``apply_updates`` (pure JAX)."""

    def __init__(self, tx: Any, shapes: dict, *, packed: bool = False, wrap: bool = False,
                 user_jit: bool = False):
        self.tx = gradtx.packed(tx) if wrap else tx
        params, grads = _tree(shapes, 1.0), _tree(shapes, 0.01)
        if packed:
            params, grads = gradtx.pack(params), gradtx.pack(grads)
        self.params, self.grads = params, grads
        self.state = self.tx.init(params)
        if user_jit:
            tx = self.tx

            def step(params, grads, state):
                updates, state = tx.update(grads, state, params)
                return gradtx.apply_updates(params, updates), state

            self.fn = jax.jit(step, donate_argnums=(0, 2))
        else:
            self.fn = gradtx.make_step(self.tx)  # update + apply_updates, donated

    def compile(self) -> tuple[float, int | None]:
        t0 = time.perf_counter()
        self.fn = self.fn.lower(self.params, self.grads, self.state).compile()
        return time.perf_counter() - t0, _memory_temp_bytes(self.fn)

    def step(self) -> None:
        self.params, self.state = self.fn(self.params, self.grads, self.state)
        jax.block_until_ready((self.params, self.state))


class OptaxImpl(JaxImpl):
    """optax's step, written the way optax users write it (``jit`` + donation)."""

    def __init__(self, tx: Any, shapes: dict):
        import optax

        self.tx = tx
        self.params, self.grads = _tree(shapes, 1.0), _tree(shapes, 0.01)
        self.state = tx.init(self.params)

        def step(params, grads, state):
            updates, state = tx.update(grads, state, params)
            return optax.apply_updates(params, updates), state

        self.fn = jax.jit(step, donate_argnums=(0, 2))


class TorchImpl:
    def __init__(self, torch: Any, name: str, shapes: dict, mode: str):
        self.params = []
        for s in shapes.values():
            p = torch.ones(s, dtype=torch.float32, requires_grad=True)
            p.grad = torch.full(s, 0.01, dtype=torch.float32)
            self.params.append(p)
        self.opt = torch_opt(torch, name, self.params, mode)

    def compile(self) -> tuple[float, None]:
        return 0.0, None

    def step(self) -> None:
        self.opt.step()


class CopyProbe:
    """The memory roof: a jitted, donated in-place ``x * s`` over the same number of
    float32s (read once, written once; ``s`` is a runtime 1.0, so XLA cannot elide it)."""

    def __init__(self, n: int):
        self.x = jnp.ones((n,), jnp.float32)
        self.s = jnp.float32(1.0)
        self.fn = jax.jit(lambda x, s: x * s, donate_argnums=0)
        self.n = n

    def compile(self) -> tuple[float, int | None]:
        t0 = time.perf_counter()
        self.fn = self.fn.lower(self.x, self.s).compile()
        return time.perf_counter() - t0, _memory_temp_bytes(self.fn)

    def step(self) -> None:
        self.x = self.fn(self.x, self.s)
        self.x.block_until_ready()


def time_interleaved(impls: dict[str, Any], budget_s: float, min_rounds: int = 7,
                     max_rounds: int = 200) -> dict[str, np.ndarray]:
    """Round-robin: every round runs one step of each implementation in turn, so drift in
    the machine's speed hits all of them alike. Returns the per-step seconds."""
    for impl in impls.values():  # warm-up (first call after compile)
        impl.step()
    probe = {}
    for name, impl in impls.items():
        t0 = time.perf_counter()
        impl.step()
        probe[name] = time.perf_counter() - t0
    rounds = int(np.clip(budget_s / max(sum(probe.values()), 1e-9), min_rounds, max_rounds))
    times: dict[str, list[float]] = {name: [] for name in impls}
    names = list(impls)
    for r in range(rounds):
        # rotate the order every round: no implementation always runs right after another
        # (a runtime whose threads still spin would otherwise slow its successor)
        for name in names[r % len(names):] + names[: r % len(names)]:
            impl = impls[name]
            t0 = time.perf_counter()
            impl.step()
            times[name].append(time.perf_counter() - t0)
    return {name: np.asarray(ts) for name, ts in times.items()}
