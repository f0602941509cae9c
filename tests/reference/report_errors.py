"""Prints, for every optimiser configuration the tests prove, the reference it is checked
against and the largest relative error over 100 steps vs the NumPy float64 reference and
vs optax's alias of the same name.

Run: ``python tests/reference/report_errors.py`` (not collected by pytest).

Two measures per comparison: ``elem``, the largest ``|a - e| / (|e| + 1e-6 max|e|)``
(elementwise, with a floor at 1e-6 of the leaf's largest update so that elements that are
differences of nearly equal terms do not divide by ~0), and ``norm``, the largest
``max|a - e| / max|e|`` over the leaves.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import gradtx  # noqa: E402
from reference.harness import (  # noqa: E402
    OPTIMIZER_CASES,
    make_problem,
    max_rel_error,
    run_reference,
    run_scan,
)

N_STEPS = 100


def main() -> None:
    params, grads = make_problem(N_STEPS)
    header = (
        f"{'optimiser':26s} {'reference (NumPy float64)':34s} {'ref elem':>9s} {'ref norm':>9s}"
        f" {'optax elem':>10s} {'optax norm':>10s}"
    )
    print(header)
    print("-" * len(header))
    for case in OPTIMIZER_CASES:
        ours = jax.jit(lambda p, g, case=case: run_scan(case.make(gradtx), p, g))(params, grads)
        ref = run_reference(case.ref(), params, grads)
        cols = f"{max_rel_error(ours, ref):9.1e} {normwise_error(ours, ref):9.1e}"
        if case.in_optax:
            theirs = jax.jit(lambda p, g, case=case: run_scan(case.make(optax), p, g))(
                params, grads
            )
            cols += f" {max_rel_error(ours, theirs):10.1e} {normwise_error(ours, theirs):10.1e}"
        else:
            cols += f" {'(no alias)':>10s} {'':>10s}"
        print(f"{case.name:26s} {case.source:34s} {cols}")


def normwise_error(actual, expected) -> float:
    return max(
        float(np.max(np.abs(np.asarray(actual[k], np.float64) - expected[k])))
        / float(np.max(np.abs(expected[k])))
        for k in expected
    )


if __name__ == "__main__":
    main()
