"""The rest of optax 0.2.8's public names (issue 13): the linear-algebra utilities
(``power_iteration``, ``matrix_inverse_pth_root``, ``nnls``), ``multi_normal``,
``schedules.StatefulSchedule`` / ``WrappedSchedule``, and optax's state trees for
``scale_by_rms`` / ``scale_by_stddev`` / ``rmsprop`` (``ScaleByRmsState``,
``ScaleByRStdDevState`` and their ``WithCount`` forms), checked against float64
references (``tests/reference/linalg_ref.py``) and optax, with and without jit."""

from __future__ import annotations

import chex
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from reference import linalg_ref as R

import gradtx

_rng = np.random.default_rng(0)
_M = _rng.normal(size=(6, 6))
SPD = (_M @ _M.T + 0.5 * np.eye(6)).astype(np.float32)
A_LS = _rng.normal(size=(8, 5)).astype(np.float32)
B_LS = _rng.normal(size=(8,)).astype(np.float32)


class LinalgTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_power_iteration_equals_reference_and_optax(self):
        eig, vec = self.variant(lambda a: gradtx.power_iteration(a, num_iters=500))(SPD)
        eig_o, vec_o = optax.power_iteration(SPD, num_iters=500)
        eig_r, vec_r = R.dominant_eigenpair(SPD)
        np.testing.assert_allclose(eig, eig_r, rtol=1e-5)
        np.testing.assert_allclose(np.abs(vec), np.abs(vec_r), atol=1e-3)
        np.testing.assert_allclose(eig, eig_o, rtol=1e-6)
        np.testing.assert_allclose(vec, vec_o, rtol=1e-5, atol=1e-6)

    def test_power_iteration_on_a_pytree_operator(self):
        """``matrix`` as a function of a pytree (a block-diagonal operator)."""
        d = jnp.array([1.0, 5.0])

        def mvp(t):
            return {"a": 2.0 * t["a"], "b": d * t["b"]}

        v0 = {"a": jnp.ones(3), "b": jnp.ones(2)}
        eig, vec = gradtx.power_iteration(mvp, v0=v0, num_iters=200)
        eig_o, _ = optax.power_iteration(mvp, v0=v0, num_iters=200)
        np.testing.assert_allclose(eig, 5.0, rtol=1e-5)
        np.testing.assert_allclose(eig, eig_o, rtol=1e-6)
        np.testing.assert_allclose(jnp.abs(vec["b"][1]), 1.0, rtol=1e-4)
        with pytest.raises(ValueError, match="v0"):
            gradtx.power_iteration(mvp)

    @chex.variants(with_jit=True, without_jit=True)
    def test_matrix_inverse_pth_root_equals_reference_and_optax(self):
        for p in (1, 2, 4):
            root, err = self.variant(lambda a, p=p: gradtx.matrix_inverse_pth_root(a, p))(SPD)
            root_o, err_o = optax.matrix_inverse_pth_root(SPD, p)
            np.testing.assert_allclose(root, R.inverse_pth_root(SPD, p), rtol=2e-3, atol=2e-4)
            np.testing.assert_allclose(root, root_o, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(err, err_o, rtol=1e-5, atol=1e-7)
        root, err = gradtx.matrix_inverse_pth_root(jnp.array([[4.0]]), 2)  # the 1x1 case
        np.testing.assert_allclose(root, [[0.5]], rtol=1e-5)

    @chex.variants(with_jit=True, without_jit=True)
    def test_nnls_equals_reference_optax_and_scipy(self):
        x = self.variant(lambda a, b: gradtx.nnls(a, b, 2000))(A_LS, B_LS)
        np.testing.assert_allclose(x, optax.nnls(A_LS, B_LS, 2000), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(x, R.nnls_fpg(A_LS, B_LS, 2000), rtol=1e-4, atol=1e-5)
        scipy_optimize = pytest.importorskip("scipy.optimize")
        x_s, _ = scipy_optimize.nnls(A_LS.astype(np.float64), B_LS.astype(np.float64))
        np.testing.assert_allclose(x, x_s, atol=1e-4)
        assert np.all(np.asarray(x) >= 0)

    def test_nnls_matrix_right_hand_side_and_bad_shapes(self):
        b = np.stack([B_LS, -B_LS], axis=1)
        x = gradtx.nnls(A_LS, b, 500)
        assert x.shape == (5, 2)
        np.testing.assert_allclose(x, optax.nnls(A_LS, b, 500), rtol=1e-5, atol=1e-6)
        with pytest.raises(ValueError, match="A must be a matrix"):
            gradtx.nnls(B_LS, B_LS, 10)
        with pytest.raises(ValueError, match="b must have shape"):
            gradtx.nnls(A_LS, B_LS[:3], 10)


def test_multi_normal_equals_reference_and_optax():
    loc, log_scale = jnp.array([[0.0, 1.0, -2.0]]), jnp.array([0.1, -0.3, 0.5])
    d, d_o = gradtx.multi_normal(loc, log_scale), optax.multi_normal(loc, log_scale)
    x = jnp.array([[[0.5, 1.0, 2.0]], [[-1.0, 0.0, 0.3]]])
    np.testing.assert_allclose(d.log_prob(x), R.diag_normal_log_prob(x, loc, log_scale, 2),
                               rtol=1e-6)  # fmt: skip
    np.testing.assert_allclose(d.log_prob(x), d_o.log_prob(x), rtol=1e-6)
    key = jax.random.PRNGKey(3)
    np.testing.assert_array_equal(d.sample((4,), key), d_o.sample((4,), key))
    assert d.sample((4,), key).shape == (4, 1, 3)
    assert [p.shape for p in d.params] == [(1, 3), (3,)]
    np.testing.assert_array_equal(d.log_scale, log_scale)


def test_wrapped_schedule_equals_optax():
    fn = gradtx.schedules.linear_schedule(1.0, 0.0, 4)
    ours, theirs = gradtx.schedules.WrappedSchedule(fn), optax.schedules.WrappedSchedule(fn)
    s, s_o = ours.init(), theirs.init()
    for _ in range(6):
        assert float(ours(s)) == float(theirs(s_o))
        s, s_o = ours.update(s, loss=1.0), theirs.update(s_o)
    assert flax.serialization.to_state_dict(s) == {"count": 6}
    assert int(s.count) == int(s_o.count)
    assert isinstance(ours, gradtx.schedules.StatefulSchedule)
    assert isinstance(theirs, gradtx.schedules.StatefulSchedule)
    assert not isinstance(fn, gradtx.schedules.StatefulSchedule)
    with pytest.raises(TypeError, match="schedule_fn"):
        gradtx.schedules.WrappedSchedule(0.1)


RMS_CASES = {
    "scale_by_rms": lambda m: m.scale_by_rms(),
    "scale_by_rms_bias_correction": lambda m: m.scale_by_rms(0.8, bias_correction=True),
    "scale_by_stddev": lambda m: m.scale_by_stddev(),
    "scale_by_stddev_bias_correction": lambda m: m.scale_by_stddev(bias_correction=True),
    "rmsprop_centered_momentum": lambda m: m.rmsprop(0.01, centered=True, momentum=0.9),
    "rmsprop_bias_correction": lambda m: m.rmsprop(0.01, bias_correction=True),
}


@pytest.mark.parametrize("make", list(RMS_CASES.values()), ids=list(RMS_CASES))
def test_rms_state_trees_equal_optax_and_checkpoints_move_both_ways(make):
    ours, theirs = make(gradtx), make(optax)
    params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
    grads = [jax.tree.map(lambda p, k=k: (k + 1.0) * jnp.cos(p + k), params) for k in range(2)]
    s, s_o = ours.init(params), theirs.init(params)
    step = jax.jit(lambda s, s_o, g: (ours.update(g, s, params), theirs.update(g, s_o, params)))
    (_, s), (_, s_o) = step(s, s_o, grads[0])
    d, d_o = flax.serialization.to_state_dict(s), flax.serialization.to_state_dict(s_o)
    assert jax.tree.structure(d) == jax.tree.structure(d_o)
    assert [type(x).__name__ for x in jax.tree.leaves(s, is_leaf=lambda x: hasattr(x, "_fields"))] \
        == [type(x).__name__ for x in jax.tree.leaves(s_o, is_leaf=lambda x: hasattr(x, "_fields"))]
    for a, b in zip(jax.tree.leaves(d), jax.tree.leaves(d_o), strict=True):
        assert (np.shape(a), jnp.result_type(a)) == (np.shape(b), jnp.result_type(b))
    to_theirs = flax.serialization.from_state_dict(theirs.init(params), d)
    to_ours = flax.serialization.from_state_dict(ours.init(params), d_o)
    (u, _), (u_o, _) = step(to_ours, to_theirs, grads[1])
    (u_ref, _), _ = step(s, s_o, grads[1])
    chex.assert_trees_all_close(u, u_ref, rtol=1e-6)
    chex.assert_trees_all_close(u_o, u_ref, rtol=1e-5, atol=1e-7)


def _lsq_grad_np(w, x, y):
    """The float64 gradient of mean((x w - y)^2)."""
    x, y, w = (np.asarray(t, np.float64) for t in (x, y, w))
    return 2.0 * x.T @ (x @ w - y) / len(y)


@pytest.mark.parametrize("kind", ["MEAN", "SUM", "RUNNING_MEAN"])
def test_microbatch_gradients_equal_reference_and_optax(kind):
    """The mean of the microbatch gradients of a mean loss is the full-batch gradient."""
    x = _rng.normal(size=(12, 3)).astype(np.float32)
    y = _rng.normal(size=12).astype(np.float32)
    w = jnp.array([0.3, -0.2, 0.1])

    def loss(w, x, y):
        return jnp.mean((x @ w - y) ** 2)

    ours = gradtx.microbatch(jax.grad(loss), (1, 2), 3, gradtx.microbatching.AccumulationType[kind])
    # optax's members are accepted too (by name), so optax code runs unchanged
    theirs = optax.microbatch(jax.grad(loss), (1, 2), 3, optax.microbatching.AccumulationType[kind])
    also = gradtx.microbatch(jax.grad(loss), (1, 2), 3, optax.microbatching.AccumulationType[kind])
    np.testing.assert_array_equal(also(w, x, y), ours(w, x, y))
    g = jax.jit(ours)(w, x, y)
    np.testing.assert_allclose(g, theirs(w, x, y), rtol=1e-6, atol=1e-7)
    expected = _lsq_grad_np(w, x, y) * (4 if kind == "SUM" else 1)
    np.testing.assert_allclose(g, expected, rtol=1e-5, atol=1e-6)


def test_microbatch_concat_keywords_partial_and_errors():
    T = gradtx.microbatching.AccumulationType  # noqa: N806
    x, z = jnp.arange(24.0).reshape(12, 2), jnp.arange(12.0)

    def f(x, *, z):
        return {"double": 2 * x, "total": jnp.sum(z)}

    out = gradtx.microbatch(f, 0, 4, {"double": T.CONCAT, "total": T.SUM}, argnames="z")(x, z=z)
    np.testing.assert_array_equal(out["double"], 2 * x)  # the original row order
    assert float(out["total"]) == float(jnp.sum(z))
    first_two = gradtx.microbatch(jnp.sum, 0, 3, T.SUM, num_real_microbatches=2)(z)
    assert float(first_two) == 0 + 4 + 8 + 1 + 5 + 9  # microbatch i: rows i, i + 4, i + 8
    assert gradtx.microbatch(jnp.sum, 0, None) is jnp.sum
    np.testing.assert_array_equal(
        gradtx.microbatching.reshape_batch_axis(z, 3),
        optax.microbatching.reshape_batch_axis(z, 3),
    )
    with pytest.raises(ValueError, match="divisible"):
        gradtx.microbatch(jnp.sum, 0, 5)(z)
    with pytest.raises(ValueError, match="one batch size"):
        gradtx.microbatch(lambda a, b: a.sum() + b.sum(), (0, 1), 2)(z, z[:6])
    with pytest.raises(ValueError, match="floating"):
        gradtx.microbatch(jnp.sum, 0, 3, T.MEAN)(jnp.arange(12))


@pytest.mark.parametrize("name", ["lars", "lamb"])
def test_layerwise_masked_states_have_optax_class_names(name):
    """lars / lamb mask their trust-ratio and weight-decay links with optax's
    ``MaskedState`` (type names matter to code that finds states by type)."""
    params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}
    ours, theirs = getattr(gradtx, name)(0.1).init(params), getattr(optax, name)(0.1).init(params)

    def names(state):
        nodes = jax.tree.leaves(state, is_leaf=lambda x: hasattr(x, "_fields"))
        return [type(x).__name__ for x in nodes]

    assert names(ours) == names(theirs)
    # lars masks its links by default; lamb's default (mask=None) has no masked link in
    # optax either, so there the equality above is the check
    assert ("MaskedState" in names(ours)) == (name == "lars")
