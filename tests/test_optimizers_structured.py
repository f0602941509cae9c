"""The non-elementwise optimisers (per-block trust ratio, factored second moments, SM3)
equal their NumPy float64 references over 50 steps (with and without jit), equal optax's
alias or transform of the same name (rtol 1e-5), have optax's signature, defaults and
state tree (a checkpoint moves both ways), and reject bad hyperparameters by name.

The problem has a (128, 4) leaf (factored by Adafactor's default
``min_dim_size_to_factor=128``), a small matrix, a vector, a scalar, and an all-zero
vector (the trust ratio's zero-norm branch).
"""

from __future__ import annotations

import inspect
import re

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from absl.testing import parameterized
from reference import optimizers14b_ref as R
from reference.harness import assert_close, decay_schedule, run_reference, run_scan, step_fn
from reference.transforms_ref import Chain, Scale

import gradtx

N_STEPS = 50
N_EAGER = 6
SHAPES = {"big": (128, 4), "matrix": (3, 5), "vector": (4,), "scalar": (), "zeros": (3,)}

# float32 against float64: the per-block norms and the factored means add rounding
# over a whole block, so the reference tolerance is rtol 1e-4 with a small floor.
RTOL_REF, FLOOR_REF = 1e-4, 2e-6
RTOL_OPTAX, FLOOR_OPTAX = 1e-5, 1e-6
# Fromage with a schedule computes its shrink factor 1/sqrt(1 + lr^2) - 1 (about
# -lr^2/2 = -5e-5) in float32, as optax does: it has about 3 correct digits, an absolute
# error near 1e-7 of the parameter in every step (optax's numbers are the same).
FLOOR_REF_FOR = {"fromage_schedule": 3e-5}


def make_problem(n_steps: int = N_STEPS, seed: int = 0):
    rng = np.random.default_rng(seed)
    params = {
        k: jnp.asarray(np.zeros(s) if k == "zeros" else rng.normal(size=s), jnp.float32)
        for k, s in SHAPES.items()
    }
    scales = np.exp(0.5 * rng.normal(size=n_steps))
    grads = {
        k: jnp.asarray(
            rng.normal(size=(n_steps, *s)) * scales.reshape((-1,) + (1,) * len(s)), jnp.float32
        )
        for k, s in SHAPES.items()
    }
    return params, grads


MASK = {"big": True, "matrix": True, "vector": False, "scalar": False, "zeros": True}

# (name, make(module) for gradtx and, where optax has it, optax; reference; in optax)
def _block(make_block, ref_block, lr=0.01):
    """A building block followed by ``scale(-lr)`` (alone, a scaling by the parameter
    norm is not a descent step and the parameters blow up)."""
    return (
        lambda m: m.chain(make_block(m), m.scale(-lr)),
        lambda: Chain(ref_block(), Scale(-lr)),
    )


CASES = [
    ("scale_by_trust_ratio", *_block(lambda m: m.scale_by_trust_ratio(), R.ScaleByTrustRatio),
     True),
    (
        "scale_by_trust_ratio_args",
        *_block(
            lambda m: m.scale_by_trust_ratio(min_norm=0.5, trust_coefficient=0.1, eps=1e-3),
            lambda: R.ScaleByTrustRatio(0.5, 0.1, 1e-3),
        ),
        True,
    ),
    (
        "scale_by_param_block_norm",
        *_block(lambda m: m.scale_by_param_block_norm(), R.ScaleByParamBlockNorm, 1e-3),
        True,
    ),
    (
        "scale_by_param_block_rms",
        *_block(lambda m: m.scale_by_param_block_rms(0.1), lambda: R.ScaleByParamBlockRms(0.1)),
        True,
    ),
    ("lamb", lambda m: m.lamb(0.01), lambda: R.LAMB(0.01), True),
    (
        "lamb_wd_mask_schedule",
        lambda m: m.lamb(decay_schedule, b1=0.8, weight_decay=0.1, mask=MASK),
        lambda: R.LAMB(decay_schedule, b1=0.8, weight_decay=0.1, mask=MASK),
        True,
    ),
    ("lars", lambda m: m.lars(0.5), lambda: R.LARS(0.5), True),
    (
        "lars_masks_nesterov",
        lambda m: m.lars(
            decay_schedule, weight_decay=0.01, weight_decay_mask=MASK, trust_coefficient=0.01,
            eps=1e-4, trust_ratio_mask=MASK, momentum=0.8, nesterov=True,
        ),
        lambda: R.LARS(
            decay_schedule, weight_decay=0.01, weight_decay_mask=MASK, trust_coefficient=0.01,
            eps=1e-4, trust_ratio_mask=MASK, momentum=0.8, nesterov=True,
        ),
        True,
    ),  # fmt: skip
    ("fromage", lambda m: m.fromage(0.01), lambda: R.Fromage(0.01), True),
    (
        "fromage_schedule",
        lambda m: m.fromage(decay_schedule, min_norm=1e-2),
        lambda: R.Fromage(decay_schedule, 1e-2),
        True,
    ),
]
OPTAX_CASES = [(c[0], c[1]) for c in CASES if c[3]]

