"""gradtx and optax mix both ways: gradtx transforms inside ``optax.chain`` and optax
transforms inside ``gradtx.chain`` give the NumPy reference's numbers (and each other's)."""

from __future__ import annotations

import chex
import jax
import numpy as np
import optax
from reference import transforms_ref as R
from reference.harness import (
    assert_close,
    eager_jitted,
    make_problem,
    run_reference,
    run_scan,
    run_steps,
    step_fn,
)

import gradtx

RTOL, FLOOR = 1e-4, 2e-6  # float32 against the float64 reference
LR = eager_jitted(lambda k: 0.1 * 0.97**k)  # one program for every eager step


def _reference():
    return R.Chain(
        R.ClipByGlobalNorm(2.0),
        R.AddDecayedWeights(1e-2),
        R.ScaleByAdam(b1=0.8),
        R.Trace(0.5),
        R.ScaleByLearningRate(lambda k: 0.1 * 0.97**k),
    )


def _mixed(outer, inner_a, inner_b):
    """The reference's chain with links alternately from ``inner_a`` and ``inner_b``,
    chained by ``outer``."""
    return outer.chain(
        inner_a.clip_by_global_norm(2.0),
        inner_b.add_decayed_weights(1e-2),
        inner_a.scale_by_adam(b1=0.8),
        inner_b.trace(0.5),
        inner_a.scale_by_learning_rate(LR),
    )


class InteropTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_gradtx_transforms_inside_optax_chain(self):
        params, grads = make_problem()
        tx = _mixed(optax, gradtx, optax)
        updates = run_steps(self.variant(step_fn(tx)), tx.init(params), params, grads)
        assert_close(updates, run_reference(_reference(), params, grads), RTOL, FLOOR)

    @chex.variants(with_jit=True, without_jit=True)
    def test_optax_transforms_inside_gradtx_chain(self):
        params, grads = make_problem()
        tx = _mixed(gradtx, optax, gradtx)
        updates = run_steps(self.variant(step_fn(tx)), tx.init(params), params, grads)
        assert_close(updates, run_reference(_reference(), params, grads), RTOL, FLOOR)

    def test_mixed_chains_equal_pure_chains(self):
        params, grads = make_problem(20)

        @jax.jit
        def all_four(params, grads):
            return [
                run_scan(tx, params, grads)
                for tx in (
                    _mixed(gradtx, gradtx, gradtx),
                    _mixed(optax, optax, optax),
                    _mixed(optax, gradtx, optax),
                    _mixed(gradtx, optax, gradtx),
                )
            ]

        pure_gradtx, *others = all_four(params, grads)
        for other in others:
            chex.assert_trees_all_close(other, pure_gradtx, rtol=1e-5, atol=1e-8)

    def test_optimiser_states_and_wrappers(self):
        """A gradtx optimiser works inside optax wrappers (MultiSteps, masked), and
        gradtx.chain passes extra args only to links that accept them."""
        params, grads = make_problem(4)
        g = jax.tree.map(lambda x: x[0], grads)
        multi = optax.MultiSteps(gradtx.adam(0.1), every_k_schedule=2)
        state = multi.init(params)
        u1, state = multi.update(g, state, params)
        u2, state = multi.update(g, state, params)
        assert all(np.all(np.asarray(x) == 0) for x in jax.tree.leaves(u1))
        one = gradtx.adam(0.1)
        u_one, _ = one.update(g, one.init(params), params)
        chex.assert_trees_all_close(u2, u_one, rtol=1e-6)

        masked = optax.masked(gradtx.sgd(1.0), {"matrix": True, "vector": False, "scalar": True})
        u, _ = masked.update(g, masked.init(params), params)
        np.testing.assert_allclose(u["matrix"], -g["matrix"])
        np.testing.assert_allclose(u["vector"], g["vector"])

        # optax.scale_by_adam's update takes no **extra_args: gradtx.chain drops them
        tx = gradtx.chain(optax.scale_by_adam(), gradtx.scale_by_learning_rate(0.1))
        u_extra, _ = tx.update(g, tx.init(params), params, value=1.0)
        chex.assert_trees_all_close(u_extra, u_one, rtol=1e-6)

        chex.assert_trees_all_equal(gradtx.apply_updates(params, g), optax.apply_updates(params, g))
