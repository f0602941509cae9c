"""DoG and DoWG (gradtx.contrib.dog, dowg) equal the float64 references written from the
papers and the authors' DoG code (formll/dog) and optax.contrib over 50 steps of a noisy
quadratic, jit (one compiled function for the table, float32 and float64) and no jit,
with optax's state trees; bad arguments are named."""

from __future__ import annotations

import jax.numpy as jnp
import pytest
from reference import dog_ref as R
from reference.lrfree_harness import family_tests, make_quadratic

import gradtx
import gradtx.contrib


def _sched(k):
    return 1.0 / (1.0 + 0.02 * k)


def _mask(params):
    return {k: k != "scalar" for k in params}


CASES = {
    "dog": (lambda m: m.contrib.dog(), R.DoG, True),
    "dog_distance_wd": (
        lambda m: m.contrib.dog(0.8, init_step=("distance", 1e-3), weight_decay=0.01),
        lambda: R.DoG(0.8, init_distance=1e-3, weight_decay=0.01),
        True,
    ),
    "dog_learning_rate_schedule": (
        lambda m: m.contrib.dog(_sched, init_step=("learning_rate", 1e-3), eps=1e-6),
        lambda: R.DoG(_sched, eps=1e-6, init_eta=1e-3),
        True,
    ),
    "dog_wd_mask": (
        lambda m: m.contrib.dog(weight_decay=0.01, mask=_mask), None, True,
    ),
    "dowg": (lambda m: m.contrib.dowg(), R.DoWG, True),
    "dowg_args": (
        lambda m: m.contrib.dowg(_sched, init_estim_sq_dist=1e-6, eps=1e-6, weight_decay=0.01),
        lambda: R.DoWG(_sched, 1e-6, 1e-6, 0.01),
        True,
    ),
}

# float32: the distance |x - x_0| of the first steps (1e-6 of params of size 1e-3) has
# ~4 correct digits; float64 gradtx equals the references to ~1e-13
(family32, family64, test_equals_reference_float64, test_equals_optax_and_state_tree,
 test_float32_tracks_reference, test_no_jit_equals_reference) = family_tests(
    CASES, eager=("dog_distance_wd", "dowg_args"), quad=make_quadratic(), param_scale=1e-3,
    rtol32=1e-3, floor32=1e-5)  # fmt: skip


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="init_step"):
        gradtx.contrib.dog(init_step=("nope", 1.0))
    with pytest.raises(ValueError, match="init_step"):
        gradtx.contrib.dog(init_step=1e-6)
    with pytest.raises(ValueError, match="eps"):
        gradtx.contrib.dowg(eps=-1.0)
    tx = gradtx.contrib.dog()
    with pytest.raises(ValueError, match="params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