# public names compared with optax's signature and state tree
OPTAX_NAMES = ["scale_by_trust_ratio", "scale_by_param_block_norm", "scale_by_param_block_rms",
               "lamb", "lars", "fromage"]  # fmt: skip

# (constructor, the parameter its error must name, the bad value it must show)
BAD_HYPERPARAMETERS = [
    (lambda: gradtx.scale_by_trust_ratio(min_norm=-1.0), "min_norm", "-1.0"),
    (lambda: gradtx.scale_by_trust_ratio(trust_coefficient=-0.1), "trust_coefficient", "-0.1"),
    (lambda: gradtx.scale_by_trust_ratio(eps=-1e-3), "eps", "-0.001"),
    (lambda: gradtx.scale_by_param_block_norm(-1e-3), "min_scale", "-0.001"),
    (lambda: gradtx.scale_by_param_block_rms(float("nan")), "min_scale", "nan"),
    (lambda: gradtx.lamb(-0.1), "learning_rate", "-0.1"),
    (lambda: gradtx.lamb(0.1, b1=1.0), "b1", "1.0"),
    (lambda: gradtx.lamb(0.1, b2=-0.5), "b2", "-0.5"),
    (lambda: gradtx.lamb(0.1, eps=-1.0), "eps", "-1.0"),
    (lambda: gradtx.lamb(0.1, weight_decay=-0.01), "weight_decay", "-0.01"),
    (lambda: gradtx.lars(None), "learning_rate", "None"),
    (lambda: gradtx.lars(0.1, weight_decay=-1.0), "weight_decay", "-1.0"),
    (lambda: gradtx.lars(0.1, trust_coefficient=-1.0), "trust_coefficient", "-1.0"),
    (lambda: gradtx.lars(0.1, eps=-1.0), "eps", "-1.0"),
    (lambda: gradtx.lars(0.1, momentum=1.0), "momentum", "1.0"),
    (lambda: gradtx.fromage(-0.01), "learning_rate", "-0.01"),
    (lambda: gradtx.fromage(0.01, min_norm=-1.0), "min_norm", "-1.0"),
]

PARAMS, GRADS = make_problem()


def _run_eager(tx, params, grads):
    step = step_fn(tx)
    state, out = tx.init(params), []
    for i in range(jax.tree.leaves(grads)[0].shape[0]):
        u, state, params = step(jax.tree.map(lambda x, i=i: x[i], grads), state, params)
        out.append(u)
    return jax.tree.map(lambda *xs: jnp.stack(xs), *out)


