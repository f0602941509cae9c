"""Opt-in single-pass optimiser steps on CPU: fused C++ kernels called through JAX's FFI.

XLA's CPU backend (jax 0.10.2) writes each updated array in its own pass, so a jitted
Adam step streams memory three times (about 44 bytes per parameter instead of 28; see
``docs/performance.md``). This module's kernels read parameters, gradients and state once
and write parameters and state once, in place (the outputs alias the donated inputs), on
XLA's intra-op thread pool. On the project's 2-core CPU Adam ran at 94-121% of the
in-place copy bandwidth (pure JAX: 64-72%); see ``benchmarks/RESULTS.md``.

Covered, each an ordinary gradtx transformation (same state, usable anywhere) that
:func:`make_step` recognises: :func:`adam` and :func:`adamw` (each with or without
Nesterov), :func:`nadam`, :func:`yogi` (``gradtx_adam_f32``), :func:`amsgrad`
(``gradtx_amsgrad_f32``), and :func:`sgd` with momentum (plain or Nesterov),
:func:`adagrad`, :func:`rmsprop` (``gradtx_one_state_f32``: one state array per leaf)::

    import gradtx.native

    opt = gradtx.native.adam(1e-3)           # == gradtx.adam(1e-3), tagged as supported
    state = opt.init(params)
    step = gradtx.native.make_step(opt)       # like gradtx.make_step, donated
    params, state = step(params, grads, state)

:func:`make_step` and :func:`update_and_apply` use a kernel only when all of these hold:
``tx`` was built by this module (float or schedule learning rate and weight decay; a
weight-decay mask of Python booleans), the step runs on CPU, every parameter, gradient
and state leaf is float32, and the kernels are available (a C++ compiler was found and
the build succeeded; ``GRADTX_DISABLE_NATIVE=1`` turns them off). Otherwise they run the
pure-JAX step (``gradtx.update_and_apply``), which stays the reference; the reason is
logged at DEBUG level on the ``gradtx.native`` logger. On GPU and TPU the pure-JAX branch
is always the one compiled (``jax.lax.platform_dependent``).

Build: nothing is compiled at install time. On first use the kernel source below is
compiled with the system C++ compiler (``$CXX``, else ``g++``, ``c++``, ``clang++``) into
``$GRADTX_CACHE_DIR`` (default ``$XDG_CACHE_HOME/gradtx`` or ``~/.cache/gradtx``), in a
file named by a hash of the source, the compiler flags, the jax/jaxlib versions and the
CPU, under a file lock (concurrent processes compile once). It takes about 2-4 seconds.

Numbers: the same operation order as the jitted pure-JAX steps (bias corrections
multiplied as ``1/c``; fused multiply-add where XLA's CPU code uses it), so results agree
to the last bit or within a few ulp; tests check rtol 1e-6 against the pure-JAX step and
the float64 NumPy references.

Limits: float32 only (bf16/f16 leaves fall back); ``mu_dtype``, RMSProp's centred and
momentum variants and the other optimisers (AdaBound/AMSBound, Adadelta; plain SGD is
already one pass) are not covered; not differentiable; sharded parameters are treated as a
single-device custom call (XLA gathers them), so use the pure-JAX step for sharded
training. This is a gradtx extension: optax has no native kernels; torch's
``fused=True`` optimisers are the analogue.
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
import numpy as np

from gradtx._base import EmptyState, GradientTransformation, OptState, Params, Updates
from gradtx._tree import bias_correction as _bias_correction
from gradtx._tree import safe_increment
from gradtx.fused import build_step
from gradtx.fused import update_and_apply as _pure_update_and_apply
from gradtx.optimizers import adagrad as _adagrad
from gradtx.optimizers import adam as _adam
from gradtx.optimizers import adamw as _adamw
from gradtx.optimizers import amsgrad as _amsgrad
from gradtx.optimizers import rmsprop as _rmsprop
from gradtx.optimizers import sgd as _sgd
from gradtx.optimizers import yogi as _yogi
from gradtx.transforms import (
    ScaleByAdamState,
    ScaleByAmsgradState,
    ScaleByRmsState,
    ScaleByRssState,
    ScaleByScheduleState,
    TraceState,
    WeightDecayState,
)
from gradtx.transforms._modifiers import _full_mask

__all__ = ["adagrad", "adam", "adamw", "amsgrad", "available", "make_step", "nadam", "rmsprop",
           "sgd", "update_and_apply", "yogi"]

log = logging.getLogger("gradtx.native")

_ADAM = "gradtx_adam_f32"  # FFI targets
_AMSGRAD = "gradtx_amsgrad_f32"
_ONE_STATE = "gradtx_one_state_f32"

_SOURCE = r"""
// gradtx single-pass optimiser steps (update + apply_updates), float32, in place:
//   gradtx_adam_f32:      scale_by_adam (or Nesterov/NAdam) or scale_by_yogi
//                         [+ add_decayed_weights]
//                         + scale_by_learning_rate
//   gradtx_amsgrad_f32:   scale_by_amsgrad + scale_by_learning_rate
//   gradtx_one_state_f32: one state array: trace (SGD momentum, Nesterov), scale_by_rss
//                         (Adagrad), scale_by_rms (RMSProp), + scale_by_learning_rate
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using Buf = ffi::Buffer<ffi::F32>;        // an f32 operand
using Res = ffi::ResultBuffer<ffi::F32>;  // an f32 result (aliased to an operand)

