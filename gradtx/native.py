"""Opt-in single-pass Adam/AdamW step on CPU: a fused C++ kernel called through JAX's FFI.

XLA's CPU backend (jax 0.10.2) writes each updated array in its own pass, so a jitted
Adam step streams memory three times (about 44 bytes per parameter instead of 28; see
``docs/performance.md``). This module's kernel reads parameters, gradients and both
moments once and writes parameters and moments once, in place (the outputs alias the
donated inputs), on XLA's intra-op thread pool. On the project's 2-core CPU it ran at
97-105% of the in-place copy bandwidth (pure JAX: 65-72%); see ``benchmarks/RESULTS.md``.

Usage (the transformation is an ordinary gradtx ``adam`` or ``adamw``; only the step
differs)::

    import gradtx.native

    opt = gradtx.native.adam(1e-3)           # == gradtx.adam(1e-3), tagged as supported
    state = opt.init(params)
    step = gradtx.native.make_step(opt)       # like gradtx.make_step, donated
    params, state = step(params, grads, state)

:func:`make_step` and :func:`update_and_apply` use the kernel only when all of these hold:
``tx`` was built by :func:`adam` or :func:`adamw` (float or schedule learning rate and
weight decay; a weight-decay mask of Python booleans), the step runs on CPU,
every parameter, gradient and moment leaf is float32, and the kernel is available (a C++
compiler was found and the build succeeded; ``GRADTX_DISABLE_NATIVE=1`` turns it off).
Otherwise they run the pure-JAX step (``gradtx.update_and_apply``), which stays the
reference; the reason is logged at DEBUG level on the ``gradtx.native`` logger. On GPU and
TPU the pure-JAX branch is always the one compiled (``jax.lax.platform_dependent``).

Build: nothing is compiled at install time. On first use the kernel source below is
compiled with the system C++ compiler (``$CXX``, else ``g++``, ``c++``, ``clang++``) into
``$GRADTX_CACHE_DIR`` (default ``$XDG_CACHE_HOME/gradtx`` or ``~/.cache/gradtx``), in a
file named by a hash of the source, the compiler flags, the jax/jaxlib versions and the
CPU, under a file lock (concurrent processes compile once). It takes about 2-3 seconds.

Numbers: the same operation order as the jitted pure-JAX ``gradtx.adam`` step (the bias
corrections multiplied as ``1/c``, as XLA rewrites them; fused multiply-add where XLA's
CPU code uses it), so results agree to the last bit or within an ulp; tests check
rtol 1e-6 against the pure-JAX step and a NumPy reference.

Limits: float32 only (bf16/f16 leaves fall back); ``nesterov``/``mu_dtype`` are not
offered; not differentiable; sharded parameters are treated as a single-device custom call
(XLA gathers them), so use the pure-JAX step for sharded training. This is a gradtx
extension: optax has no native kernels; torch's ``Adam(fused=True)`` is the analogue.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx._base import EmptyState, GradientTransformation, OptState, Params, Updates
from gradtx._tree import bias_correction, safe_increment
from gradtx.fused import build_step
from gradtx.fused import update_and_apply as _pure_update_and_apply
from gradtx.optimizers import adam as _adam
from gradtx.optimizers import adamw as _adamw
from gradtx.transforms import ScaleByAdamState, ScaleByScheduleState, WeightDecayState
from gradtx.transforms._modifiers import _full_mask

__all__ = ["adam", "adamw", "available", "make_step", "update_and_apply"]

log = logging.getLogger("gradtx.native")

_TARGET = "gradtx_adam_f32"

_SOURCE = r"""
// gradtx single-pass Adam/AdamW (scale_by_adam [+ add_decayed_weights] +
// scale_by_learning_rate + apply_updates), f32.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// s = [1-b1, b1, 1-b2, b2, 1/c1, 1/c2, eps, eps_root, -lr, wd]
struct Scal { float omb1, b1, omb2, b2, ic1, ic2, eps, eps_root, neg_lr, wd; };

