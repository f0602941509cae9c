"""Compile settings for tests: XLA options for the few tests that compare two different
programs over many steps, and the chunking of the whole-table tests (``in_chunks``).

The suite compiles with LLVM at optimisation level 0 (``tests/conftest.py``), about half
XLA's CPU compile time. Level 0 rounds some float32 programs differently from XLA's
default level 3, and a few long comparisons of two different programs (gradtx's Muon and
L-BFGS against optax's, 40-50 steps with line-search decisions that must match exactly)
are sensitive to that rounding: at level 0 they drift past 1e-5, or take another line-search
trial. Those programs are compiled at XLA's own level, the one users run: pass
``compiler_options=XLA_DEFAULT`` to their ``jax.jit`` (it overrides ``XLA_FLAGS`` for that
program only).
"""

# XLA's default (xla/debug_options_flags.cc: set_xla_backend_optimization_level(3)).
XLA_DEFAULT = {"xla_backend_optimization_level": 3}

# Rows per program for the whole-table tests. XLA's compile time grows faster than the
# program: test_complex's 140 rows compile in 107 s of CPU as one program and in 56-61 s
# as programs of 5-20 rows (tracing and lowering are about the same either way, 17 and
# 7-9 s); a program per row costs more lowering (16 s).
ROWS_PER_PROGRAM = 10


def in_chunks(table_fn, ids, *args, **kwargs):
    """``table_fn(*args, ids=chunk, **kwargs)`` for each chunk of ``ROWS_PER_PROGRAM`` row
    ids, merged into one dict: the same results as one call over all of ``ids`` (a
    ``jax.jit`` with static ``ids`` that runs each row on its own), compiled as several
    smaller programs."""
    out = {}
    for start in range(0, len(ids), ROWS_PER_PROGRAM):
        out.update(table_fn(*args, ids=tuple(ids[start : start + ROWS_PER_PROGRAM]), **kwargs))
    return out
