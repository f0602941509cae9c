"""Shared test settings: CPU only, small shapes, float32 (JAX's default)."""

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

# Compile for the tests' sake. The suite compiles thousands of tiny programs (every row of
# the constructor table under every property) and runs each a few times on arrays of a
# handful of elements, so its time is XLA's CPU code generation, not the programs' run.
# Measured on 10 rows of the complex table, CPU seconds of compile: XLA's defaults 10.7;
# its classic elemental emitters instead of the fusion emitters 6.1; plus LLVM at level 0
# 2.5. Every test passes with both, except a few 40-50-step comparisons of two different
# programs (gradtx's Muon and L-BFGS against optax's), which level 0 rounds differently
# enough to move past 1e-5: those compile at XLA's own level (tests/_xla.py). Added to any
# XLA_FLAGS the caller set; subprocesses inherit them. GRADTX_TEST_XLA_FLAGS="default"
# keeps XLA's own flags.
_FAST_COMPILE = "--xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=0"
if os.environ.get("GRADTX_TEST_XLA_FLAGS", "fast") != "default":
    _flags = os.environ.get("XLA_FLAGS", "")
    for _flag in _FAST_COMPILE.split():
        if _flag.split("=")[0] not in _flags:
            _flags = f"{_flags} {_flag}".strip()
    os.environ["XLA_FLAGS"] = _flags


# One persistent JAX compilation cache per test session, shared by the pytest process, its
# xdist workers and the subprocesses (the demo smoke run, the notebook kernels). Tests build
# a new optimiser (a new closure) for every case, so jit recompiles the same HLO many times;
# with the cache a repeated program loads in milliseconds. The key is the compiled program
# (HLO, options, backend, jax version), so a hit is the same executable. Cold in every new
# session; GRADTX_TEST_JAX_CACHE names a directory to keep it between sessions ("off": none).
_CACHE_VAR = "GRADTX_TEST_JAX_CACHE"


# One MLIR context for every lowering in a test process. JAX makes a fresh context for each
# program it lowers (jax._src.interpreters.mlir.make_ir_context), which costs ~6 ms: 60% of
# lowering a one-op program, the eager tests' unit of work (the suite lowers ~5500
# programs). The lowered module, and so the HLO, the compiled program and its persistent
# cache key, are the same either way. Measured on test_optimizers_structured and
# test_transforms (one process): 97 s -> 84 s, peak memory 2.2 GB -> 0.75 GB; no change on
# test_complex's large programs. GRADTX_TEST_MLIR_CONTEXT="fresh" keeps JAX's own.
_MLIR_CONTEXT_VAR = "GRADTX_TEST_MLIR_CONTEXT"


def _share_one_mlir_context() -> None:
    if os.environ.get(_MLIR_CONTEXT_VAR, "shared") == "fresh":
        return
    try:
        from jax._src.interpreters import mlir
    except ImportError:  # another JAX layout: keep JAX's behaviour
        return
    make = getattr(mlir, "make_ir_context", None)
    if make is None or getattr(make, "gradtx_shared", False):
        return
    context = make()

    def shared():
        return context

    shared.gradtx_shared = True
    mlir.make_ir_context = shared


def pytest_configure(config):
    _share_one_mlir_context()
    if not os.environ.get(_CACHE_VAR):  # the controller; xdist workers inherit the variable
        os.environ[_CACHE_VAR] = tempfile.mkdtemp(prefix="gradtx-jax-cache-")
    if os.environ[_CACHE_VAR] == "off":
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", os.environ[_CACHE_VAR])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture(scope="session")
def jax_cache_env() -> dict[str, str]:
    """Environment for subprocesses (the demo smoke run, the notebook kernels) that share
    the session's persistent JAX compilation cache, so what one compiled the next loads."""
    if os.environ[_CACHE_VAR] == "off":
        return {}
    return {
        "JAX_COMPILATION_CACHE_DIR": os.environ[_CACHE_VAR],
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


# The native kernels are built with warnings as errors in the tests (users' lazy builds
# only warn).
os.environ.setdefault("GRADTX_NATIVE_WERROR", "1")


# Known failures, each an open instance of an issue (listed in tests/known_failures.txt
# with the reason, and in the closing note of the session that found them). They are
# marked xfail so the suite stays green while they are open; remove a line when it is
# fixed (the run then reports it as XPASS until the line goes).
_KNOWN = Path(__file__).with_name("known_failures.txt")


# Scheduling over the xdist workers (``--dist loadfile --no-loadscope-reorder``,
# pyproject.toml): each file runs on one worker, so a file that computes one whole-table
# result for all its tests (cached per process: complex, state_dtype, precision) compiles
# it once, not once per worker. (``--dist loadgroup`` with per-table groups would balance
# finer, but pytest 9.2 broke it silently: pytest-xdist issue 1386.) A worker takes the
# next file when it has at most 2 tests left, in the order below: the files that cost the
# most CPU go first (longest first balances the two workers; measured per file, CPU
# seconds, 2026-11-30), every other file after them in collection order. Without
# ``--no-loadscope-reorder`` xdist orders files by their number of tests instead, which
# sent the demo file (4 tests, 2 minutes) last.
_LONG_FIRST = (
    "tests/test_complex.py",
    "tests/test_optimizers_structured.py",
    "tests/test_demo.py",
    "tests/test_notebooks.py",
    "tests/test_numerics.py",
    "tests/test_state_dtype.py",
    "tests/test_multiprocess.py",
    "tests/test_checkpoint_table.py",
    "tests/test_sharding.py",
    "tests/test_optimizers_elementwise.py",
    "tests/test_doctests.py",
    "tests/test_native.py",
)


def _schedule(items):
    def rank(item):
        for i, prefix in enumerate(_LONG_FIRST):
            if item.nodeid.startswith(prefix):
                return i
        return len(_LONG_FIRST)

    items.sort(key=rank)  # stable: collection order within each rank


# The fast core (``-m "not slow"``, README's Development section) also leaves out the
# eager variants of the reference comparisons, every test whose name says
# ``without_jit`` (chex's variant suffix, and the parametrised eager tests named the
# same way): op by op, each new primitive and shape is compiled on its own (about 85 ms
# each, ~800 programs in the structured optimisers' eager tests alone), and their jitted
# twins compare the same numbers. CI runs them.
def _mark_eager_slow(items):
    for item in items:
        if "without_jit" in item.name:
            item.add_marker(pytest.mark.slow)


def pytest_collection_modifyitems(config, items):
    _schedule(items)
    _mark_eager_slow(items)
    if not _KNOWN.exists():
        return
    reasons = {}
    for line in _KNOWN.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            node, _, reason = line.partition("  # ")
            reasons[node.strip()] = reason.strip() or "known failure"
    for item in items:
        reason = reasons.get(item.nodeid)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=False))
