"""L-BFGS and the zoom line search (issue 14): step by step equal to optax 0.2.8 and to the
float64 references of ``tests/reference/zoom_ref.py`` on the Rosenbrock function, and to
scipy's L-BFGS-B where the two methods coincide.

What coincides with ``scipy.optimize.minimize(method="L-BFGS-B")`` (no bounds,
``maxcor=10`` = ``memory_size``): the direction. L-BFGS-B without bounds is L-BFGS with
``H_0 = (s^T y / y^T y) I`` and a first step ``min(1, 1/|g_0|)`` along ``-g_0``, as optax's.
The line searches differ (scipy: Moré-Thuente's ``dcsrch``; optax: the zoom search), but
both accept the unit step whenever it satisfies the Wolfe conditions, so the iterates are
the same until the first step where one of them backtracks (the 14th on this problem).
After that we compare the minimiser and the iteration count (ballpark: within 25%).
"""

from __future__ import annotations

import chex
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _xla import XLA_DEFAULT
from absl.testing import parameterized
from reference import zoom_ref as Z

import gradtx

X0 = np.array([-1.2, 1.0, -0.5, 0.8], np.float32)


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_np(x):
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def rosenbrock_grad_np(x):
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return g


def _descend(m, tx, steps, reuse, dtype=jnp.float32):
    """``steps`` iterations of ``tx`` on Rosenbrock in one scan; with ``reuse`` the value
    and gradient come from the state (``value_and_grad_from_state``). Returns the
    iterates, the accepted steps and the trial counts."""
    value_and_grad = m.value_and_grad_from_state(rosenbrock)

    def body(carry, _):
        x, s = carry
        if reuse:
            value, g = value_and_grad(x, state=s)
        else:
            value, g = jax.value_and_grad(rosenbrock)(x)
        u, s = tx.update(g, s, x, value=value, grad=g, value_fn=rosenbrock)
        x = m.apply_updates(x, u)
        return (x, s), (x, s[-1].learning_rate, s[-1].info.num_linesearch_steps)

    x0 = jnp.asarray(X0, dtype)
    return jax.lax.scan(body, (x0, tx.init(x0)), None, length=steps)[1]


def _descend64(tx, steps, reuse):
    """:func:`_descend` with gradtx in float64 (JAX's x64 mode, for this call only)."""
    with jax.enable_x64(True):
        out = jax.jit(lambda: _descend(gradtx, tx, steps, reuse, jnp.float64))()
        return jax.tree.map(np.asarray, out)


N_LBFGS = 50
# the first N_SAME iterates of L-BFGS-B and of L-BFGS with the zoom search coincide here
N_SAME = 13


