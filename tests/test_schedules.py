"""gradtx.schedules: values against plain-Python references and optax, pytree behaviour
(leaves, one compilation, vmap over stacked schedules, grad), repr, bad input, plot.

Compile budget: each schedule kind is compiled a handful of times in all; every
compiled function evaluates all steps at once (``jax.vmap`` over a step array).
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from absl.testing import parameterized
from reference import schedules_ref as ref

from gradtx import schedules as S

N = 40  # steps 0 .. N-1 are compared; -3 .. -1 check the negative-step clamp
KS = np.arange(-3, N)
RTOL, ATOL = 1e-5, 1e-6  # float32 schedule vs float64 reference


def _cd(n):  # the inner schedule's reference values, for the combinators
    return ref.cosine_decay(n, 1.0, 10)


# name, schedule factory, reference values at steps 0 .. n-1, n
CASES = [
    ("constant", lambda: S.constant(0.3), ref.constant(N, 0.3)),
    ("step_lr", lambda: S.step_lr(0.1, 3, 0.5), ref.step_lr(N, 0.1, 3, 0.5)),
    (
        "multistep_lr",
        lambda: S.multistep_lr(0.1, [2, 5, 9], 0.3),
        ref.multistep_lr(N, 0.1, [2, 5, 9], 0.3),
    ),
    (
        "piecewise_constant",
        lambda: S.piecewise_constant(1.0, {7: 2.0, 0: 0.9, 3: 0.5}),
        ref.piecewise_constant(N, 1.0, {7: 2.0, 0: 0.9, 3: 0.5}),
    ),
    ("factor", lambda: S.factor(1.0, 0.8, 0.05), ref.factor(N, 1.0, 0.8, 0.05)),
    ("exponential_lr", lambda: S.exponential_lr(0.5, 0.9), ref.exponential_lr(N, 0.5, 0.9)),
    (
        "exponential_decay",
        lambda: S.exponential_decay(1.0, 4, 0.5),
        ref.exponential_decay(N, 1.0, 4, 0.5),
    ),
    (
        "exponential_decay_staircase",
        lambda: S.exponential_decay(1.0, 3, 0.5, 2, True, 0.02),
        ref.exponential_decay(N, 1.0, 3, 0.5, 2, True, 0.02),
    ),
    (
        "exponential_decay_growth",
        lambda: S.exponential_decay(0.1, 2, 1.2, 0, False, 0.5),
        ref.exponential_decay(N, 0.1, 2, 1.2, 0, False, 0.5),
    ),
    ("exp_decay", lambda: S.exp_decay(0.5, 0.1), ref.exp_decay(N, 0.5, 0.1)),
    ("inverse_time", lambda: S.inverse_time(0.5, 0.3), ref.inverse_time(N, 0.5, 0.3)),
    (
        "inverse_time_sqrt",
        lambda: S.inverse_time(0.5, 0.3, 0.5),
        ref.inverse_time(N, 0.5, 0.3, 0.5),
    ),
    (
        "polynomial",
        lambda: S.polynomial(1.0, 0.1, 2.0, 10, 3),
        ref.polynomial(N, 1.0, 0.1, 2.0, 10, 3),
    ),
    (
        "polynomial_as_torch_PolynomialLR",
        lambda: S.polynomial(0.5, 0.0, 1.5, 12),
        ref.torch_polynomial_lr(N, 0.5, 12, 1.5),
    ),
    ("linear", lambda: S.linear(0.0, 1.0, 8, 2), ref.linear(N, 0.0, 1.0, 8, 2)),
    (
        "cosine_annealing",  # N = 40 > 2 * T_max: the cosine continues, as torch's
        lambda: S.cosine_annealing(1.0, 15, 0.1),
        ref.cosine_annealing(N, 1.0, 15, 0.1),
    ),
    (
        "cosine_decay",
        lambda: S.cosine_decay(1.0, 10, 0.1, 2.0),
        ref.cosine_decay(N, 1.0, 10, 0.1, 2.0),
    ),
    (
        "warmup_cosine_decay",
        lambda: S.warmup_cosine_decay(0.0, 1.0, 4, 20, 0.05),
        ref.warmup_cosine_decay(N, 0.0, 1.0, 4, 20, 0.05),
    ),
    (
        "cosine_warm_restarts",
        lambda: S.cosine_warm_restarts(1.0, 7, 1, 0.1),
        ref.cosine_warm_restarts(N, 1.0, 7, 1, 0.1),
    ),
    (
        "cosine_warm_restarts_mult2",
        lambda: S.cosine_warm_restarts(1.0, 3, 2),
        ref.cosine_warm_restarts(N, 1.0, 3, 2),
    ),
    (
        "cosine_warm_restarts_mult3",  # restarts at 0, 1, 4, 13, 40, 121, 364, 1093
        lambda: S.cosine_warm_restarts(1.0, 1, 3, 0.05),
        ref.cosine_warm_restarts(1200, 1.0, 1, 3, 0.05),
    ),
    (
        "cyclic_triangular",
        lambda: S.cyclic(0.1, 1.0, 4),
        ref.cyclic(N, 0.1, 1.0, 4),
    ),
    (
        "cyclic_triangular2",
        lambda: S.cyclic(0.1, 1.0, 3, 5, "triangular2"),
        ref.cyclic(N, 0.1, 1.0, 3, 5, "triangular2"),
    ),
    (
        "cyclic_exp_range",
        lambda: S.cyclic(0.1, 1.0, 4, 2, "exp_range", 0.95),
        ref.cyclic(N, 0.1, 1.0, 4, 2, "exp_range", 0.95),
    ),
    ("one_cycle", lambda: S.one_cycle(1.0, 20), ref.one_cycle(N, 1.0, 20)),
    (
        "one_cycle_linear",
        lambda: S.one_cycle(1.0, 25, 0.25, "linear", 10.0, 100.0),
        ref.one_cycle(N, 1.0, 25, 0.25, "linear", 10.0, 100.0),
    ),
    (
        "one_cycle_three_phase",
        lambda: S.one_cycle(0.8, 30, 0.3, "cos", 20.0, 1e3, True),
        ref.one_cycle(N, 0.8, 30, 0.3, "cos", 20.0, 1e3, True),
    ),
    (
        "warmup",
        lambda: S.warmup(S.cosine_decay(1.0, 10), 5, 0.1),
        ref.warmup(N, _cd(N), 5, 0.1),
    ),
    (
        "warmup_overlap",
        lambda: S.warmup(S.cosine_decay(1.0, 10), 5, 0.2, overlap=True),
        ref.warmup(N, _cd(N), 5, 0.2, overlap=True),
    ),
    ("warmup_zero_steps", lambda: S.warmup(S.step_lr(0.5, 4), 0), ref.step_lr(N, 0.5, 4)),
    (
        "join",
        lambda: S.join([S.linear(0.0, 1.0, 5), S.cosine_decay(1.0, 10), 0.05], [5, 15]),
        ref.join(N, [ref.linear(N, 0.0, 1.0, 5), _cd(N), ref.constant(N, 0.05)], [5, 15]),
    ),
]
CASE_IDS = [c[0] for c in CASES]
MAKERS = {name: make for name, make, _ in CASES}


class ReferenceTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(CASES)
    def test_matches_reference(self, make, expected):
        """Every step 0..N-1 (boundaries, last step and past the end included), and
        negative steps clamped to step 0."""
        sched = make()
        ks = np.arange(-3, len(expected))
        got = self.variant(lambda s, k: jax.vmap(s)(k))(sched, jnp.asarray(ks))
        assert got.dtype == jnp.float32
        want = np.asarray([expected[0]] * 3 + list(expected))
        chex.assert_trees_all_close(np.asarray(got), want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", CASE_IDS)
def test_stacked_vmap_and_grad(name):
    """vmap over a stacked batch of three schedules of one kind gives each one's values,
    and the gradient w.r.t. every float hyperparameter is finite; one compile."""
    s1 = MAKERS[name]()
    s2 = jax.tree.map(lambda x: x * 0.9, s1)
    s3 = jax.tree.map(lambda x: x * 0.8, s1)
    batch = jax.tree.map(lambda *x: jnp.stack(x), s1, s2, s3)
    ks = jnp.arange(0, 30)

    def values_and_grads(s):
        def total(s):
            return jnp.sum(jax.vmap(s)(ks))

        return jax.vmap(s)(ks), jax.grad(total)(s)

    values, grads = jax.jit(jax.vmap(values_and_grads))(batch)
    traces = []

    @jax.jit
    def single(s):
        traces.append(1)
        return jax.vmap(s)(ks)

    for i, s in enumerate((s1, s2, s3)):
        chex.assert_trees_all_close(values[i], single(s), rtol=1e-6, atol=1e-7)
    assert len(traces) == 1, "new hyperparameter values recompiled"
    leaves = jax.tree.leaves(grads)
    assert leaves, "a schedule without float leaves has nothing to tune"
    for g in leaves:
        assert g.shape == (3,)
        assert np.all(np.isfinite(g)), (name, grads)


@pytest.mark.parametrize("name", CASE_IDS)
def test_leaves_are_float32_hyperparameters_and_repr_round_trips(name):
    sched = MAKERS[name]()
    for leaf in jax.tree.leaves(sched):
        assert np.asarray(leaf).dtype == np.float32 and np.ndim(leaf) == 0
    text = repr(sched)
    assert text.startswith(type(sched).__name__ + "(")
    assert eval(text, vars(S)) == sched  # noqa: S307 - the repr is valid Python


def test_tree_leaves_hold_the_float_hyperparameters():
    leaves = lambda s: [float(x) for x in jax.tree.leaves(s)]  # noqa: E731
    assert leaves(S.step_lr(0.1, 30, 0.5)) == pytest.approx([0.1, 0.5])
    assert leaves(S.multistep_lr(0.1, (3, 8), 0.2)) == pytest.approx([0.1, 0.2])
    assert leaves(S.piecewise_constant(1.0, {5: 0.5, 2: 0.1})) == pytest.approx([1.0, 0.1, 0.5])
    assert leaves(S.cosine_warm_restarts(0.1, 10, 2, 1e-3)) == pytest.approx([0.1, 1e-3])
    assert leaves(S.cyclic(0.01, 0.1, 5, mode="exp_range", gamma=0.99)) == pytest.approx(
        [0.01, 0.1, 0.99]
    )
    assert leaves(S.one_cycle(0.1, 100)) == pytest.approx([0.1, 0.3, 25.0, 1e4])
    nested = S.warmup(S.join([S.constant(0.2), S.exponential_lr(0.2, 0.9)], [10]), 5, 0.01)
    assert leaves(nested) == pytest.approx([0.2, 0.2, 0.9, 0.01])
    # the discrete structure is static: it lives in the treedef, not the leaves
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(nested)]
    assert paths == [
        ".schedule.schedules[0].value",
        ".schedule.schedules[1].init_value",
        ".schedule.schedules[1].gamma",
        ".start_value",
    ]
    assert S.exponential_decay(1.0, 10, 0.5) != S.exponential_decay(1.0, 10, 0.5, end_value=0.1)
    assert jax.tree.structure(S.step_lr(0.1, 30)) != jax.tree.structure(S.step_lr(0.1, 31))


def test_one_compilation_for_new_values_and_a_new_one_for_new_structure():
    traces = []

    @jax.jit
    def run(s, ks):
        traces.append(type(s).__name__)
        return jax.vmap(s)(ks)

    n = 50
    ks = jnp.arange(n)

    def warm_join(a, b, g, start):
        inner = ref.join(n, [ref.constant(n, a), ref.exponential_lr(n, b, g)], [20])
        return ref.warmup(n, inner, 5, start)

    pairs = [
        (
            (S.step_lr(0.1, 10, 0.5), ref.step_lr(n, 0.1, 10, 0.5)),
            (S.step_lr(0.3, 10, 0.9), ref.step_lr(n, 0.3, 10, 0.9)),
        ),
        (
            (S.cosine_warm_restarts(0.1, 5, 2), ref.cosine_warm_restarts(n, 0.1, 5, 2)),
            (
                S.cosine_warm_restarts(0.5, 5, 2, 0.01),
                ref.cosine_warm_restarts(n, 0.5, 5, 2, 0.01),
            ),
        ),
        (
            (S.one_cycle(0.1, 40), ref.one_cycle(n, 0.1, 40)),
            (
                S.one_cycle(0.2, 40, 0.4, div_factor=10.0),
                ref.one_cycle(n, 0.2, 40, 0.4, div_factor=10.0),
            ),
        ),
        (
            (
                S.warmup(S.join([S.constant(1.0), S.exponential_lr(1.0, 0.9)], [20]), 5),
                warm_join(1.0, 1.0, 0.9, 0.0),
            ),
            (
                S.warmup(S.join([S.constant(2.0), S.exponential_lr(3.0, 0.5)], [20]), 5, 0.5),
                warm_join(2.0, 3.0, 0.5, 0.5),
            ),
        ),
    ]
    for (a, want_a), (b, want_b) in pairs:
        before = len(traces)
        va, vb = run(a, ks), run(b, ks)
        assert len(traces) == before + 1, f"{type(a).__name__} recompiled for new values"
        chex.assert_trees_all_close(np.asarray(va), np.asarray(want_a), rtol=RTOL, atol=ATOL)
        chex.assert_trees_all_close(np.asarray(vb), np.asarray(want_b), rtol=RTOL, atol=ATOL)
    # different static structure: a new compilation, as it must
    before = len(traces)
    run(S.step_lr(0.1, 11, 0.5), ks)
    assert len(traces) == before + 1


def test_grad_matches_closed_form():
    k = 7
    a, g = 0.3, 0.9

    def value(lr, gamma):
        return S.exponential_lr(lr, gamma)(k)

    d_lr, d_gamma = jax.grad(value, argnums=(0, 1))(a, g)
    np.testing.assert_allclose(d_lr, g**k, rtol=1e-5)
    np.testing.assert_allclose(d_gamma, a * k * g ** (k - 1), rtol=1e-5)
    # d/d eta_min of the cosine annealing value is 1 - (1 + cos(pi k / T)) / 2
    grads = jax.grad(lambda s: s(4))(S.cosine_annealing(1.0, 10, 0.1))
    np.testing.assert_allclose(grads.eta_min, 1 - (1 + np.cos(np.pi * 0.4)) / 2, rtol=1e-5)
    np.testing.assert_allclose(grads.init_value, (1 + np.cos(np.pi * 0.4)) / 2, rtol=1e-5)
    # built inside the differentiated function, from a tracer
    d = jax.grad(lambda lr: S.step_lr(lr, 3, 0.1)(7))(0.5)
    np.testing.assert_allclose(d, 0.01, rtol=1e-5)


# name, gradtx schedule, optax schedule, steps compared
OPTAX_CASES = [
    ("constant", S.constant(0.3), optax.constant_schedule(0.3), N),
    (
        "piecewise_constant",
        S.piecewise_constant(1.0, {7: 2.0, 0: 0.9, 3: 0.5}),
        optax.piecewise_constant_schedule(1.0, {7: 2.0, 0: 0.9, 3: 0.5}),
        N,
    ),
    ("step_lr", S.step_lr(0.1, 3, 0.5), optax.exponential_decay(0.1, 3, 0.5, staircase=True), N),
    ("exponential_lr", S.exponential_lr(0.5, 0.9), optax.exponential_decay(0.5, 1, 0.9), N),
    (
        "exponential_decay",
        S.exponential_decay(1.0, 4, 0.5),
        optax.exponential_decay(1.0, 4, 0.5),
        N,
    ),
    (
        "exponential_decay_staircase",
        S.exponential_decay(1.0, 3, 0.5, 2, True, 0.02),
        optax.exponential_decay(1.0, 3, 0.5, 2, True, 0.02),
        N,
    ),
    (
        "exponential_decay_growth",
        S.exponential_decay(0.1, 2, 1.2, 0, False, 0.5),
        optax.exponential_decay(0.1, 2, 1.2, 0, False, 0.5),
        N,
    ),
    (
        "polynomial",
        S.polynomial(1.0, 0.1, 2.0, 10, 3),
        optax.polynomial_schedule(1.0, 0.1, 2.0, 10, 3),
        N,
    ),
    ("linear", S.linear(0.0, 1.0, 8, 2), optax.linear_schedule(0.0, 1.0, 8, 2), N),
    (
        "cosine_decay",
        S.cosine_decay(1.0, 10, 0.1, 2.0),
        optax.cosine_decay_schedule(1.0, 10, 0.1, 2.0),
        N,
    ),
    (
        "cosine_annealing_until_T_max",
        S.cosine_annealing(0.5, 16, 0.05),
        optax.cosine_decay_schedule(0.5, 16, alpha=0.1),
        17,
    ),
    (
        "warmup_cosine_decay",
        S.warmup_cosine_decay(0.0, 1.0, 4, 20, 0.05),
        optax.warmup_cosine_decay_schedule(0.0, 1.0, 4, 20, 0.05),
        N,
    ),
    (
        "warmup_cosine_decay_no_warmup",
        S.warmup_cosine_decay(0.2, 1.0, 0, 12, 0.1, 1.5),
        optax.warmup_cosine_decay_schedule(0.2, 1.0, 0, 12, 0.1, 1.5),
        N,
    ),
    (
        "warmup",
        S.warmup(S.cosine_decay(1.0, 10), 5, 0.1),
        optax.join_schedules(
            [optax.linear_schedule(0.1, 1.0, 5), optax.cosine_decay_schedule(1.0, 10)], [5]
        ),
        N,
    ),
    (
        "join",
        S.join([S.linear(0.0, 1.0, 5), S.cosine_decay(1.0, 10), 0.05], [5, 15]),
        optax.join_schedules(
            [
                optax.linear_schedule(0.0, 1.0, 5),
                optax.cosine_decay_schedule(1.0, 10),
                optax.constant_schedule(0.05),
            ],
            [5, 15],
        ),
        N,
    ),
]


@pytest.mark.parametrize("name,ours,theirs,n", OPTAX_CASES, ids=[c[0] for c in OPTAX_CASES])
def test_matches_optax(name, ours, theirs, n):
    ks = jnp.arange(n)

    @jax.jit
    def both(k):
        return jax.vmap(ours)(k), jax.vmap(lambda x: jnp.asarray(theirs(x), jnp.float32))(k)

    a, b = both(ks)
    chex.assert_trees_all_close(a, b, rtol=1e-6, atol=1e-7)


def test_usable_as_learning_rate_in_gradtx_and_optax():
    import gradtx

    sched = S.warmup(S.cosine_decay(0.1, 10), 3)
    params = {"w": jnp.ones(2)}
    grads = {"w": jnp.ones(2)}
    for tx in (gradtx.sgd(sched), optax.sgd(sched)):
        state = tx.init(params)
        step = jax.jit(tx.update)
        for k in range(5):
            updates, state = step(grads, state, params)
            np.testing.assert_allclose(updates["w"], -float(sched(k)) * np.ones(2), rtol=1e-6)


def test_negative_steps_clamp_to_step_zero_and_shapes():
    sched = S.one_cycle(1.0, 20)
    f = jax.jit(lambda s, k: s(k))
    for k in (-1, -1000, -(2**31)):
        np.testing.assert_allclose(f(sched, k), sched(0))
    np.testing.assert_allclose(S.inverse_time(1.0, 2.0)(-3), 1.0)  # no (1 - 6)^-1 pole
    # array steps give an array of values (one per step); float steps are truncated
    ks = jnp.arange(6).reshape(2, 3)
    assert sched(ks).shape == (2, 3) and sched(ks).dtype == jnp.float32
    assert S.constant(0.5)(ks).shape == (2, 3)
    np.testing.assert_allclose(S.step_lr(1.0, 2, 0.5)(3.7), 0.5)


def test_repr_is_readable():
    assert repr(S.step_lr(0.1, 30)) == "step_lr(init_value=0.1, step_size=30, gamma=0.1)"
    assert repr(S.piecewise_constant(1.0, {200: 0.01, 100: 0.1})) == (
        "piecewise_constant(init_value=1.0, boundaries_and_scales={100: 0.1, 200: 0.01})"
    )
    assert repr(S.warmup(S.cosine_decay(0.1, 1000), 100)) == (
        "warmup(schedule=cosine_decay(init_value=0.1, decay_steps=1000, alpha=0.0, "
        "exponent=1.0), warmup_steps=100, start_value=0.0, overlap=False)"
    )
    batch = jax.tree.map(lambda *x: jnp.stack(x), S.constant(0.1), S.constant(0.2))
    assert repr(batch) == "constant(value=[0.1, 0.2])"


def test_values_and_validation_through_dataclasses_replace():
    s = S.step_lr(0.1, 30)
    t = dataclasses.replace(s, gamma=0.5)
    assert float(t.gamma) == 0.5 and t.step_size == 30
    with pytest.raises(ValueError, match="step_size"):
        dataclasses.replace(s, step_size=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.gamma = 0.2  # type: ignore[misc]
    assert S.join([0.1, S.constant(0.2)], [3]).horizon is None
    assert S.warmup(S.cosine_decay(0.1, 100), 10).horizon == 110
    assert S.join([0.1, S.one_cycle(0.1, 50)], [10]).horizon == 60


BAD = [
    (lambda: S.step_lr(0.1, 0), "step_size"),
    (lambda: S.step_lr(0.1, -5), "step_size"),
    (lambda: S.step_lr(0.1, 2.5), "step_size"),
    (lambda: S.step_lr(0.1, 10, gamma=-0.1), "gamma"),
    (lambda: S.multistep_lr(0.1, [5, 3]), "strictly increasing"),
    (lambda: S.multistep_lr(0.1, [3, 3]), "strictly increasing"),
    (lambda: S.multistep_lr(0.1, [-1, 3]), r"milestones\[0\]"),
    (lambda: S.multistep_lr(0.1, []), "milestones"),
    (lambda: S.piecewise_constant(0.1, {5: -0.5}), "boundaries_and_scales"),
    (lambda: S.piecewise_constant(0.1, {-5: 0.5}), "boundaries"),
    (lambda: S.factor(0.1, 0.0), "factor"),
    (lambda: S.factor(0.1, 0.9, floor=-1.0), "floor"),
    (lambda: S.exponential_lr(0.1, 0.0), "gamma"),
    (lambda: S.exponential_decay(0.1, 0, 0.5), "transition_steps"),
    (lambda: S.exponential_decay(0.1, 10, 0.0), "decay_rate"),
    (lambda: S.exponential_decay(0.1, 10, 0.5, transition_begin=-1), "transition_begin"),
    (lambda: S.exp_decay(0.1, -1.0), "k"),
    (lambda: S.inverse_time(0.1, -1.0), "gamma"),
    (lambda: S.polynomial(0.1, 0.0, 1.0, 0), "transition_steps"),
    (lambda: S.polynomial(0.1, 0.0, 0.0, 10), "power"),
    (lambda: S.linear(0.1, 0.0, -3), "transition_steps"),
    (lambda: S.cosine_annealing(0.1, 0), "T_max"),
    (lambda: S.cosine_decay(0.1, 0), "decay_steps"),
    (lambda: S.warmup_cosine_decay(0.0, 0.1, 100, 100), "warmup_steps"),
    (lambda: S.cosine_warm_restarts(0.1, 0), "T_0"),
    (lambda: S.cosine_warm_restarts(0.1, 10, 0), "T_mult"),
    (lambda: S.cyclic(0.1, 1.0, 0), "step_size_up"),
    (lambda: S.cyclic(0.1, 1.0, 10, -2), "step_size_down"),
    (lambda: S.cyclic(0.1, 1.0, 10, mode="sawtooth"), "mode"),
    (lambda: S.cyclic(0.1, 1.0, 10, mode="exp_range", gamma=0.0), "gamma"),
    (lambda: S.one_cycle(0.1, 0), "total_steps"),
    (lambda: S.one_cycle(0.1, 100, pct_start=1.5), "pct_start"),
    (lambda: S.one_cycle(0.1, 100, pct_start=0.005), "pct_start"),
    (lambda: S.one_cycle(0.1, 100, pct_start=0.6, three_phase=True), "three_phase"),
    (lambda: S.one_cycle(0.1, 100, anneal_strategy="cosine"), "anneal_strategy"),
    (lambda: S.one_cycle(0.1, 100, div_factor=0.0), "div_factor"),
    (lambda: S.warmup(S.constant(0.1), -1), "warmup_steps"),
    (lambda: S.warmup(S.cosine_decay(0.1, 10), 20, overlap=True), "longer than the schedule"),
    (lambda: S.join([S.constant(0.1), S.constant(0.2)], []), "boundaries"),
    (lambda: S.join([S.constant(0.1), S.constant(0.2)], [5, 10]), "boundaries"),
    (lambda: S.join([S.constant(0.1)] * 3, [10, 5]), "strictly increasing"),
    (lambda: S.join([], []), "schedules"),
    (lambda: S.constant(None), "value"),
    (lambda: S.constant(float("nan")), "value"),
]


@pytest.mark.parametrize("make,match", BAD, ids=[f"bad{i}-{m}" for i, (_, m) in enumerate(BAD)])
def test_bad_input_raises_value_error_naming_the_parameter(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_one_cycle_with_a_traced_pct_start_never_gives_nan():
    """An empty phase is rejected for a concrete pct_start (BAD above); built inside jit
    the pct_start is a tracer and cannot raise: the empty phase is done at its only step
    (its end value, max_lr) instead of 0/0 = NaN, and a valid traced pct_start gives the
    concrete schedule's values."""
    ks = np.arange(10)

    @jax.jit
    def values(pct):
        two = S.one_cycle(0.1, 8, pct_start=pct)(ks)
        three = S.one_cycle(0.1, 8, pct_start=pct, three_phase=True)(ks)
        return two, three

    for got in values(0.125):  # 0.125 * 8 = 1: the warmup phase [0, 0] is empty
        got = np.asarray(got)
        assert np.all(np.isfinite(got)) and got[0] == np.float32(0.1), got
    for three_phase, got in zip((False, True), values(0.375), strict=True):
        want = S.one_cycle(0.1, 8, pct_start=0.375, three_phase=three_phase)(ks)
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)


