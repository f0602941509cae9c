"""Every building block equals its NumPy float64 reference over 60 random steps.

The tree has a (3, 4) matrix, a (4,) vector and a () scalar; each gradient step has a
random log-normal scale. Each case runs with and without jit (``chex.variants``); under
jit one compiled step is reused for all 60 steps.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl.testing import parameterized
from reference import transforms_ref as R
from reference.harness import (
    assert_close,
    decay_schedule,
    make_problem,
    run_reference,
    run_scan,
    run_steps,
    step_fn,
    wd_schedule,
)

import gradtx

# float32 against float64: hyperparameters such as 0.999 are rounded to float32 (so
# 1 - b2^t is off by ~1e-5 relative), hence rtol 1e-4; the floor (relative to the
# largest update of a leaf) covers elements that are sums of nearly cancelling terms.
RTOL, FLOOR = 1e-4, 2e-6

MASK = {"matrix": True, "vector": False, "scalar": True}


def _bound(lr=1e-3, final_lr=0.1, gamma=1e-3, b1=0.9, b2=0.999, eps=1e-8, amsbound=False):
    """bound_lr alone is the reference AdaBound step without weight decay."""
    return (
        lambda m: m.bound_lr(lr, final_lr, gamma, b1, b2, eps, amsbound=amsbound),
        lambda: R.AdaBoundTorch(lr, (b1, b2), final_lr, gamma, eps, 0.0, amsbound),
    )


BLOCK_CASES = {
    "scale": (lambda m: m.scale(0.3), lambda: R.Scale(0.3)),
    "scale_by_learning_rate": (
        lambda m: m.scale_by_learning_rate(0.1),
        lambda: R.ScaleByLearningRate(0.1),
    ),
    "scale_by_learning_rate_schedule": (
        lambda m: m.scale_by_learning_rate(decay_schedule),
        lambda: R.ScaleByLearningRate(decay_schedule),
    ),
    "scale_by_learning_rate_no_flip": (
        lambda m: m.scale_by_learning_rate(0.1, flip_sign=False),
        lambda: R.Scale(0.1),
    ),
    "scale_by_schedule": (
        lambda m: m.scale_by_schedule(decay_schedule),
        lambda: R.ScaleBySchedule(decay_schedule),
    ),
    "trace": (lambda m: m.trace(0.9), lambda: R.Trace(0.9)),
    "trace_nesterov": (lambda m: m.trace(0.5, nesterov=True), lambda: R.Trace(0.5, True)),
    "scale_by_rss": (lambda m: m.scale_by_rss(), lambda: R.ScaleByRss()),
    "scale_by_rss_zero_init": (
        lambda m: m.scale_by_rss(0.0, 1e-3),
        lambda: R.ScaleByRss(0.0, 1e-3),
    ),
    "scale_by_rms": (lambda m: m.scale_by_rms(), lambda: R.ScaleByRms()),
    "scale_by_rms_centered": (
        lambda m: m.scale_by_rms(0.8, centered=True),
        lambda: R.ScaleByRms(0.8, centered=True),
    ),
    "scale_by_rms_eps_outside_bias_corrected": (
        lambda m: m.scale_by_rms(0.95, 1e-6, eps_in_sqrt=False, bias_correction=True),
        lambda: R.ScaleByRms(0.95, 1e-6, eps_in_sqrt=False, bias_correction=True),
    ),
    "scale_by_stddev_all_options": (
        lambda m: m.scale_by_stddev(0.9, 1e-4, 0.1, eps_in_sqrt=False, bias_correction=True),
        lambda: R.ScaleByRms(0.9, 1e-4, 0.1, False, True, centered=True),
    ),
    "scale_by_adadelta": (lambda m: m.scale_by_adadelta(), lambda: R.ScaleByAdadelta()),
    "scale_by_adadelta_custom": (
        lambda m: m.scale_by_adadelta(0.5, 1e-4),
        lambda: R.ScaleByAdadelta(0.5, 1e-4),
    ),
    "scale_by_adam": (lambda m: m.scale_by_adam(), lambda: R.ScaleByAdam()),
    "scale_by_adam_nesterov": (
        lambda m: m.scale_by_adam(nesterov=True),
        lambda: R.ScaleByAdam(nesterov=True),
    ),
    "scale_by_adam_eps_root": (
        lambda m: m.scale_by_adam(0.8, 0.99, 1e-6, 1e-8),
        lambda: R.ScaleByAdam(0.8, 0.99, 1e-6, 1e-8),
    ),
    "scale_by_amsgrad": (lambda m: m.scale_by_amsgrad(), lambda: R.ScaleByAmsgrad()),
    "scale_by_amsgrad_no_bias_correction": (
        lambda m: m.scale_by_amsgrad(bias_correction_mu=False, bias_correction_nu=False),
        lambda: R.ScaleByAmsgrad(bias_correction_mu=False, bias_correction_nu=False),
    ),
    "scale_by_yogi": (lambda m: m.scale_by_yogi(), lambda: R.ScaleByYogi()),
    "scale_by_yogi_custom": (
        lambda m: m.scale_by_yogi(0.8, 0.99, 1e-4, 1e-8, 1e-3),
        lambda: R.ScaleByYogi(0.8, 0.99, 1e-4, 1e-8, 1e-3),
    ),
    "bound_lr": _bound(),
    "bound_lr_amsbound": _bound(amsbound=True),
    "bound_lr_fast_bounds": _bound(0.01, 0.05, 0.05, 0.8, 0.99, 1e-6),
    "bound_lr_schedule_scales_final_lr": _bound(decay_schedule, 0.05, 0.05, amsbound=True),
    "add_decayed_weights": (lambda m: m.add_decayed_weights(0.1), lambda: R.AddDecayedWeights(0.1)),
    "add_decayed_weights_mask": (
        lambda m: m.add_decayed_weights(0.1, MASK),
        lambda: R.AddDecayedWeights(0.1, MASK),
    ),
    "add_decayed_weights_mask_fn_schedule": (
        lambda m: m.add_decayed_weights(wd_schedule, lambda p: {k: k != "scalar" for k in p}),
        lambda: R.AddDecayedWeights(wd_schedule, lambda p: {k: k != "scalar" for k in p}),
    ),
    "clip_by_global_norm": (lambda m: m.clip_by_global_norm(4.0), lambda: R.ClipByGlobalNorm(4.0)),
    "chain_clip_adam_lr": (
        lambda m: m.chain(
            m.clip_by_global_norm(2.0), m.scale_by_adam(), m.scale_by_learning_rate(0.1)
        ),
        lambda: R.Chain(R.ClipByGlobalNorm(2.0), R.ScaleByAdam(), R.ScaleByLearningRate(0.1)),
    ),
}


class BuildingBlocksTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*((name, *case) for name, case in BLOCK_CASES.items()))
    def test_matches_numpy_reference(self, make, ref):
        params, grads = make_problem()
        tx = make(gradtx)
        updates = run_steps(self.variant(step_fn(tx)), tx.init(params), params, grads)
        assert_close(updates, run_reference(ref(), params, grads), RTOL, FLOOR)

    def test_clip_by_global_norm_case_is_clipped_only_sometimes(self):
        """The clipping case exercises both branches: some steps are above the norm."""
        _, grads = make_problem()
        norms = np.sqrt(
            sum(
                np.sum(np.square(g), axis=tuple(range(1, g.ndim)))
                for g in map(np.asarray, grads.values())
            )
        )
        assert 0 < np.mean(norms > 4.0) < 1

    def test_bound_lr_case_hits_both_bounds(self):
        """The fast-bounds case exercises the lower clip, the upper clip and no clip."""
        params, grads = make_problem()
        ref = R.AdaBoundTorch(0.01, (0.8, 0.99), 0.05, 0.05, 1e-6)
        ref.init(R.to64(params))
        g64, hits = R.to64(grads), np.zeros(3)
        for i in range(next(iter(g64.values())).shape[0]):
            g = {k: v[i] for k, v in g64.items()}
            m_before = {k: ref.state["exp_avg"][k] * 0.8 + 0.2 * g[k] for k in g}
            u = ref.update(g, R.to64(params))
            t = ref.t
            for k in g:
                eta = -u[k] / m_before[k]  # the clipped step size
                lower, upper = 0.05 * (1 - 1 / (0.05 * t + 1)), 0.05 * (1 + 1 / (0.05 * t))
                hits += [
                    np.sum(np.isclose(eta, lower)),
                    np.sum(np.isclose(eta, upper)),
                    np.sum((eta > lower * 1.001) & (eta < upper * 0.999)),
                ]
        assert np.all(hits > 0), hits


class AddNoiseTest(chex.TestCase):
    """Gaussian noise with ``sigma_t = sqrt(eta / t^gamma)`` (Neelakantan et al. 2015)."""

    def test_noise_std_follows_the_annealing_schedule(self):
        eta, gamma, n, steps = 0.3, 0.55, 4096, 40
        tx = gradtx.add_noise(eta, gamma, seed=3)
        grads = jnp.zeros((steps, n), jnp.float32)
        noise = jax.jit(lambda p, g: run_scan(tx, p, g))(jnp.zeros(n), grads)
        std = np.std(np.asarray(noise, np.float64), axis=1)
        expected = np.array([R.noise_std(eta, gamma, t) for t in range(1, steps + 1)])
        # sampling error of a std over 4096 draws: ~1.1% (1 sigma); allow 6%
        np.testing.assert_allclose(std, expected, rtol=0.06)
        np.testing.assert_allclose(np.mean(np.asarray(noise), axis=1), 0.0, atol=0.1)
        # fresh noise every step, not correlated across steps
        assert abs(np.corrcoef(np.asarray(noise[0]), np.asarray(noise[1]))[0, 1]) < 0.1

    @chex.variants(with_jit=True, without_jit=True)
    def test_equals_optax_add_noise(self):
        """Same seed, same noise as ``optax.add_noise`` (so runs are reproducible)."""
        params, grads = make_problem(8)
        ours, theirs = gradtx.add_noise(0.01, 0.55, 7), optax.add_noise(0.01, 0.55, 7)

        def step(g, state, p):
            u_ours, s_ours = ours.update(g, state[0], p)
            u_theirs, s_theirs = theirs.update(g, state[1], p)
            return (u_ours, u_theirs), (s_ours, s_theirs), p

        u_ours, u_theirs = run_steps(
            self.variant(step), (ours.init(params), theirs.init(params)), params, grads
        )
        chex.assert_trees_all_close(u_ours, u_theirs, rtol=1e-6, atol=1e-7)
        # the noise is really there: the updates differ from the gradients
        assert not np.allclose(np.asarray(u_ours["matrix"]), np.asarray(grads["matrix"]))

    def test_zero_eta_is_the_identity(self):
        params, grads = make_problem(3)
        tx = gradtx.add_noise(0.0, 0.55, 0)
        updates = run_steps(step_fn(tx), tx.init(params), params, grads)
        chex.assert_trees_all_equal(updates, grads)


def test_zero_weight_decay_is_skipped_as_optax_skips_it():
    """A constant 0 weight decay returns the updates untouched (optax's shortcut): an inf
    param gives no NaN (0 * inf), and the compiled step does not read the params."""
    params = {"w": jnp.array([jnp.inf, 1.0]), "b": jnp.array([2.0])}
    g = {"w": jnp.array([0.5, -1.0]), "b": jnp.array([3.0])}
    for lib in (gradtx, optax):
        for mask in (None, {"w": True, "b": False}):
            tx = lib.add_decayed_weights(0.0, mask)
            u, _ = tx.update(g, tx.init(params), params)
            np.testing.assert_array_equal(u["w"], g["w"])
    tx = gradtx.add_decayed_weights(0.0)
    hlo = jax.jit(lambda g, p: tx.update(g, tx.init(p), p)[0]).lower(g, params).as_text()
    assert "multiply" not in hlo and "add" not in hlo