def test_lbfgs_on_rosenbrock_equals_optax_reference_and_scipy():
    (xs, etas, trials), (xs_o, etas_o, trials_o) = jax.jit(
        lambda: (_descend(gradtx, gradtx.lbfgs(), N_LBFGS, True),
                 _descend(optax, optax.lbfgs(), N_LBFGS, True)),
        compiler_options=XLA_DEFAULT,  # the trial counts must match: tests/_xla.py
    )()  # fmt: skip
    # optax, step by step: iterates, accepted steps and trial counts
    np.testing.assert_array_equal(trials, trials_o)
    np.testing.assert_allclose(etas, etas_o, rtol=1e-5)
    np.testing.assert_allclose(xs, xs_o, rtol=1e-5, atol=1e-6)
    # the float64 two-loop recursion + zoom search: gradtx in float64 equals it step by
    # step; in float32 while the steps are 1 (the cubic interpolation of the 14th
    # search amplifies float32 rounding: the steps then differ by up to 2%)
    xs_r, etas_r, trials_r = Z.lbfgs_descent(
        rosenbrock_np, rosenbrock_grad_np, X0.astype(np.float64), N_LBFGS
    )
    xs64, etas64, trials64 = _descend64(gradtx.lbfgs(), N_LBFGS, True)
    np.testing.assert_array_equal(trials64, trials_r)
    np.testing.assert_allclose(etas64, etas_r, rtol=1e-9)
    np.testing.assert_allclose(xs64, xs_r, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(xs[:N_SAME], xs_r[:N_SAME], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(xs[-1], xs_r[-1], atol=1e-5)
    # scipy's L-BFGS-B (memory 10)
    scipy_optimize = pytest.importorskip("scipy.optimize")
    iterates = []
    sol = scipy_optimize.minimize(
        rosenbrock_np, X0.astype(np.float64), jac=rosenbrock_grad_np, method="L-BFGS-B",
        callback=lambda xk: iterates.append(np.copy(xk)),
        options={"maxcor": 10, "gtol": 1e-8, "ftol": 1e-15},
    )  # fmt: skip
    iterates = np.stack(iterates)
    assert sol.success
    # identical iterates while both searches accept the unit step
    assert np.all(etas_r[:N_SAME] == 1.0) and etas_r[N_SAME] != 1.0
    np.testing.assert_allclose(xs_r[:N_SAME], iterates[:N_SAME], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xs[:N_SAME], iterates[:N_SAME], rtol=1e-4, atol=1e-5)
    # the same minimiser, in a similar number of iterations (|grad| < 1e-5)
    np.testing.assert_allclose(xs[-1], sol.x, atol=1e-5)
    grad_norms = np.linalg.norm([rosenbrock_grad_np(x) for x in xs_r], axis=1)
    n_ours = int(np.argmax(grad_norms < 1e-5)) + 1
    assert abs(n_ours - sol.nit) <= 0.25 * sol.nit, (n_ours, sol.nit)


ZOOM_CASES = (
    ("defaults", {}),
    ("max_lr_tight_curvature", {"max_learning_rate": 0.5, "curv_rtol": 0.1}),
    ("armijo_only_decrease", {"approx_dec_rtol": None, "slope_rtol": 0.3, "curv_rtol": 0.5,
                              "increase_factor": 3.0}),  # fmt: skip
)
_REF_NAMES = {"max_learning_rate": "max_stepsize", "slope_rtol": "c1", "curv_rtol": "c2",
              "approx_dec_rtol": "c3"}  # fmt: skip


@pytest.mark.slow  # three compiles per case
@pytest.mark.parametrize("kwargs", [c[1] for c in ZOOM_CASES], ids=[c[0] for c in ZOOM_CASES])
def test_zoom_search_with_sgd_equals_optax_and_reference(kwargs):
    """SGD with the zoom search (first trial = the last accepted step) on Rosenbrock, 40
    steps: both phases run (bracketing, then cubic / quadratic / bisection zoom steps)."""

    def run(m):
        tx = m.chain(m.sgd(1.0), m.scale_by_zoom_linesearch(30, **kwargs))
        return _descend(m, tx, 40, reuse=False)

    (xs, etas, trials), (xs_o, etas_o, trials_o) = jax.jit(
        lambda: (run(gradtx), run(optax)), compiler_options=XLA_DEFAULT)()  # fmt: skip
    assert int(np.max(trials)) >= 5  # the zoom phase was exercised
    np.testing.assert_array_equal(trials, trials_o)
    np.testing.assert_allclose(etas, etas_o, rtol=1e-5)
    np.testing.assert_allclose(xs, xs_o, rtol=1e-5, atol=1e-6)
    ref_kwargs = {_REF_NAMES.get(k, k): v for k, v in kwargs.items()}
    xs_r, etas_r, trials_r = Z.zoom_descent(
        rosenbrock_np, rosenbrock_grad_np, X0.astype(np.float64), 40, 30, **ref_kwargs
    )
    xs64, etas64, trials64 = _descend64(
        gradtx.chain(gradtx.sgd(1.0), gradtx.scale_by_zoom_linesearch(30, **kwargs)), 40, False
    )
    np.testing.assert_array_equal(trials64, trials_r)
    np.testing.assert_allclose(etas64, etas_r, rtol=1e-9)
    np.testing.assert_allclose(xs64, xs_r, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(trials, trials_r)  # float32: the same trials
    np.testing.assert_allclose(xs[:20], xs_r[:20], rtol=1e-3, atol=1e-4)


class EagerTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_lbfgs_steps_equal_the_reference(self):
        """Two L-BFGS steps with ``update`` called as is and under jit: the float64
        reference's iterates (the optax equality is the scan test above)."""
        tx = gradtx.lbfgs(memory_size=3)
        vg = jax.value_and_grad(rosenbrock)

        @self.variant
        def step(x, s):
            value, g = vg(x)
            u, s = tx.update(g, s, x, value=value, grad=g, value_fn=rosenbrock)
            return x + u, s

        xs_r, _, _ = Z.lbfgs_descent(
            rosenbrock_np, rosenbrock_grad_np, X0.astype(np.float64), 2, memory_size=3
        )
        x = jnp.asarray(X0)
        s = tx.init(x)
        for k in range(2):
            x, s = step(x, s)
            np.testing.assert_allclose(x, xs_r[k], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(s[-1].value, rosenbrock_np(xs_r[1]), rtol=1e-5)


def test_state_tree_equals_optax():
    ours, theirs = gradtx.lbfgs(), optax.lbfgs()
    x = jnp.asarray(X0)
    d_ours = flax.serialization.to_state_dict(ours.init(x))
    d_theirs = flax.serialization.to_state_dict(theirs.init(x))
    assert jax.tree.structure(d_ours) == jax.tree.structure(d_theirs)
    for a, b in zip(jax.tree.leaves(d_ours), jax.tree.leaves(d_theirs), strict=True):
        assert (np.shape(a), jnp.result_type(a)) == (np.shape(b), jnp.result_type(b))
    assert type(ours.init(x)[-1].info).__name__ == "ZoomLinesearchInfo"


def test_extra_args_reach_value_fn_and_unknown_ones_raise():
    def f(x, scale):
        return scale * jnp.sum((x - 1.0) ** 2)

    tx = gradtx.scale_by_zoom_linesearch(10)
    x = jnp.zeros(2)
    value, g = jax.value_and_grad(f)(x, 2.0)
    u, s = tx.update(-g, tx.init(x), x, value=value, grad=g, value_fn=f, scale=2.0)
    np.testing.assert_allclose(x + u, [1.0, 1.0], rtol=1e-6)  # eta = 1/4, exact
    np.testing.assert_allclose(s.value, 0.0, atol=1e-12)
    with pytest.raises(TypeError, match="bogus"):
        tx.update(-g, tx.init(x), x, value=value, grad=g, value_fn=f, scale=2.0, bogus=1)


def test_complex_params_equal_optax():
    """``f(z) = sum |z - c|^2 + |z|^4`` over complex ``z``: three L-BFGS steps, the
    gradient ``conj(jax.grad)`` evaluated afresh each step (not from the state, where
    optax differs: test_complex_runs_are_the_real_split)."""
    c = jnp.array([1.0 + 2.0j, -0.5 + 0.3j])

    def f(z):
        return jnp.sum(jnp.abs(z - c) ** 2) + jnp.sum(jnp.abs(z) ** 4)

    def run(m):
        tx, z = m.lbfgs(), jnp.zeros(2, jnp.complex64)

        def body(carry, _):
            z, s = carry
            value, g = jax.value_and_grad(f)(z)
            g = jnp.conj(g)  # the steepest-ascent direction of a real f of complex z
            u, s = tx.update(g, s, z, value=value, grad=g, value_fn=f)
            return (m.apply_updates(z, u), s), None

        z, s = jax.lax.scan(body, (z, tx.init(z)), None, length=3)[0]
        return z, s[-1].value

    (z, v), (z_o, v_o) = jax.jit(lambda: (run(gradtx), run(optax)))()
    np.testing.assert_allclose(z, z_o, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v, v_o, rtol=1e-5)
    assert float(v) < float(f(jnp.zeros(2, jnp.complex64)))


def test_complex_runs_are_the_real_split():
    """A complex param is the pair ``(Re z, Im z)`` (docs/dtypes.md): the usual loop
    (``value_and_grad_from_state``, its gradient passed as the updates and as ``grad``)
    on complex ``z`` equals the same loop on the real split ``x = (Re z, Im z)``, for
    ``lbfgs`` (zoom search) and ``sgd(1) + backtracking(store_grad=True)``.

    gradtx's gradients are ``conj(jax.grad)`` (``dL/dRe z + i dL/dIm z``) everywhere: the
    ``grad`` argument, the stored ``grad`` and ``value_and_grad_from_state``'s. optax differs
    on complex params (it equals gradtx on real ones): its ``value_and_grad_from_state`` and
    stored gradients are ``jax.grad``'s (``conj`` of the split's), which its backtracking
    slope ``Re sum u g`` expects but its zoom slope at 0, ``Re sum conj(u) g``, does not;
    so this loop with optax moves ``Im z`` the wrong way (checked below)."""
    c = jnp.array([1.0 + 2.0j, -0.5 + 0.3j])
    z0 = jnp.array([0.3 - 0.2j, 0.1 + 0.4j], jnp.complex64)

    def f(z):
        return jnp.sum(jnp.abs(z - c) ** 2) + jnp.sum(jnp.abs(z) ** 4)

    def f_split(x):
        return f(jax.lax.complex(x[:, 0], x[:, 1]))

    def run(m, tx, x, fn):
        value_and_grad = m.value_and_grad_from_state(fn)

        def body(carry, _):
            x, s = carry
            value, g = value_and_grad(x, state=s)
            u, s = tx.update(g, s, x, value=value, grad=g, value_fn=fn)
            return (m.apply_updates(x, u), s), x

        return jax.lax.scan(body, (x, tx.init(x)), None, length=4)[1]

    def both(m):
        backtracking = m.scale_by_backtracking_linesearch(15, store_grad=True)
        out = {}
        for name, make in (
            ("lbfgs", m.lbfgs),
            ("backtracking", lambda: m.chain(m.sgd(1.0), backtracking)),
        ):
            split = run(m, make(), jnp.stack([z0.real, z0.imag], -1), f_split)
            out[name] = run(m, make(), z0, f), jax.lax.complex(split[..., 0], split[..., 1])
        return out

    ours, theirs = jax.jit(lambda: (both(gradtx), both(optax)))()
    for name, (z, split) in ours.items():
        np.testing.assert_allclose(z, split, rtol=1e-5, atol=1e-6, err_msg=name)
        assert float(f(z[-1])) < float(f(z0)), name  # it descends
    for name, (z, split) in theirs.items():
        np.testing.assert_allclose(split, ours[name][1], rtol=1e-5, atol=1e-6)  # real: equal
        assert np.max(np.abs(np.asarray(z - split))) > 1e-2, name  # complex: not the split


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"max_linesearch_steps": 0}, "max_linesearch_steps"),
        ({"max_linesearch_steps": 2.5}, "max_linesearch_steps"),
        ({"max_learning_rate": 0.0}, "max_learning_rate"),
        ({"tol": -1.0}, "tol"),
        ({"increase_factor": 1.0}, "increase_factor"),
        ({"slope_rtol": 1.0}, "slope_rtol"),
        ({"curv_rtol": 1e-5}, "curv_rtol"),
        ({"approx_dec_rtol": -1.0}, "approx_dec_rtol"),
        ({"stepsize_precision": -1.0}, "stepsize_precision"),
        ({"initial_guess_strategy": "two"}, "initial_guess_strategy"),
    ],
)
def test_bad_hyperparameters_raise(kwargs, name):
    kwargs = {"max_linesearch_steps": 10, **kwargs}
    with pytest.raises(ValueError, match=name):
        gradtx.scale_by_zoom_linesearch(**kwargs)


def test_lbfgs_bad_arguments_raise():
    with pytest.raises(ValueError, match="memory_size"):
        gradtx.lbfgs(memory_size=0)
    with pytest.raises(ValueError, match="learning_rate"):
        gradtx.lbfgs(learning_rate=-1.0)


class LearningRateTest(parameterized.TestCase):
    @parameterized.parameters(0.01, lambda k: 0.01 * 0.9**k)
    def test_without_linesearch_equals_optax(self, lr):
        def run(m):
            tx = m.lbfgs(learning_rate=lr, linesearch=None)
            x, s = jnp.asarray(X0), tx.init(jnp.asarray(X0))
            for _ in range(4):
                u, s = tx.update(jax.grad(rosenbrock)(x), s, x)
                x = m.apply_updates(x, u)
            return x

        np.testing.assert_allclose(*jax.jit(lambda: (run(gradtx), run(optax)))(), rtol=1e-5)
