"""Batch size and learning rate: scaling rules, gradient noise scale (McCandlish et al.
2018) against closed forms on synthetic gradients, Smith & Le's noise scale, and the
batch-size schedule."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx

# Per-example gradients g_i = mu + L z_i, z_i ~ N(0, I): G = mu, Sigma = L L^T.
MU = np.array([0.6, -0.8, 0.3, 0.1, -0.2, 0.5])
L = np.tril(np.random.default_rng(42).normal(size=(6, 6))) + 0.5 * np.eye(6)
TRUE_G2 = float(MU @ MU)
TRUE_TRACE = float(np.trace(L @ L.T))
TRUE_B_SIMPLE = TRUE_TRACE / TRUE_G2


def _as_tree(g):
    """Splits the 6 coordinates into a pytree {w: (.., 2, 2), b: (.., 2)}."""
    return {"w": jnp.asarray(g[..., :4].reshape(*g.shape[:-1], 2, 2), jnp.float32),
            "b": jnp.asarray(g[..., 4:], jnp.float32)}


def test_scaling_rules_closed_forms_and_validation():
    assert gradtx.linear_scaling_rule(0.1, 1024, 256) == pytest.approx(0.4)
    assert gradtx.linear_scaling_rule(0.1, 32, 256) == pytest.approx(0.0125)
    assert gradtx.sqrt_scaling_rule(0.1, 1024, 256) == pytest.approx(0.2)
    assert gradtx.sqrt_scaling_rule(0.3, 50, 200) == pytest.approx(0.15)
    for rule in (gradtx.linear_scaling_rule, gradtx.sqrt_scaling_rule):
        with pytest.raises(ValueError, match="base_lr must be in"):
            rule(-0.1, 64, 32)
        with pytest.raises(ValueError, match="batch_size must be in"):
            rule(0.1, 0, 32)
        with pytest.raises(ValueError, match="base_batch_size must be in"):
            rule(0.1, 64, -1)
        with pytest.raises(TypeError, match="batch_size must be a positive number"):
            rule(0.1, "64", 32)


def test_per_example_estimator_is_the_unbiased_closed_form():
    g = np.random.default_rng(1).normal(size=(7, 6)) + MU
    est = jax.jit(gradtx.gradient_noise_scale)(_as_tree(g))
    g = g.astype(np.float32).astype(np.float64)
    trace = np.sum(np.var(g, axis=0, ddof=1))  # unbiased tr(Sigma)
    g2 = np.sum(g.mean(axis=0) ** 2) - trace / len(g)  # unbiased |G|^2
    np.testing.assert_allclose(est.trace_cov, trace, rtol=1e-5)
    np.testing.assert_allclose(est.grad_sq_norm, g2, rtol=1e-5)
    np.testing.assert_allclose(est.b_simple, trace / g2, rtol=1e-5)


def test_per_example_estimate_near_the_true_noise_scale():
    z = np.random.default_rng(2).normal(size=(200_000, 6))
    est = gradtx.gradient_noise_scale(_as_tree(MU + z @ L.T))
    assert TRUE_B_SIMPLE > 5  # a noise-dominated problem, not a trivial one
    np.testing.assert_allclose(est.trace_cov, TRUE_TRACE, rtol=0.02)
    np.testing.assert_allclose(est.grad_sq_norm, TRUE_G2, rtol=0.02)
    np.testing.assert_allclose(est.b_simple, TRUE_B_SIMPLE, rtol=0.02)


def test_two_batch_size_estimator_exact_on_expectations():
    # E|G_B|^2 = |G|^2 + tr(Sigma)/B exactly: the estimator inverts it exactly.
    bs, bb = 8, 128
    est = gradtx.gradient_noise_scale(
        sq_norm_small=TRUE_G2 + TRUE_TRACE / bs, sq_norm_big=TRUE_G2 + TRUE_TRACE / bb,
        batch_small=bs, batch_big=bb,
    )
    np.testing.assert_allclose(est.grad_sq_norm, TRUE_G2, rtol=1e-5)
    np.testing.assert_allclose(est.trace_cov, TRUE_TRACE, rtol=1e-5)
    np.testing.assert_allclose(est.b_simple, TRUE_B_SIMPLE, rtol=1e-5)


def test_two_batch_size_estimate_from_sampled_batches():
    rng = np.random.default_rng(3)
    bs, bb, reps = 4, 64, 3000

    def batch_sq_norms(b):
        mean = MU + rng.normal(size=(reps, b, 6)).mean(axis=1) @ L.T
        return np.sum(mean**2, axis=1)

    est = gradtx.gradient_noise_scale(
        sq_norm_small=batch_sq_norms(bs), sq_norm_big=batch_sq_norms(bb),
        batch_small=bs, batch_big=bb,
    )
    np.testing.assert_allclose(est.trace_cov, TRUE_TRACE, rtol=0.03)
    np.testing.assert_allclose(est.grad_sq_norm, TRUE_G2, rtol=0.03)
    np.testing.assert_allclose(est.b_simple, TRUE_B_SIMPLE, rtol=0.03)


def test_noise_scale_bad_input():
    g = _as_tree(np.ones((4, 6)))
    with pytest.raises(ValueError, match="not both"):
        gradtx.gradient_noise_scale(g, batch_small=1)
    with pytest.raises(ValueError, match="all four"):
        gradtx.gradient_noise_scale(sq_norm_small=1.0, sq_norm_big=0.5, batch_small=2)
    with pytest.raises(ValueError, match="batch_big must be larger"):
        gradtx.gradient_noise_scale(sq_norm_small=1.0, sq_norm_big=0.5, batch_small=8,
                                    batch_big=8)
    with pytest.raises(ValueError, match="at least 2 examples"):
        gradtx.gradient_noise_scale({"w": jnp.ones((1, 3))})
    with pytest.raises(ValueError, match="same leading example axis"):
        gradtx.gradient_noise_scale({"w": jnp.ones((4, 3)), "b": jnp.ones((5,))})


def test_smith_le_noise_scale():
    assert gradtx.smith_le_noise_scale(0.1, 50_000, 128) == pytest.approx(0.1 * (50_000 / 128 - 1))
    assert gradtx.smith_le_noise_scale(0.1, 1000, 1000) == 0.0
    assert gradtx.smith_le_noise_scale(0.1, 1000, 10, momentum=0.9) == pytest.approx(99.0)
    # Linear scaling keeps g (nearly) fixed: lr*k and B*k.
    g1 = gradtx.smith_le_noise_scale(0.1, 60_000, 100)
    g4 = gradtx.smith_le_noise_scale(gradtx.linear_scaling_rule(0.1, 400, 100), 60_000, 400)
    assert g4 == pytest.approx(g1, rel=0.01)
    with pytest.raises(ValueError, match="batch_size must be <= dataset_size"):
        gradtx.smith_le_noise_scale(0.1, 100, 200)
    with pytest.raises(ValueError, match="momentum must be in"):
        gradtx.smith_le_noise_scale(0.1, 100, 10, momentum=1.0)
    with pytest.raises(ValueError, match="dataset_size must be a positive integer"):
        gradtx.smith_le_noise_scale(0.1, 100.5, 10)


def test_batch_size_schedule():
    sched = gradtx.batch_size_schedule(128, milestones=[30, 60, 80], factor=5,
                                       max_batch_size=5120)
    got = [sched(e) for e in range(90)]
    want = [128 * 5 ** sum(e >= m for m in (30, 60, 80)) for e in range(90)]
    assert got == [min(w, 5120) for w in want]
    assert [sched.lr_multiplier(e) for e in (0, 59, 60, 80, 89)] == pytest.approx(
        [1, 1, 1, 5120 / 16000, 5120 / 16000])
    assert isinstance(sched(np.int64(61)), int)
    grow = gradtx.batch_size_schedule(10, milestones=[1, 2, 3], factor=1.5)
    assert [grow(t) for t in range(4)] == [10, 15, 22, 34]  # round(10 * 1.5**m)
    assert isinstance(grow, gradtx.BatchSizeSchedule) and grow.milestones == (1, 2, 3)
    bad = [
        (dict(init_batch_size=0, milestones=[1], factor=2), "init_batch_size"),
        (dict(init_batch_size=8, milestones=[5, 5], factor=2), "strictly increasing"),
        (dict(init_batch_size=8, milestones=[-1, 5], factor=2), "integers >= 0"),
        (dict(init_batch_size=8, milestones=[1.5], factor=2), "integers >= 0"),
        (dict(init_batch_size=8, milestones=[1], factor=0.5), "factor must be in"),
        (dict(init_batch_size=8, milestones=[1], factor=2, max_batch_size=4), "max_batch_size"),
    ]
    for kwargs, msg in bad:
        with pytest.raises(ValueError, match=msg):
            gradtx.batch_size_schedule(**kwargs)
    with pytest.raises(TypeError, match="milestones must be a sequence"):
        gradtx.batch_size_schedule(8, 10, 2)
    with pytest.raises(TypeError, match="step must be an integer"):
        sched(1.5)
    with pytest.raises(TypeError, match="on the host"):
        jax.jit(sched)(3)
