"""MoMo and MoMo-Adam (gradtx.contrib.momo, momo_adam) equal the float64 references written
from the paper and the authors' code (fabian-sp/MoMo) and optax.contrib over 50 steps of
a noisy quadratic with a loss value per step, jit (one compiled function for the table,
float32 and float64) and no jit, with optax's state trees; the authors' weight-decay
rule is behind ``authors_convention``; a missing ``value`` is named."""

from __future__ import annotations

import jax.numpy as jnp
import pytest
from reference import momo_ref as R
from reference.lrfree_harness import family_tests, make_quadratic

import gradtx
import gradtx.contrib


def _sched(k):
    return 0.5 / (1.0 + 0.02 * k)


CASES = {
    "momo": (lambda m: m.contrib.momo(), R.Momo, True),
    "momo_args": (
        lambda m: m.contrib.momo(0.5, beta=0.8, lower_bound=0.1, weight_decay=0.05),
        lambda: R.Momo(0.5, 0.8, 0.1, 0.05),
        True,
    ),
    "momo_adapt_schedule": (
        lambda m: m.contrib.momo(_sched, weight_decay=0.01, adapt_lower_bound=True),
        lambda: R.Momo(_sched, weight_decay=0.01, use_fstar=True),
        True,
    ),
    "momo_adam": (lambda m: m.contrib.momo_adam(), R.MomoAdam, True),
    "momo_adam_args": (
        lambda m: m.contrib.momo_adam(0.05, b1=0.8, b2=0.99, eps=1e-6, lower_bound=0.1,
                                      weight_decay=0.05, adapt_lower_bound=True),
        lambda: R.MomoAdam(0.05, (0.8, 0.99), 1e-6, 0.1, 0.05, use_fstar=True),
        True,
    ),
    # the authors' weight decay (the whole step over 1 + lr wd): reference only
    "momo_authors": (
        lambda m: m.contrib.momo(0.5, weight_decay=0.05, authors_convention=True),
        lambda: R.Momo(0.5, weight_decay=0.05, convention="authors"),
        False,
    ),
    "momo_adam_authors": (
        lambda m: m.contrib.momo_adam(0.05, weight_decay=0.05, authors_convention=True),
        lambda: R.MomoAdam(0.05, weight_decay=0.05, convention="authors"),
        False,
    ),
}

# float32: the step size is a ratio of inner products (a near-cancellation when the
# model is good), so float32 tracks float64 to ~1e-2 relative; float64 gradtx equals
# the references to ~1e-11
(family32, family64, test_equals_reference_float64, test_equals_optax_and_state_tree,
 test_float32_tracks_reference, test_no_jit_equals_reference) = family_tests(
    CASES, eager=("momo_adam_args",), quad=make_quadratic(), with_value=True,
    param_scale=1e-3, rtol32=5e-2, floor32=1e-3, rtol_optax=1e-4, floor_optax=1e-4)  # fmt: skip


def test_missing_value_and_bad_arguments_are_named():
    tx = gradtx.contrib.momo()
    p = jnp.ones(2)
    with pytest.raises(ValueError, match="value"):
        tx.update(jnp.ones(2), tx.init(p), p)
    with pytest.raises(ValueError, match="params"):
        tx.update(jnp.ones(2), tx.init(p), value=1.0)
    with pytest.raises(ValueError, match="beta"):
        gradtx.contrib.momo(beta=1.0)
    with pytest.raises(ValueError, match="b2"):
        gradtx.contrib.momo_adam(b2=-0.1)
