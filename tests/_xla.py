"""XLA compile options for the few tests that compare two different programs over many steps.

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