namespace {

// Runs range(lo, hi) over [0, n) in work items of 2^16 elements. Items are claimed from a
// shared counter by the calling thread and by helper tasks on XLA's intra-op pool. The
// caller only waits for items already claimed, so a busy pool cannot deadlock it; late
// helpers find no work and exit (the counters are shared_ptr-owned).
template <typename Range>
void parallel_for(ffi::ThreadPool& pool, int64_t n, Range range) {
  const int64_t block = int64_t(1) << 16;
  const int64_t items = (n + block - 1) / block;
  const int64_t helpers = std::min<int64_t>(pool.num_threads(), items - 1);
  if (helpers <= 0) {
    range(int64_t(0), n);
    return;
  }
  struct Shared { std::atomic<int64_t> next{0}; std::atomic<int64_t> done{0}; };
  auto sh = std::make_shared<Shared>();
  auto work = [=]() {
    int64_t k;
    while ((k = sh->next.fetch_add(1, std::memory_order_relaxed)) < items) {
      range(k * block, std::min(n, (k + 1) * block));
      sh->done.fetch_add(1, std::memory_order_release);
    }
  };
  for (int64_t t = 0; t < helpers; ++t) pool.Schedule(decltype(work)(work));
  work();
  while (sh->done.load(std::memory_order_acquire) < items) {
  }
}

// Outputs alias the inputs (input_output_aliases); copies only if XLA did not alias.
float* in_place(const Buf& in, Res& out) {
  float* o = out->typed_data();
  if (o != in.typed_data()) std::copy_n(in.typed_data(), in.element_count(), o);
  return o;
}

// s = [1-b1, b1, 1-b2, b2, 1/c1, 1/c2, eps, eps_root, -lr, wd, 1/c1(t+1)]
struct AdamScal { float omb1, b1, omb2, b2, ic1, ic2, eps, eps_root, neg_lr, wd, ic1n; };

AdamScal adam_scal(const Buf& scal) {  // its 11 floats, checked by the caller
  const float* c = scal.typed_data();
  return AdamScal{c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10]};
}

// Adam; Yogi's second moment v - (1-b2) sign(v - g^2) g^2 (sign(0) = 0); NAdam's first
// moment estimate b1 m_t / c1(t+1) + (1-b1) g_t / c1(t) (Adam with nesterov=True).
enum AdamKind : int32_t { kAdam = 0, kYogi = 1, kNadam = 2 };

// Decay: AdamW's decoupled weight decay, u <- u + wd * p (a separate loop, so that
// without decay a non-finite p is not turned into NaN by 0 * p).
template <int32_t K, bool Decay>
void adam_range(const float* __restrict g, float* __restrict p, float* __restrict m,
                float* __restrict v, int64_t lo, int64_t hi, const AdamScal& s) {
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = g[i];
    const float mn = s.omb1 * gi + s.b1 * m[i];
    float vn;
    if constexpr (K == kYogi) {
      const float g2 = gi * gi;
      const float d = v[i] - g2;
      const float sign = d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : 0.0f);
      vn = v[i] - s.omb2 * sign * g2;
    } else {
      vn = s.omb2 * (gi * gi) + s.b2 * v[i];
    }
    const float mh = (K == kNadam) ? s.b1 * mn * s.ic1n + s.omb1 * gi * s.ic1 : mn * s.ic1;
    float u = mh / (std::sqrt(vn * s.ic2 + s.eps_root) + s.eps);
    if (Decay) u = u + s.wd * p[i];
    p[i] = p[i] + s.neg_lr * u;
    m[i] = mn;
    v[i] = vn;
  }
}