class StructuredOptimizersTest(parameterized.TestCase):
    @parameterized.named_parameters(*[(c[0], *c) for c in CASES])
    def test_matches_numpy_reference_and_optax_jit(self, name, make, ref, in_optax):
        """50 steps in one compiled scan: equal to the float64 reference and to optax."""

        @jax.jit
        def run(params, grads):
            theirs = run_scan(make(optax), params, grads) if in_optax else None
            return run_scan(make(gradtx), params, grads), theirs

        ours, theirs = run(PARAMS, GRADS)
        floor = FLOOR_REF_FOR.get(name, FLOOR_REF)
        assert_close(ours, run_reference(ref(), PARAMS, GRADS), RTOL_REF, floor)
        if in_optax:
            assert_close(ours, theirs, RTOL_OPTAX, FLOOR_OPTAX)

    @parameterized.named_parameters(*[(c[0], c[0], c[1], c[2]) for c in CASES])
    def test_matches_numpy_reference_without_jit(self, name, make, ref):
        """The first steps run op by op (the same trajectory as the compiled run; eager
        dispatch costs about 0.1 s a step here, so not all 50)."""
        params, grads = PARAMS, jax.tree.map(lambda x: x[:N_EAGER], GRADS)
        updates = _run_eager(make(gradtx), params, grads)
        floor = FLOOR_REF_FOR.get(name, FLOOR_REF)
        assert_close(updates, run_reference(ref(), params, grads), RTOL_REF, floor)

    @parameterized.named_parameters(*[c for c in OPTAX_CASES if c[0] in OPTAX_NAMES])
    def test_checkpoint_moves_both_ways(self, make):
        """The state trees have optax's nesting, field names, shapes and dtypes: a state
        saved by one library restores into the other's template and the next step agrees."""
        ours, theirs = make(gradtx), make(optax)
        g = [jax.tree.map(lambda x, i=i: x[i], GRADS) for i in range(2)]
        s_ours, s_theirs = ours.init(PARAMS), theirs.init(PARAMS)
        d_ours = flax.serialization.to_state_dict(s_ours)
        d_theirs = flax.serialization.to_state_dict(s_theirs)
        assert jax.tree.structure(d_ours) == jax.tree.structure(d_theirs)
        for a, b in zip(jax.tree.leaves(d_ours), jax.tree.leaves(d_theirs), strict=True):
            assert (np.shape(a), jnp.result_type(a)) == (np.shape(b), jnp.result_type(b))
        _, s_ours = ours.update(g[0], s_ours, PARAMS)
        _, s_theirs = theirs.update(g[0], s_theirs, PARAMS)
        to_theirs = flax.serialization.from_state_dict(
            theirs.init(PARAMS), flax.serialization.to_state_dict(s_ours)
        )
        to_ours = flax.serialization.from_state_dict(
            ours.init(PARAMS), flax.serialization.to_state_dict(s_theirs)
        )
        u_ref, _ = ours.update(g[1], s_ours, PARAMS)
        for tx, s in ((theirs, to_theirs), (ours, to_ours)):
            u, _ = tx.update(g[1], s, PARAMS)
            assert_close(u, u_ref, RTOL_OPTAX, FLOOR_OPTAX)


class ContractTest(parameterized.TestCase):
    @parameterized.parameters(*OPTAX_NAMES)
    def test_signature_and_defaults_equal_optax(self, name):
        ours = inspect.signature(getattr(gradtx, name)).parameters
        theirs = inspect.signature(getattr(optax, name)).parameters
        assert [(p.name, p.kind, p.default) for p in ours.values()] == [
            (p.name, p.kind, p.default) for p in theirs.values()
        ]

    @parameterized.parameters(*BAD_HYPERPARAMETERS)
    def test_bad_hyperparameter_raises_naming_it(self, make, name, value):
        with pytest.raises(ValueError, match=rf"{name}.*{re.escape(value)}"):
            make()

    @parameterized.parameters("scale_by_trust_ratio", "scale_by_param_block_norm",
                              "scale_by_param_block_rms", "lamb", "lars", "fromage")  # fmt: skip
    def test_update_without_params_raises(self, name):
        tx = getattr(gradtx, name)(0.1) if name in ("lamb", "lars", "fromage") else getattr(
            gradtx, name
        )()
        g = jax.tree.map(lambda x: x[0], GRADS)
        with pytest.raises(ValueError, match="params"):
            tx.update(g, tx.init(PARAMS))

    def test_zero_norm_block_is_not_scaled(self):
        """A zero-initialised block moves (ratio 1), as optax and the papers' codes do."""
        tx = gradtx.scale_by_trust_ratio()
        g = jax.tree.map(lambda x: x[0], GRADS)
        u, _ = tx.update(g, tx.init(PARAMS), PARAMS)
        np.testing.assert_array_equal(u["zeros"], g["zeros"])