// Decay: AdamW's decoupled weight decay, u <- u + wd * p (a separate loop, so that
// without decay a non-finite p is not turned into NaN by 0 * p).
template <bool Decay>
void adam_range(const float* __restrict g, float* __restrict p, float* __restrict m,
                float* __restrict v, int64_t lo, int64_t hi, const Scal& s) {
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = g[i];
    const float mn = s.omb1 * gi + s.b1 * m[i];
    const float vn = s.omb2 * (gi * gi) + s.b2 * v[i];
    float u = (mn * s.ic1) / (std::sqrt(vn * s.ic2 + s.eps_root) + s.eps);
    if (Decay) u = u + s.wd * p[i];
    p[i] = p[i] + s.neg_lr * u;
    m[i] = mn;
    v[i] = vn;
  }
}

void adam_any(const float* g, float* p, float* m, float* v, int64_t lo, int64_t hi,
              const Scal& s) {
  if (s.wd != 0.0f) {
    adam_range<true>(g, p, m, v, lo, hi, s);
  } else {
    adam_range<false>(g, p, m, v, lo, hi, s);
  }
}

ffi::Error AdamImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> p, ffi::Buffer<ffi::F32> g,
                    ffi::Buffer<ffi::F32> m, ffi::Buffer<ffi::F32> v,
                    ffi::Buffer<ffi::F32> scal, ffi::ResultBuffer<ffi::F32> po,
                    ffi::ResultBuffer<ffi::F32> mo, ffi::ResultBuffer<ffi::F32> vo) {
  const int64_t n = p.element_count();
  if (scal.element_count() != 10 || g.element_count() != n || m.element_count() != n ||
      v.element_count() != n) {
    return ffi::Error::InvalidArgument("gradtx_adam_f32: operand sizes do not match");
  }
  const float* sc = scal.typed_data();
  const Scal s{sc[0], sc[1], sc[2], sc[3], sc[4], sc[5], sc[6], sc[7], sc[8], sc[9]};
  float* P = po->typed_data();
  float* M = mo->typed_data();
  float* V = vo->typed_data();
  const float* G = g.typed_data();
  // Outputs alias the inputs (input_output_aliases); copy only if XLA did not alias.
  if (P != p.typed_data()) std::copy_n(p.typed_data(), n, P);
  if (M != m.typed_data()) std::copy_n(m.typed_data(), n, M);
  if (V != v.typed_data()) std::copy_n(v.typed_data(), n, V);
  const int64_t block = int64_t(1) << 16;  // elements per work item
  const int64_t items = (n + block - 1) / block;
  const int64_t helpers = std::min<int64_t>(pool.num_threads(), items - 1);
  if (helpers <= 0) {
    adam_any(G, P, M, V, 0, n, s);
    return ffi::Error::Success();
  }
  // Items are claimed from a shared counter by the calling thread and by helper tasks
  // on XLA's intra-op pool. The caller only waits for items already claimed, so a busy
  // pool cannot deadlock it; late helpers find no work and exit (state is shared_ptr).
  struct Shared { std::atomic<int64_t> next{0}; std::atomic<int64_t> done{0}; };
  auto sh = std::make_shared<Shared>();
  auto work = [=]() {
    int64_t k;
    while ((k = sh->next.fetch_add(1, std::memory_order_relaxed)) < items) {
      adam_any(G, P, M, V, k * block, std::min(n, (k + 1) * block), s);
      sh->done.fetch_add(1, std::memory_order_release);
    }
  };
  for (int64_t t = 0; t < helpers; ++t) pool.Schedule(decltype(work)(work));
  work();
  while (sh->done.load(std::memory_order_acquire) < items) {
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(GradtxAdamF32, AdamImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());
"""

# -ffp-contract=fast: fused multiply-add where XLA's CPU code uses it (same rounding);
# -fno-math-errno lets the sqrt loop vectorise (it does not change results).
_FLAGS = ("-O3", "-march=native", "-ffp-contract=fast", "-fno-math-errno", "-std=c++17",
          "-shared", "-fPIC", "-w")


def _cache_dir() -> Path:
    root = os.environ.get("GRADTX_CACHE_DIR")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "gradtx"


def _cpu_id() -> str:
    """The CPU model and feature flags (``-march=native`` code is CPU-specific)."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = [ln for ln in f if ln.startswith(("model name", "flags"))][:2]
        return "".join(lines)
    except OSError:
        return platform.processor()


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _build() -> Path:
    """Compiles the kernel into the cache (once per source/flags/jax/CPU); returns the path.

    Raises ``RuntimeError`` if no compiler is found or compilation fails."""
    import fcntl  # POSIX only; imported here so `import gradtx` works everywhere

    import jaxlib

    cxx = _compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler found ($CXX, g++, c++, clang++)")
    key = hashlib.sha256("\0".join(
        [_SOURCE, " ".join(_FLAGS), cxx, jax.__version__, jaxlib.__version__,
         platform.machine(), _cpu_id()]).encode()).hexdigest()[:24]
    cache = _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    lib = cache / f"adam_{key}.so"
    if lib.exists():
        return lib
    with open(cache / f"adam_{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be compiling the same key
        if lib.exists():
            return lib
        src = cache / f"adam_{key}.cc"
        src.write_text(_SOURCE)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=cache)
        os.close(fd)
        cmd = [cxx, *_FLAGS, f"-I{jax.ffi.include_dir()}", str(src), "-o", tmp]
        log.debug("gradtx.native: compiling %s", " ".join(cmd))
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            os.unlink(tmp)
            raise RuntimeError(f"compiling the Adam kernel failed:\n{res.stderr[-2000:]}")
        os.replace(tmp, lib)  # atomic: readers never see a half-written library
    return lib


_registered: list[ctypes.CDLL] = []  # FFI registration is process-wide: at most once


@functools.cache
def _load() -> bool:
    """Builds (or finds) and registers the kernel; False, logged, if anything fails.

    The build runs on every uncached call (so a new cache dir is filled), but the FFI
    target is registered only once per process: XLA rejects a second registration of
    the same name from another library."""
    try:
        path = _build()
        if not _registered:
            lib = ctypes.cdll.LoadLibrary(str(path))
            jax.ffi.register_ffi_target(_TARGET, jax.ffi.pycapsule(lib.GradtxAdamF32),
                                        platform="cpu")
            _registered.append(lib)  # keeps the library loaded for the process' lifetime
    except Exception as e:  # noqa: BLE001 - any failure means: use the pure-JAX path
        log.debug("gradtx.native: kernel unavailable, using the pure-JAX step: %s", e)
        return False
    return True


def available() -> bool:
    """Whether the native CPU kernel can be used in this process.

    False when ``GRADTX_DISABLE_NATIVE=1``, when JAX has no CPU backend, or when the
    kernel cannot be compiled (no C++ compiler, build error). The first call may compile
    the kernel (2-3 s); later calls and processes use the cached build.

    Example::

        gradtx.native.available()  # True on a Linux machine with g++
    """
    if os.environ.get("GRADTX_DISABLE_NATIVE", "") not in ("", "0"):
        log.debug("gradtx.native: disabled by GRADTX_DISABLE_NATIVE")
        return False
    try:
        jax.devices("cpu")
    except RuntimeError:
        return False
    return _load()


class _AdamConfig(NamedTuple):
    learning_rate: Any  # float or schedule
    b1: float
    b2: float
    eps: float
    eps_root: float
    decoupled: bool = False  # AdamW: the state has a WeightDecayState in the middle
    weight_decay: Any = 0.0  # float or schedule
    mask: Any = None


# update function of a transformation built by adam() or adamw() -> its hyperparameters
_SUPPORTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def adam(
    learning_rate: Any,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
) -> GradientTransformation:
    r"""``gradtx.adam`` (same transformation, same state), recognised by :func:`make_step`.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\quad
        p_t = p_{t-1} - \mathrm{lr}(t)\,\frac{m_t/(1-\beta_1^t)}
        {\sqrt{v_t/(1-\beta_2^t) + \epsilon_{root}} + \epsilon}

    Defaults as ``gradtx.adam`` and optax (``b1=0.9, b2=0.999, eps=1e-8, eps_root=0``);
    ``learning_rate`` is a float or a schedule. The returned object is an ordinary
    ``GradientTransformation`` usable anywhere (``chain``, ``gradtx.make_step``, optax);
    only :func:`make_step` / :func:`update_and_apply` of this module run it natively.

    Example::

        opt = gradtx.native.adam(1e-3)
        step = gradtx.native.make_step(opt)

    Reference: Kingma & Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015.
    """
    tx = _adam(learning_rate, b1, b2, eps, eps_root)
    _SUPPORTED[tx.update] = _AdamConfig(learning_rate, b1, b2, eps, eps_root)
    return tx


def adamw(
    learning_rate: Any,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: Any = 1e-4,
    mask: Any = None,
) -> GradientTransformation:
    r"""``gradtx.adamw`` (same transformation, same state), recognised by :func:`make_step`.

    .. math::
        p_t = p_{t-1} - \mathrm{lr}(t)\Big(\frac{\hat m_t}
        {\sqrt{\hat v_t + \epsilon_{root}} + \epsilon} + \lambda(t)\,p_{t-1}\Big)

    with :func:`adam`'s moments. Defaults as ``gradtx.adamw`` and optax
    (``weight_decay=1e-4``; torch's is 1e-2). ``learning_rate`` and ``weight_decay`` are
    floats or schedules; ``mask`` (a tree of booleans, a prefix of one, or a function of
    the params returning one) leaves the False leaves undecayed. The kernel runs when the
    mask's leaves are Python booleans; a mask of arrays takes the pure-JAX step.

    Example::

        opt = gradtx.native.adamw(1e-3, weight_decay=1e-2)
        step = gradtx.native.make_step(opt)

    Reference: Loshchilov & Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019.
    """
    tx = _adamw(learning_rate, b1, b2, eps, eps_root, None, weight_decay, mask)
    _SUPPORTED[tx.update] = _AdamConfig(learning_rate, b1, b2, eps, eps_root, True,
                                        weight_decay, mask)
    return tx


def _native_plan(tx: Any, params: Params, grads: Updates, state: OptState) -> str | None:
    """None if the native kernel can run this step, else the reason it cannot."""
    try:
        cfg = _SUPPORTED.get(tx.update)
    except (AttributeError, TypeError):  # no update, or not weak-referenceable
        cfg = None
    if cfg is None:
        return "tx was not built by gradtx.native.adam or gradtx.native.adamw"
    middle = (WeightDecayState,) if cfg.decoupled else ()
    if not (isinstance(state, tuple) and len(state) == 2 + len(middle)
            and isinstance(state[0], ScaleByAdamState)
            and all(isinstance(s, c) for s, c in zip(state[1:-1], middle, strict=True))
            and isinstance(state[-1], (EmptyState, ScaleByScheduleState))):
        return "state is not the state of the gradtx.native optimiser"
    treedef = jax.tree.structure(params)
    try:
        trees = [treedef.flatten_up_to(t) for t in (grads, state[0].mu, state[0].nu)]
    except (ValueError, TypeError):
        return "grads or state do not match the params tree"
    for leaves in [jax.tree.leaves(params), *trees]:
        for x in leaves:
            if jnp.result_type(x) != jnp.float32:
                return f"a leaf has dtype {jnp.result_type(x)}, only float32 is native"
    if cfg.mask is not None and not all(
            isinstance(m, bool) for m in jax.tree.leaves(_full_mask(cfg.mask, params))):
        return "the weight-decay mask has array leaves (only Python booleans are native)"
    if not available():
        return "native kernel unavailable"
    return None


def _native_step(cfg: _AdamConfig, params: Params, grads: Updates, state: OptState):
    adam_state, lr_state = state[0], state[-1]
    count = safe_increment(adam_state.count)
    c1, c2 = bias_correction(cfg.b1, count), bias_correction(cfg.b2, count)
    if isinstance(lr_state, ScaleByScheduleState):  # as scale_by_learning_rate(schedule)
        neg_lr = jnp.asarray(-1 * cfg.learning_rate(lr_state.count), jnp.float32)
        new_lr_state = ScaleByScheduleState(count=safe_increment(lr_state.count))
    else:  # as scale(-lr)
        neg_lr = jnp.asarray(-1 * cfg.learning_rate, jnp.float32)
        new_lr_state = lr_state
    f32 = jnp.float32
    head = [f32(1 - cfg.b1), f32(cfg.b1), f32(1 - cfg.b2), f32(cfg.b2), 1 / c1, 1 / c2,
            f32(cfg.eps), f32(cfg.eps_root), neg_lr]
    scal_plain = jnp.stack([*head, f32(0)])
    treedef = jax.tree.structure(params)
    decay = [False] * treedef.num_leaves
    middle: tuple[Any, ...] = ()
    if cfg.decoupled:  # as add_decayed_weights(weight_decay, mask)
        wd_state = state[1]
        wd = cfg.weight_decay
        wd = wd(wd_state.count) if callable(wd) else wd
        scal_decay = jnp.stack([*head, jnp.asarray(wd, f32)])
        middle = (WeightDecayState(count=safe_increment(wd_state.count)),)
        decay = ([True] * treedef.num_leaves if cfg.mask is None
                 else treedef.flatten_up_to(_full_mask(cfg.mask, params)))
    leaves = zip(treedef.flatten_up_to(params), treedef.flatten_up_to(grads),
                 treedef.flatten_up_to(adam_state.mu), treedef.flatten_up_to(adam_state.nu),
                 decay, strict=True)
    outs = []
    for p, g, m, v, d in leaves:
        shape = jax.ShapeDtypeStruct(jnp.shape(p), jnp.float32)
        call = jax.ffi.ffi_call(_TARGET, (shape, shape, shape),
                                input_output_aliases={0: 0, 2: 1, 3: 2},
                                vmap_method="sequential")
        outs.append(call(p, g, m, v, scal_decay if d else scal_plain))
    new_p, new_m, new_v = (treedef.unflatten([o[i] for o in outs]) for i in range(3))
    return new_p, (ScaleByAdamState(count=count, mu=new_m, nu=new_v), *middle, new_lr_state)


def update_and_apply(
    tx: Any, params: Params, grads: Updates, state: OptState, **extra_args: Any
) -> tuple[Params, OptState]:
    r"""``gradtx.update_and_apply`` with the single-pass native kernel when supported.

    Same contract and results as ``gradtx.update_and_apply(tx, params, grads, state)``
    (``u, s' = tx.update(g, s, p)``, ``p' = p + u``). On CPU, for a ``tx`` from
    :func:`adam` and float32 leaves, the step is one fused in-place pass per leaf (pack
    the tree with ``gradtx.pack`` for one pass in all); anything else, and every
    non-CPU backend, runs the pure-JAX step. Call it inside your jitted training step
    and donate params and state there.

    Example::

        params, state = gradtx.native.update_and_apply(opt, params, grads, state)
    """
    reason = _native_plan(tx, params, grads, state)
    if reason is not None:
        log.debug("gradtx.native: pure-JAX step (%s)", reason)
        return _pure_update_and_apply(tx, params, grads, state, **extra_args)
    cfg = _SUPPORTED[tx.update]
    return jax.lax.platform_dependent(
        params, grads, state,
        cpu=functools.partial(_native_step, cfg),
        default=lambda p, g, s: _pure_update_and_apply(tx, p, g, s, **extra_args),
    )


def make_step(
    tx: Any, *, donate: bool = True, donate_grads: bool = False, jit: bool = True
) -> Callable[..., tuple[Params, OptState]]:
    r"""``gradtx.make_step`` that runs :func:`update_and_apply` of this module.

    ``step(params, grads, state) -> (new_params, new_state)``, jitted, params and state
    donated by default (so the native kernel updates them in place, zero temporaries).
    Falls back to the pure-JAX step exactly where :func:`update_and_apply` does.

    Example::

        opt = gradtx.native.adam(1e-3)
        step = gradtx.native.make_step(opt)
        params, state = step(params, grads, state)
    """
    return build_step(update_and_apply, tx, donate=donate, donate_grads=donate_grads, jit=jit)