ffi::Error AdamImpl(ffi::ThreadPool pool, Buf p, Buf g, Buf m, Buf v, Buf scal, Res po,
                    Res mo, Res vo, int32_t kind) {
  const int64_t n = p.element_count();
  if (scal.element_count() != 11 || g.element_count() != n || m.element_count() != n ||
      v.element_count() != n) {
    return ffi::Error::InvalidArgument("gradtx_adam_f32: operand sizes do not match");
  }
  if (kind != kAdam && kind != kYogi && kind != kNadam) {
    return ffi::Error::InvalidArgument("gradtx_adam_f32: unknown kind");
  }
  const AdamScal s = adam_scal(scal);
  float* P = in_place(p, po);
  float* M = in_place(m, mo);
  float* V = in_place(v, vo);
  const float* G = g.typed_data();
  const bool decay = s.wd != 0.0f;
  parallel_for(pool, n, [=](int64_t lo, int64_t hi) {
    if (kind == kYogi) {
      adam_range<kYogi, false>(G, P, M, V, lo, hi, s);
    } else if (kind == kNadam) {
      if (decay) adam_range<kNadam, true>(G, P, M, V, lo, hi, s);
      else adam_range<kNadam, false>(G, P, M, V, lo, hi, s);
    } else {
      if (decay) adam_range<kAdam, true>(G, P, M, V, lo, hi, s);
      else adam_range<kAdam, false>(G, P, M, V, lo, hi, s);
    }
  });
  return ffi::Error::Success();
}

// AMSGrad: Adam with v_max = max(v_max, v / c2) (NaN-propagating, as jnp.maximum) in the
// denominator; s as Adam's (wd and 1/c1(t+1) unused).
void amsgrad_range(const float* __restrict g, float* __restrict p, float* __restrict m,
                   float* __restrict v, float* __restrict vmax, int64_t lo, int64_t hi,
                   const AdamScal& s) {
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = g[i];
    const float mn = s.omb1 * gi + s.b1 * m[i];
    const float vn = s.omb2 * (gi * gi) + s.b2 * v[i];
    const float vh = vn * s.ic2;
    const float old = vmax[i];
    const float vm = (vh > old || vh != vh) ? vh : old;
    const float u = (mn * s.ic1) / (std::sqrt(vm + s.eps_root) + s.eps);
    p[i] = p[i] + s.neg_lr * u;
    m[i] = mn;
    v[i] = vn;
    vmax[i] = vm;
  }
}

ffi::Error AmsgradImpl(ffi::ThreadPool pool, Buf p, Buf g, Buf m, Buf v, Buf vmax, Buf scal,
                       Res po, Res mo, Res vo, Res xo) {
  const int64_t n = p.element_count();
  if (scal.element_count() != 11 || g.element_count() != n || m.element_count() != n ||
      v.element_count() != n || vmax.element_count() != n) {
    return ffi::Error::InvalidArgument("gradtx_amsgrad_f32: operand sizes do not match");
  }
  const AdamScal s = adam_scal(scal);
  float* P = in_place(p, po);
  float* M = in_place(m, mo);
  float* V = in_place(v, vo);
  float* X = in_place(vmax, xo);
  const float* G = g.typed_data();
  parallel_for(pool, n, [=](int64_t lo, int64_t hi) {
    amsgrad_range(G, P, M, V, X, lo, hi, s);
  });
  return ffi::Error::Success();
}

// kind: which transformation's rule; k = its four scalars, then -lr.
enum Kind : int32_t { kTrace = 0, kNesterov = 1, kRss = 2, kRmsEpsIn = 3, kRmsEpsOut = 4 };
struct OneScal { float k0, k1, k2, k3, neg_lr; };

template <int32_t K>
void one_state_range(const float* __restrict g, float* __restrict p, float* __restrict s,
                     int64_t lo, int64_t hi, const OneScal& k) {
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = g[i];
    float sn, u;
    if constexpr (K == kTrace || K == kNesterov) {  // k0 = momentum
      sn = gi + k.k0 * s[i];
      u = (K == kNesterov) ? gi + k.k0 * sn : sn;
    } else if constexpr (K == kRss) {  // k0 = eps
      sn = s[i] + gi * gi;
      const float r = 1.0f / std::sqrt(sn + k.k0);  // unconditional, so the loop vectorises
      u = (sn > 0.0f ? r : 0.0f) * gi;
    } else {  // k0 = 1-decay, k1 = decay, k2 = 1/bias correction, k3 = eps
      sn = k.k0 * (gi * gi) + k.k1 * s[i];
      const float var = sn * k.k2;
      u = ((K == kRmsEpsIn) ? 1.0f / std::sqrt(var + k.k3)
                            : 1.0f / (std::sqrt(var) + k.k3)) * gi;
    }
    p[i] = p[i] + k.neg_lr * u;
    s[i] = sn;
  }
}

