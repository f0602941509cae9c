"""Shared test settings: CPU only, small shapes, float32 (JAX's default)."""

import os

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def jax_cache_env(tmp_path_factory) -> dict[str, str]:
    """Environment for subprocesses (the demo smoke run, the notebook kernels) that share
    one persistent JAX compilation cache in this session's pytest temp dir, so what one
    compiled the next loads; cold in every new session."""
    cache = tmp_path_factory.getbasetemp() / "gradtx-jax-cache"
    cache.mkdir(exist_ok=True)
    return {
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }

# The native kernels are built with warnings as errors in the tests (users' lazy builds
# only warn).
os.environ.setdefault("GRADTX_NATIVE_WERROR", "1")
