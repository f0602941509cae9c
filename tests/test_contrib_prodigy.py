"""Prodigy (gradtx.contrib.prodigy) equals the float64 reference written from the authors'
code (konstmish/prodigy) and optax.contrib.prodigy over 50 steps of a noisy quadratic, jit
(one compiled function for the table) and no jit, with optax's state tree; bad arguments
are named."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from reference import prodigy_ref as R
from reference.lrfree_harness import family_tests, make_quadratic

import gradtx
import gradtx.contrib


def _sched(k):
    return 1.0 / (1.0 + 0.02 * k)


CASES = {
    "default": (lambda m: m.contrib.prodigy(), R.Prodigy, True),
    "args": (
        lambda m: m.contrib.prodigy(0.5, betas=(0.8, 0.99), beta3=0.95, eps=1e-6,
                                    estim_lr0=1e-4, estim_lr_coef=0.8, weight_decay=0.01),
        lambda: R.Prodigy(0.5, (0.8, 0.99), 0.95, 1e-6, 1e-4, 0.8, 0.01),
        True,
    ),
    "schedule_safeguard": (
        lambda m: m.contrib.prodigy(_sched, safeguard_warmup=True),
        lambda: R.Prodigy(_sched, safeguard_warmup=True),
        True,
    ),
    # the authors' default (not in optax): no bias correction
    "authors_no_bias_correction": (
        lambda m: m.contrib.prodigy(use_bias_correction=False),
        lambda: R.Prodigy(use_bias_correction=False),
        False,
    ),
}

# float32: d grows by orders of magnitude in the first steps (a max over running sums),
# which amplifies rounding: float32 agrees with the float64 reference to ~5e-3 relative
# (float64 gradtx to 1e-13), with optax to ~4e-5
(family32, family64, test_equals_reference_float64, test_equals_optax_and_state_tree,
 test_float32_tracks_reference, test_no_jit_equals_reference) = family_tests(
    CASES, eager=("args",), quad=make_quadratic(), param_scale=1e-3, rtol32=2e-2,
    floor32=1e-3, rtol_optax=1e-4, floor_optax=1e-5)  # fmt: skip


def test_d_grows_and_the_quadratic_is_solved():
    tx = gradtx.contrib.prodigy()

    def body(carry, _):
        p, state = carry
        u, state = tx.update(p - 1.0, state, p)
        return (gradtx.apply_updates(p, u), state), None

    p = jnp.array([3.0, -2.0])
    (p, state), _ = jax.jit(lambda p: jax.lax.scan(body, (p, tx.init(p)), length=300))(p)
    assert float(state.estim_lr) > 1e-2
    assert float(jnp.max(jnp.abs(p - 1.0))) < 0.05


def test_zero_gradients_keep_d_finite():
    """optax's d is 0/0 = NaN when every gradient so far is 0; gradtx keeps d (the
    authors skip the step)."""
    tx = gradtx.contrib.prodigy()
    p = jnp.ones(3)
    u, state = tx.update(jnp.zeros(3), tx.init(p), p)
    assert float(state.estim_lr) == pytest.approx(1e-6)
    assert bool(jnp.all(u == 0))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="betas"):
        gradtx.contrib.prodigy(betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="estim_lr0"):
        gradtx.contrib.prodigy(estim_lr0=0.0)
    with pytest.raises(ValueError, match="weight_decay"):
        gradtx.contrib.prodigy(weight_decay=-1.0)
    tx = gradtx.contrib.prodigy()
    with pytest.raises(ValueError, match="params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