ffi::Error OneStateImpl(ffi::ThreadPool pool, Buf p, Buf g, Buf st, Buf scal, Res po,
                        Res so, int32_t kind) {
  const int64_t n = p.element_count();
  if (scal.element_count() != 5 || g.element_count() != n || st.element_count() != n) {
    return ffi::Error::InvalidArgument("gradtx_one_state_f32: operand sizes do not match");
  }
  if (kind < kTrace || kind > kRmsEpsOut) {
    return ffi::Error::InvalidArgument("gradtx_one_state_f32: unknown kind");
  }
  const float* sc = scal.typed_data();
  const OneScal k{sc[0], sc[1], sc[2], sc[3], sc[4]};
  float* P = in_place(p, po);
  float* S = in_place(st, so);
  const float* G = g.typed_data();
  parallel_for(pool, n, [=](int64_t lo, int64_t hi) {
    switch (kind) {
      case kTrace: one_state_range<kTrace>(G, P, S, lo, hi, k); break;
      case kNesterov: one_state_range<kNesterov>(G, P, S, lo, hi, k); break;
      case kRss: one_state_range<kRss>(G, P, S, lo, hi, k); break;
      case kRmsEpsIn: one_state_range<kRmsEpsIn>(G, P, S, lo, hi, k); break;
      default: one_state_range<kRmsEpsOut>(G, P, S, lo, hi, k); break;
    }
  });
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(GradtxAdamF32, AdamImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Ret<Buf>()
                                  .Ret<Buf>()
                                  .Ret<Buf>()
                                  .Attr<int32_t>("kind"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(GradtxAmsgradF32, AmsgradImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Ret<Buf>()
                                  .Ret<Buf>()
                                  .Ret<Buf>()
                                  .Ret<Buf>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(GradtxOneStateF32, OneStateImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Arg<Buf>()
                                  .Ret<Buf>()
                                  .Ret<Buf>()
                                  .Attr<int32_t>("kind"));
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
    lib = cache / f"kernels_{key}.so"
    if lib.exists():
        return lib
    with open(cache / f"kernels_{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be compiling the same key
        if lib.exists():
            return lib
        src = cache / f"kernels_{key}.cc"
        src.write_text(_SOURCE)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=cache)
        os.close(fd)
        cmd = [cxx, *_FLAGS, f"-I{jax.ffi.include_dir()}", str(src), "-o", tmp]
        log.debug("gradtx.native: compiling %s", " ".join(cmd))
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            os.unlink(tmp)
            raise RuntimeError(f"compiling the native kernels failed:\n{res.stderr[-2000:]}")
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
            for target, symbol in ((_ADAM, lib.GradtxAdamF32),
                                   (_AMSGRAD, lib.GradtxAmsgradF32),
                                   (_ONE_STATE, lib.GradtxOneStateF32)):
                jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(symbol), platform="cpu")
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


class _Plan(NamedTuple):
    """How :func:`update_and_apply` runs a transformation built by this module."""

    layout: tuple[Any, ...]  # the chain's state: a class (or tuple of classes) per element
    moments: Callable[[OptState], list[Any]]  # the state's trees shaped like the params
    step: Callable[[Params, Updates, OptState], tuple[Params, OptState]]  # the kernel step
    mask: Any = None  # AdamW's weight-decay mask (must have Python-boolean leaves)


_LR_STATE = (EmptyState, ScaleByScheduleState)  # scale_by_learning_rate's state

# update function of a transformation built by this module -> its plan
_SUPPORTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _register(tx: GradientTransformation, plan: _Plan) -> GradientTransformation:
    _SUPPORTED[tx.update] = plan
    return tx


def _learning_rate(learning_rate: Any, lr_state: Any) -> tuple[jax.Array, Any]:
    """(-lr, new state) as ``scale_by_learning_rate``: ``scale(-lr)`` for a number, the
    schedule at the state's count (then counted up) for a schedule."""
    if isinstance(lr_state, ScaleByScheduleState):
        neg_lr = jnp.asarray(-1 * learning_rate(lr_state.count), jnp.float32)
        return neg_lr, ScaleByScheduleState(count=safe_increment(lr_state.count))
    return jnp.asarray(-1 * learning_rate, jnp.float32), lr_state


def _call(target: str, params: Params, grads: Updates, moments: list[Any], scals: list[Any],
          **attrs: Any) -> list[Any]:
    """One in-place kernel call per leaf: ``target(p, g, *moments, scal) -> (p', *moments')``
    (outputs aliased to the donated inputs); returns the trees ``[p', *moments']``."""
    treedef = jax.tree.structure(params)
    columns = [treedef.flatten_up_to(t) for t in (params, grads, *moments)]
    n_out = 1 + len(moments)
    aliases = {0: 0, **{2 + i: 1 + i for i in range(len(moments))}}
    outs = []
    for *arrays, scal in zip(*columns, scals, strict=True):
        shape = jax.ShapeDtypeStruct(jnp.shape(arrays[0]), jnp.float32)
        call = jax.ffi.ffi_call(target, (shape,) * n_out, input_output_aliases=aliases,
                                vmap_method="sequential")
        outs.append(call(*arrays, scal, **attrs))
    return [treedef.unflatten([o[i] for o in outs]) for i in range(n_out)]


def _f32(*xs: Any) -> jax.Array:
    return jnp.stack([jnp.asarray(x, jnp.float32) for x in xs])


def _adam_head(state: OptState, b1: float, b2: float, eps: float, eps_root: float,
               learning_rate: Any, bias_mu: bool = True,
               bias_nu: bool = True) -> tuple[jax.Array, tuple[Any, ...], Any]:
    """(new count, the Adam-family kernels' first nine scalars, new learning-rate state)."""
    count = safe_increment(state[0].count)
    c1 = _bias_correction(b1, count) if bias_mu else 1.0
    c2 = _bias_correction(b2, count) if bias_nu else 1.0
    neg_lr, lr_state = _learning_rate(learning_rate, state[-1])
    return count, (1 - b1, b1, 1 - b2, b2, 1 / c1, 1 / c2, eps, eps_root, neg_lr), lr_state


# gradtx_adam_f32's rules (its `kind` attribute)
_ADAM_RULE, _YOGI_RULE, _NADAM_RULE = 0, 1, 2


def _adam_plan(learning_rate: Any, b1: float, b2: float, eps: float, eps_root: float,
               decoupled: bool = False, weight_decay: Any = 0.0, mask: Any = None,
               kind: int = _ADAM_RULE) -> _Plan:
    def step(params, grads, state):
        adam_state = state[0]
        count, head, lr_state = _adam_head(state, b1, b2, eps, eps_root, learning_rate)
        # NAdam's 1/c1(t+1) (unused by the other rules)
        ic1n = 1 / _bias_correction(b1, safe_increment(count)) if kind == _NADAM_RULE else 0.0
        n = jax.tree.structure(params).num_leaves
        scals = [_f32(*head, 0.0, ic1n)] * n
        middle: tuple[Any, ...] = ()
        if decoupled:  # as add_decayed_weights(weight_decay, mask)
            wd_state = state[1]
            wd = weight_decay(wd_state.count) if callable(weight_decay) else weight_decay
            middle = (WeightDecayState(count=safe_increment(wd_state.count)),)
            decay = ([True] * n if mask is None
                     else jax.tree.structure(params).flatten_up_to(_full_mask(mask, params)))
            scal_decay = _f32(*head, wd, ic1n)
            scals = [scal_decay if d else s for d, s in zip(decay, scals, strict=True)]
        p, m, v = _call(_ADAM, params, grads, [adam_state.mu, adam_state.nu], scals,
                        kind=np.int32(kind))
        return p, (ScaleByAdamState(count=count, mu=m, nu=v), *middle, lr_state)

    layout = (ScaleByAdamState, *((WeightDecayState,) if decoupled else ()), _LR_STATE)
    return _Plan(layout, lambda s: [s[0].mu, s[0].nu], step, mask)


def adam(
    learning_rate: Any,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""``gradtx.adam`` (same transformation, same state), recognised by :func:`make_step`.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\quad
        p_t = p_{t-1} - \mathrm{lr}(t)\,\frac{m_t/(1-\beta_1^t)}
        {\sqrt{v_t/(1-\beta_2^t) + \epsilon_{root}} + \epsilon}

    Defaults as ``gradtx.adam`` and optax (``b1=0.9, b2=0.999, eps=1e-8, eps_root=0,
    nesterov=False``; ``nesterov=True`` is :func:`nadam`'s rule);
    ``learning_rate`` is a float or a schedule. The returned object is an ordinary
    ``GradientTransformation`` usable anywhere (``chain``, ``gradtx.make_step``, optax);
    only :func:`make_step` / :func:`update_and_apply` of this module run it natively.

    Example::

        opt = gradtx.native.adam(1e-3)
        step = gradtx.native.make_step(opt)

    Reference: Kingma & Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015.
    """
    rule = _NADAM_RULE if nesterov else _ADAM_RULE
    return _register(_adam(learning_rate, b1, b2, eps, eps_root, nesterov=nesterov),
                     _adam_plan(learning_rate, b1, b2, eps, eps_root, kind=rule))


def nadam(learning_rate: Any, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          eps_root: float = 0.0) -> GradientTransformation:
    r"""``gradtx.nadam`` (same transformation, same state), recognised by :func:`make_step`.

    :func:`adam` with Nesterov momentum:
    :math:`\hat m_t = \beta_1 m_t/(1-\beta_1^{t+1}) + (1-\beta_1) g_t/(1-\beta_1^t)`.
    Defaults as ``gradtx.nadam`` and optax (``b1=0.9, b2=0.999, eps=1e-8, eps_root=0``).

    Example::

        opt = gradtx.native.nadam(1e-3)
        step = gradtx.native.make_step(opt)

    Reference: Dozat, *Incorporating Nesterov Momentum into Adam*, ICLR workshop 2016.
    """
    return adam(learning_rate, b1, b2, eps, eps_root, nesterov=True)


def adamw(
    learning_rate: Any,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: Any = 1e-4,
    mask: Any = None,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""``gradtx.adamw`` (same transformation, same state), recognised by :func:`make_step`.

    .. math::
        p_t = p_{t-1} - \mathrm{lr}(t)\Big(\frac{\hat m_t}
        {\sqrt{\hat v_t + \epsilon_{root}} + \epsilon} + \lambda(t)\,p_{t-1}\Big)

    with :func:`adam`'s moments (``nesterov=True``: :func:`nadam`'s estimate
    :math:`\hat m_t`). Defaults as ``gradtx.adamw`` and optax (``weight_decay=1e-4``,
    torch's is 1e-2; ``nesterov=False``). ``learning_rate`` and ``weight_decay`` are
    floats or schedules; ``mask`` (a tree of booleans, a prefix of one, or a function of
    the params returning one) leaves the False leaves undecayed. The kernel runs when the
    mask's leaves are Python booleans; a mask of arrays takes the pure-JAX step.

    Example::

        opt = gradtx.native.adamw(1e-3, weight_decay=1e-2)
        step = gradtx.native.make_step(opt)

    Reference: Loshchilov & Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019.
    """
    return _register(
        _adamw(learning_rate, b1, b2, eps, eps_root, None, weight_decay, mask,
               nesterov=nesterov),
        _adam_plan(learning_rate, b1, b2, eps, eps_root, True, weight_decay, mask,
                   _NADAM_RULE if nesterov else _ADAM_RULE))


def yogi(learning_rate: Any, b1: float = 0.9, b2: float = 0.999,
         eps: float = 1e-3) -> GradientTransformation:
    r"""``gradtx.yogi`` (same transformation, same state), recognised by :func:`make_step`.

    .. math::
        v_t = v_{t-1} - (1-\beta_2)\,\mathrm{sign}(v_{t-1} - g_t^2)\, g_t^2,\quad
        p_t = p_{t-1} - \mathrm{lr}(t)\,\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    with :func:`adam`'s first moment and bias corrections; both moments start at 1e-6.
    Defaults as ``gradtx.yogi`` and optax (``b1=0.9, b2=0.999, eps=1e-3``).

    Example::

        opt = gradtx.native.yogi(1e-2)
        step = gradtx.native.make_step(opt)

    Reference: Zaheer et al., *Adaptive Methods for Nonconvex Optimization*, NeurIPS 2018.
    """
    return _register(_yogi(learning_rate, b1, b2, eps),
                     _adam_plan(learning_rate, b1, b2, eps, 0.0, kind=_YOGI_RULE))


def amsgrad(learning_rate: Any, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
            eps_root: float = 0.0, bias_correction_mu: bool = True,
            bias_correction_nu: bool = True) -> GradientTransformation:
    r"""``gradtx.amsgrad`` (same transformation, same state), recognised by
    :func:`make_step`.

    .. math::
        \hat v^{max}_t = \max(\hat v^{max}_{t-1}, v_t/(1-\beta_2^t)),\quad
        p_t = p_{t-1} - \mathrm{lr}(t)\,\frac{m_t/(1-\beta_1^t)}
        {\sqrt{\hat v^{max}_t + \epsilon_{root}} + \epsilon}

    with :func:`adam`'s moments (each bias correction can be turned off). Defaults as
    ``gradtx.amsgrad`` and optax (``b1=0.9, b2=0.999, eps=1e-8, eps_root=0``, both
    corrections on); ``mu_dtype`` is not offered.

    Example::

        opt = gradtx.native.amsgrad(1e-3)
        step = gradtx.native.make_step(opt)

    Reference: Reddi, Kale & Kumar, *On the Convergence of Adam and Beyond*, ICLR 2018.
    """
    def step(params, grads, state):
        s = state[0]
        count, head, lr_state = _adam_head(state, b1, b2, eps, eps_root, learning_rate,
                                           bias_correction_mu, bias_correction_nu)
        n = jax.tree.structure(params).num_leaves
        p, m, v, vmax = _call(_AMSGRAD, params, grads, [s.mu, s.nu, s.nu_max],
                              [_f32(*head, 0.0, 0.0)] * n)
        return p, (ScaleByAmsgradState(count=count, mu=m, nu=v, nu_max=vmax), lr_state)

    plan = _Plan((ScaleByAmsgradState, _LR_STATE),
                 lambda s: [s[0].mu, s[0].nu, s[0].nu_max], step)
    return _register(_amsgrad(learning_rate, b1, b2, eps, eps_root, None, bias_correction_mu,
                              bias_correction_nu), plan)


# gradtx_one_state_f32's rules (the `kind` attribute; see the kernel source)
_TRACE, _NESTEROV, _RSS, _RMS_EPS_IN, _RMS_EPS_OUT = range(5)


def _one_state_plan(learning_rate: Any, layout: tuple[Any, ...], kind: int,
                    moment: Callable[[Any], Any], new_state: Callable[[Any, Any], Any],
                    scalars: Callable[[Any], tuple[Any, ...]]) -> _Plan:
    """A transformation with one state array per leaf, then the learning rate.

    ``moment(s)`` is the tree in the first state element ``s``; ``new_state(s, tree)``
    rebuilds that element; ``scalars(s)`` gives the kernel's four scalars."""
    def step(params, grads, state):
        neg_lr, lr_state = _learning_rate(learning_rate, state[1])
        scal = _f32(*scalars(state[0]), neg_lr)
        n = jax.tree.structure(params).num_leaves
        p, new = _call(_ONE_STATE, params, grads, [moment(state[0])], [scal] * n,
                       kind=np.int32(kind))
        return p, (new_state(state[0], new), lr_state, *state[2:])

    return _Plan(layout, lambda s: [moment(s[0])], step)


def sgd(learning_rate: Any, momentum: float | None = None,
        nesterov: bool = False) -> GradientTransformation:
    r"""``gradtx.sgd`` (same transformation, same state), recognised by :func:`make_step`.

    .. math::
        v_t = g_t + \mu\, v_{t-1},\quad
        p_t = p_{t-1} - \mathrm{lr}(t)\,(g_t + \mu\, v_t \text{ if Nesterov else } v_t)

    Defaults as ``gradtx.sgd`` and optax (``momentum=None, nesterov=False``). The kernel
    runs SGD with momentum (Nesterov or not) as one pass; plain SGD (``momentum=None``) is
    already one pass in XLA and always takes the pure-JAX step.

    Example::

        opt = gradtx.native.sgd(0.1, momentum=0.9)
        step = gradtx.native.make_step(opt)

    Reference: Polyak, *Some methods of speeding up the convergence of iteration methods*,
    1964; Sutskever et al., *On the importance of initialization and momentum in deep
    learning*, ICML 2013 (Nesterov form).
    """
    tx = _sgd(learning_rate, momentum, nesterov)
    if momentum is None:
        return tx
    return _register(tx, _one_state_plan(
        learning_rate, (TraceState, _LR_STATE), _NESTEROV if nesterov else _TRACE,
        lambda s: s.trace, lambda s, t: TraceState(trace=t),
        lambda s: (momentum, 0.0, 0.0, 0.0)))


def adagrad(learning_rate: Any, initial_accumulator_value: float = 0.1,
            eps: float = 1e-7) -> GradientTransformation:
    r"""``gradtx.adagrad`` (same transformation, same state), recognised by :func:`make_step`.

    .. math::
        s_t = s_{t-1} + g_t^2,\quad
        p_t = p_{t-1} - \mathrm{lr}(t)\,\frac{g_t}{\sqrt{s_t + \epsilon}}

    (0 where :math:`s_t = 0`). Defaults as ``gradtx.adagrad`` and optax
    (``initial_accumulator_value=0.1, eps=1e-7``).

    Example::

        opt = gradtx.native.adagrad(0.1)
        step = gradtx.native.make_step(opt)

    Reference: Duchi, Hazan & Singer, *Adaptive Subgradient Methods for Online Learning
    and Stochastic Optimization*, JMLR 2011.
    """
    return _register(
        _adagrad(learning_rate, initial_accumulator_value, eps),
        _one_state_plan(learning_rate, (ScaleByRssState, _LR_STATE), _RSS,
                        lambda s: s.sum_of_squares,
                        lambda s, t: ScaleByRssState(sum_of_squares=t),
                        lambda s: (eps, 0.0, 0.0, 0.0)))


def rmsprop(learning_rate: Any, decay: float = 0.9, eps: float = 1e-8,
            initial_scale: float = 0.0, eps_in_sqrt: bool = True,
            bias_correction: bool = False) -> GradientTransformation:
    r"""``gradtx.rmsprop`` (same transformation, same state), recognised by :func:`make_step`.

    .. math::
        \nu_t = \rho\,\nu_{t-1} + (1-\rho)\,g_t^2,\quad
        p_t = p_{t-1} - \mathrm{lr}(t)\,\frac{g_t}{\sqrt{\nu_t/c_t + \epsilon}}
        \ \text{(or } \frac{g_t}{\sqrt{\nu_t/c_t} + \epsilon}\text{ with eps_in_sqrt=False)}

    with :math:`c_t = 1-\rho^t` if ``bias_correction`` else 1. Defaults as
    ``gradtx.rmsprop`` and optax (``decay=0.9, eps=1e-8, initial_scale=0, eps_in_sqrt=True,
    bias_correction=False``). The centred and momentum variants are not offered here: use
    ``gradtx.rmsprop`` (pure JAX).

    Example::

        opt = gradtx.native.rmsprop(1e-3)
        step = gradtx.native.make_step(opt)

    Reference: Tieleman & Hinton, *Lecture 6.5, rmsprop*, COURSERA 2012.
    """
    def scalars(s):
        c = _bias_correction(decay, safe_increment(s.count)) if bias_correction else 1.0
        return 1 - decay, decay, 1 / c, eps

    return _register(
        _rmsprop(learning_rate, decay, eps, initial_scale, eps_in_sqrt,
                 bias_correction=bias_correction),
        _one_state_plan(
            learning_rate, (ScaleByRmsState, _LR_STATE, EmptyState),
            _RMS_EPS_IN if eps_in_sqrt else _RMS_EPS_OUT, lambda s: s.nu,
            lambda s, t: ScaleByRmsState(count=safe_increment(s.count), nu=t, mu=None),
            scalars))


def _native_plan(tx: Any, params: Params, grads: Updates, state: OptState) -> str | None:
    """None if the native kernel can run this step, else the reason it cannot."""
    try:
        plan = _SUPPORTED.get(tx.update)
    except (AttributeError, TypeError):  # no update, or not weak-referenceable
        plan = None
    if plan is None:
        return "tx was not built by gradtx.native"
    if not (isinstance(state, tuple) and len(state) == len(plan.layout)
            and all(isinstance(s, c) for s, c in zip(state, plan.layout, strict=True))):
        return "state is not the state of the gradtx.native optimiser"
    treedef = jax.tree.structure(params)
    try:
        trees = [treedef.flatten_up_to(t) for t in (grads, *plan.moments(state))]
    except (ValueError, TypeError):
        return "grads or state do not match the params tree"
    for leaves in [jax.tree.leaves(params), *trees]:
        for x in leaves:
            if jnp.result_type(x) != jnp.float32:
                return f"a leaf has dtype {jnp.result_type(x)}, only float32 is native"
    if plan.mask is not None and not all(
            isinstance(m, bool) for m in jax.tree.leaves(_full_mask(plan.mask, params))):
        return "the weight-decay mask has array leaves (only Python booleans are native)"
    if not available():
        return "native kernel unavailable"
    return None


def update_and_apply(
    tx: Any, params: Params, grads: Updates, state: OptState, **extra_args: Any
) -> tuple[Params, OptState]:
    r"""``gradtx.update_and_apply`` with the single-pass native kernel when supported.

    Same contract and results as ``gradtx.update_and_apply(tx, params, grads, state)``
    (``u, s' = tx.update(g, s, p)``, ``p' = p + u``). On CPU, for a ``tx`` built by this
    module and float32 leaves, the step is one fused in-place pass per leaf (pack
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
    return jax.lax.platform_dependent(
        params, grads, state,
        cpu=_SUPPORTED[tx.update].step,
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
