"""Shared test settings: CPU only, small shapes, float32 (JAX's default)."""

import os
from pathlib import Path

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


# Known failures, each an open instance of an issue (listed in tests/known_failures.txt
# with the reason, and in the closing note of the session that found them). They are
# marked xfail so the suite stays green while they are open; remove a line when it is
# fixed (the run then reports it as XPASS until the line goes).
_KNOWN = Path(__file__).with_name("known_failures.txt")


def pytest_collection_modifyitems(config, items):
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