def test_bad_types_raise_type_error():
    with pytest.raises(TypeError, match="init_value"):
        S.step_lr("0.1", 10)
    with pytest.raises(TypeError, match="gamma"):
        S.exponential_lr(0.1, True)
    with pytest.raises(TypeError, match="schedule"):
        S.warmup("cosine", 10)


def test_plot_draws_one_line_per_schedule():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scheds = (S.cosine_decay(0.1, 40), S.warmup(S.cosine_decay(0.1, 30), 10), S.constant(0.05))
    ax = S.plot(*scheds, steps=50, labels=["cos", "warm", "const"])
    lines = ax.get_lines()
    assert len(lines) == 3
    assert [ln.get_label() for ln in lines] == ["cos", "warm", "const"]
    # one compiled evaluation (eagerly, each op of the schedule compiles on its own)
    want = jax.jit(lambda s: s(jnp.arange(50)))(scheds[1])
    np.testing.assert_allclose(lines[1].get_ydata(), want, rtol=1e-6)
    np.testing.assert_array_equal(lines[0].get_xdata(), np.arange(50))
    # into a given Axes, default labels are readable names (constructor and non-default
    # arguments, not the repr); a plain callable works too
    fig, ax2 = plt.subplots()
    assert S.plot(scheds[0], lambda k: 0.01 * jnp.ones_like(k), ax=ax2, steps=[0, 5, 10]) is ax2
    assert ax2.get_lines()[0].get_label() == S.label(scheds[0])
    assert "=" not in S.label(scheds[0]) and S.label(scheds[0]).startswith("cosine_decay(")
    with pytest.raises(ValueError, match="labels"):
        S.plot(*scheds, labels=["one"])
    with pytest.raises(ValueError, match="steps"):
        S.plot(scheds[0], steps=0)
    with pytest.raises(ValueError, match="at least one"):
        S.plot()
    plt.close("all")


def test_checkpoint_round_trip_with_gradtx_checkpoint_and_tree_leaves():
    from gradtx import checkpoint

    state = {
        "lr": S.warmup(
            S.join([S.cosine_decay(0.1, 100), S.exponential_decay(0.05, 10, 0.5)], [100]), 10
        ),
        "wd": S.piecewise_constant(1e-4, {50: 0.1}),
        "count": jnp.asarray(7, jnp.int32),
    }
    blob = checkpoint.to_bytes(state)
    target = jax.tree.map(jnp.zeros_like, state)
    restored = checkpoint.from_bytes(target, blob)
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    assert restored["lr"] == state["lr"] and restored["wd"] == state["wd"]
    values = jax.jit(lambda a, b: (a(jnp.arange(130)), b(jnp.arange(130))))  # one compile
    np.testing.assert_array_equal(*values(restored["lr"], state["lr"]))
    # without flax: leaves + treedef
    leaves, treedef = jax.tree.flatten(state["lr"])
    assert jax.tree.unflatten(treedef, [np.asarray(x) for x in leaves]) == state["lr"]
