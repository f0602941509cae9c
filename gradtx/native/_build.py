"""Builds the native kernels lazily: nothing is compiled at install time.

On first use ``kernels.cc`` (shipped as package data) is compiled with the system C++
compiler (``$CXX``, else ``g++``, ``c++``, ``clang++``) into ``$GRADTX_CACHE_DIR``
(default ``$XDG_CACHE_HOME/gradtx`` or ``~/.cache/gradtx``), in a file named by a hash of
the source, the compiler flags, the jax/jaxlib versions and the CPU, under a file lock
(concurrent processes compile once). It takes 2-4 seconds. Warnings are on (``-Wall
-Wextra``); ``GRADTX_NATIVE_WERROR=1`` (set by the test suite) makes them errors.
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
from importlib import resources
from pathlib import Path

import jax

log = logging.getLogger("gradtx.native")

TARGET = "gradtx_step_f32"  # the FFI target (see kernels.cc)

# -ffp-contract=fast: fused multiply-add where XLA's CPU code uses it (same rounding);
# -fno-math-errno lets the sqrt loop vectorise (it does not change results).
_FLAGS = ("-O3", "-march=native", "-ffp-contract=fast", "-fno-math-errno", "-std=c++17",
          "-shared", "-fPIC", "-Wall", "-Wextra")


def source() -> str:
    return resources.files("gradtx.native").joinpath("kernels.cc").read_text()


def flags() -> tuple[str, ...]:
    strict = os.environ.get("GRADTX_NATIVE_WERROR", "") not in ("", "0")
    return _FLAGS + (("-Werror",) if strict else ())


def cache_dir() -> Path:
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


def compiler() -> str | None:
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def build() -> Path:
    """Compiles the kernels into the cache (once per source/flags/jax/CPU); returns the
    library's path. Raises ``RuntimeError`` if no compiler is found or compilation fails."""
    import fcntl  # POSIX only; imported here so `import gradtx` works everywhere

    import jaxlib

    cxx = compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler found ($CXX, g++, c++, clang++)")
    src_text, fl = source(), flags()
    key = hashlib.sha256("\0".join(
        [src_text, " ".join(fl), cxx, jax.__version__, jaxlib.__version__,
         platform.machine(), _cpu_id()]).encode()).hexdigest()[:24]
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    lib = cache / f"kernels_{key}.so"
    if lib.exists():
        return lib
    with open(cache / f"kernels_{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be compiling the same key
        if lib.exists():
            return lib
        src = cache / f"kernels_{key}.cc"
        src.write_text(src_text)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=cache)
        os.close(fd)
        # -isystem: the FFI headers' own warnings are not ours to fix
        cmd = [cxx, *fl, "-isystem", jax.ffi.include_dir(), str(src), "-o", tmp]
        log.debug("gradtx.native: compiling %s", " ".join(cmd))
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            os.unlink(tmp)
            raise RuntimeError(f"compiling the native kernels failed:\n{res.stderr[-2000:]}")
        os.replace(tmp, lib)  # atomic: readers never see a half-written library
    return lib


_registered: list[ctypes.CDLL] = []  # FFI registration is process-wide: at most once


@functools.cache
def load() -> bool:
    """Builds (or finds) and registers the kernel; False, logged, if anything fails.

    The build runs on every uncached call (so a new cache dir is filled), but the FFI
    target is registered only once per process: XLA rejects a second registration of
    the same name from another library."""
    try:
        path = build()
        if not _registered:
            lib = ctypes.cdll.LoadLibrary(str(path))
            jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(lib.GradtxStepF32),
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
    the kernel (2-4 s); later calls and processes use the cached build.

    Returns:
      ``True`` if :func:`gradtx.make_step` can run the single-pass kernel on CPU.

    Example:
      >>> import gradtx
      >>> isinstance(gradtx.native.available(), bool)
      True
    """
    if os.environ.get("GRADTX_DISABLE_NATIVE", "") not in ("", "0"):
        log.debug("gradtx.native: disabled by GRADTX_DISABLE_NATIVE")
        return False
    try:
        jax.devices("cpu")
    except RuntimeError:
        return False
    return load()
