"""D-Adaptation AdamW (gradtx.contrib.dadapt_adamw) equals the float64 reference written
from the authors' code (facebookresearch/dadaptation ``DAdaptAdam``) and
optax.contrib.dadapt_adamw over 50 steps of a noisy quadratic, jit (one compiled
function for the table, float32 and float64) and no jit, with optax's state tree."""

from __future__ import annotations

import jax.numpy as jnp
import pytest
from reference import dadapt_ref as R
from reference.lrfree_harness import family_tests, make_quadratic

import gradtx
import gradtx.contrib


def _sched(k):
    return 1.0 / (1.0 + 0.02 * k)


CASES = {
    "default": (lambda m: m.contrib.dadapt_adamw(), R.DAdaptAdam, True),
    "args": (
        lambda m: m.contrib.dadapt_adamw(0.5, betas=(0.8, 0.99), eps=1e-6, estim_lr0=1e-4,
                                         weight_decay=0.01),
        lambda: R.DAdaptAdam(0.5, (0.8, 0.99), 1e-6, 1e-4, 0.01),
        True,
    ),
    "schedule": (lambda m: m.contrib.dadapt_adamw(_sched), lambda: R.DAdaptAdam(_sched), True),
    # the authors' default (not in optax): no bias correction
    "authors_no_bias_correction": (
        lambda m: m.contrib.dadapt_adamw(use_bias_correction=False),
        lambda: R.DAdaptAdam(use_bias_correction=False),
        False,
    ),
}

# float32: d is a max over ratios of running sums (it grows by orders of magnitude), which
# amplifies rounding; float64 gradtx equals the reference to ~1e-13
(family32, family64, test_equals_reference_float64, test_equals_optax_and_state_tree,
 test_float32_tracks_reference, test_no_jit_equals_reference) = family_tests(
    CASES, eager=("args",), quad=make_quadratic(), param_scale=1e-3, rtol32=2e-2,
    floor32=1e-3, rtol_optax=1e-4, floor_optax=1e-5)  # fmt: skip


def test_zero_gradients_keep_d_finite():
    tx = gradtx.contrib.dadapt_adamw()
    p = jnp.ones(3)
    u, state = tx.update(jnp.zeros(3), tx.init(p), p)
    assert float(state.estim_lr) == pytest.approx(1e-6)
    assert bool(jnp.all(u == 0))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="betas"):
        gradtx.contrib.dadapt_adamw(betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="estim_lr0"):
        gradtx.contrib.dadapt_adamw(estim_lr0=-1.0)
    tx = gradtx.contrib.dadapt_adamw()
    with pytest.raises(ValueError, match="params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
