"""COCOB-Backprop (gradtx.contrib.cocob, scale_by_cocob) equals the float64 reference
written from the paper (Algorithm 2) and optax.contrib over 50 steps of a noisy
quadratic, jit (one compiled function for the table, float32 and float64) and no jit,
with optax's state tree; bad arguments are named."""

from __future__ import annotations

import jax.numpy as jnp
import pytest
from reference import cocob_ref as R
from reference.lrfree_harness import family_tests, make_quadratic

import gradtx
import gradtx.contrib


def _sched(k):
    return 1.0 / (1.0 + 0.02 * k)


def _mask(params):
    return {k: k != "scalar" for k in params}


CASES = {
    "cocob": (lambda m: m.contrib.cocob(), R.COCOB, True),
    "args": (
        lambda m: m.contrib.cocob(0.5, alpha=10.0, eps=1e-4, weight_decay=0.01),
        lambda: R.COCOB(0.5, 10.0, 1e-4, 0.01),
        True,
    ),
    "schedule_mask": (lambda m: m.contrib.cocob(_sched, weight_decay=0.01, mask=_mask), None,
                      True),
    "scale_by_cocob": (lambda m: m.contrib.scale_by_cocob(), R.COCOB, True),
}

# updates are w_{t+1} - w_t computed as differences of params (optax's form): float32
# rounds them to a few ulp of the params (|w| < 8), so an absolute floor of 2e-6; the
# bets (ratios of running sums) amplify that: float32 tracks float64 to ~3e-3
(family32, family64, test_equals_reference_float64, test_equals_optax_and_state_tree,
 test_float32_tracks_reference, test_no_jit_equals_reference) = family_tests(
    CASES, eager=("args",), quad=make_quadratic(), rtol32=1e-2, floor32=1e-4,
    atol=2e-6)  # fmt: skip


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="alpha"):
        gradtx.contrib.cocob(alpha=0.0)
    with pytest.raises(ValueError, match="eps"):
        gradtx.contrib.scale_by_cocob(eps=0.0)
    tx = gradtx.contrib.cocob()
    with pytest.raises(ValueError, match="params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
