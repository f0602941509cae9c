"""optax's schedule names in gradtx (gradtx.schedules._optax_names): values equal to
optax 0.2.8's and to the float64 references at steps -3 .. N+5 (negative steps and
both ends included), with and without jit; pytree behaviour (one compilation for new
values, vmap, grad); bad input; the docstring examples.

Compile budget: one jitted evaluation per kind (all steps at once); optax is evaluated
with ``jax.vmap`` over the same steps (eager).
"""

from __future__ import annotations

import doctest

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from reference import optax_schedules_ref as ref

import gradtx
from gradtx import schedules as S
from gradtx.schedules import _optax_names

RTOL, ATOL = 1e-5, 1e-6
# One step array for every case (one shape: the eager primitives compile once): it
# covers -3 .. N+5 for every row's N (N <= 20).
KS = np.arange(-3, 26)
CYCLE = dict(init_value=0.1, peak_value=1.0, warmup_steps=2, decay_steps=6, end_value=0.05)
CYCLE0 = dict(init_value=0.3, peak_value=0.8, warmup_steps=0, decay_steps=5)

# id, N (steps -3 .. N+5), args, kwargs, reference(steps)
CASES = [
    ("constant_schedule", 4, (0.3,), {}, lambda k: ref.constant(k, 0.3)),
    (
        "polynomial_schedule",
        10,
        (1.0, 0.1, 2.0, 10, 3),
        {},
        lambda k: ref.polynomial(k, 1.0, 0.1, 2.0, 10, 3),
    ),
    (
        "polynomial_schedule",
        10,
        (1.0, 0.1, 0.5, 10),
        {},
        lambda k: ref.polynomial(k, 1.0, 0.1, 0.5, 10),
    ),
    (
        "polynomial_schedule",
        5,
        (1.0, 0.1, 2.0, 0),
        {},
        lambda k: ref.polynomial(k, 1.0, 0.1, 2.0, 0),
    ),
    (
        "polynomial_schedule",
        8,
        (1.0, 0.1, 2.0, 8, -2),
        {},
        lambda k: ref.polynomial(k, 1.0, 0.1, 2.0, 8, -2),
    ),
    ("linear_schedule", 8, (0.0, 1.0, 8, 2), {}, lambda k: ref.linear(k, 0.0, 1.0, 8, 2)),
    ("linear_schedule", 4, (0.5, 1.0, -1), {}, lambda k: ref.linear(k, 0.5, 1.0, -1)),
    ("warmup_constant_schedule", 6, (0.0, 1.0, 6), {}, lambda k: ref.linear(k, 0.0, 1.0, 6)),
    ("warmup_constant_schedule", 3, (0.2, 1.0, 0), {}, lambda k: ref.linear(k, 0.2, 1.0, 0)),
    (
        "piecewise_constant_schedule",
        9,
        (1.0, {7: 2.0, 0: 0.9, 3: 0.5}),
        {},
        lambda k: ref.piecewise_constant(k, 1.0, {7: 2.0, 0: 0.9, 3: 0.5}),
    ),
    ("piecewise_constant_schedule", 3, (0.4,), {}, lambda k: ref.piecewise_constant(k, 0.4, {})),
    (
        "exponential_decay",
        12,
        (1.0, 3, 0.5, 2, True, 0.1),
        {},
        lambda k: ref.exponential_decay(k, 1.0, 3, 0.5, 2, True, 0.1),
    ),
    (
        "exponential_decay",
        10,
        (0.1, 2, 1.2),
        {"end_value": 0.3},
        lambda k: ref.exponential_decay(k, 0.1, 2, 1.2, end=0.3),
    ),
    (
        "cosine_decay_schedule",
        10,
        (1.0, 10, 0.1, 2.0),
        {},
        lambda k: ref.cosine_decay(k, 1.0, 10, 0.1, 2.0),
    ),
    (
        "cosine_decay_schedule",
        16,
        (0.5, 16),
        {"alpha": 0.1},
        lambda k: ref.cosine_decay(k, 0.5, 16, 0.1),
    ),
    (
        "warmup_cosine_decay_schedule",
        12,
        (0.1, 1.0, 3, 12, 0.05, 1.5),
        {},
        lambda k: ref.warmup_cosine_decay(k, 0.1, 1.0, 3, 12, 0.05, 1.5),
    ),
    (
        "warmup_cosine_decay_schedule",
        8,
        (0.2, 1.0, 0, 8),
        {},
        lambda k: ref.warmup_cosine_decay(k, 0.2, 1.0, 0, 8),
    ),
    (
        "warmup_cosine_decay_schedule",
        6,
        (0.0, 0.0, 2, 6),
        {"end_value": 0.0},
        lambda k: ref.warmup_cosine_decay(k, 0.0, 0.0, 2, 6),
    ),
    (
        "warmup_exponential_decay_schedule",
        14,
        (0.0, 1.0, 3, 2, 0.5),
        {"transition_begin": 1, "staircase": True, "end_value": 0.1},
        lambda k: ref.warmup_exponential_decay(k, 0.0, 1.0, 3, 2, 0.5, 1, True, 0.1),
    ),
    (
        "warmup_exponential_decay_schedule",
        6,
        (0.4, 1.0, 0, 1, 0.8),
        {},
        lambda k: ref.warmup_exponential_decay(k, 0.4, 1.0, 0, 1, 0.8),
    ),
    (
        "warmup_exponential_decay_schedule",
        6,
        (0.4, 1.0, 2, 0, 0.8),
        {},
        lambda k: ref.warmup_exponential_decay(k, 0.4, 1.0, 2, 0, 0.8),
    ),
    (
        "sgdr_schedule",
        14,
        ([CYCLE, CYCLE0, CYCLE],),
        {},
        lambda k: ref.sgdr(k, [CYCLE, CYCLE0, CYCLE]),
    ),
    (
        "piecewise_interpolate_schedule",
        12,
        ("linear", 1.0, {4: 0.1, 8: 0.01}),
        {},
        lambda k: ref.piecewise_interpolate(k, "linear", 1.0, {4: 0.1, 8: 0.01}),
    ),
    (
        "piecewise_interpolate_schedule",
        10,
        ("cosine", 0.5, {0: 2.0, 3: 0.1, 9: 4.0}),
        {},
        lambda k: ref.piecewise_interpolate(k, "cosine", 0.5, {0: 2.0, 3: 0.1, 9: 4.0}),
    ),
    (
        "piecewise_interpolate_schedule",
        2,
        ("cosine", 0.5),
        {},
        lambda k: ref.piecewise_interpolate(k, "cosine", 0.5, None),
    ),
    ("cosine_onecycle_schedule", 20, (20, 1.0), {}, lambda k: ref.cosine_onecycle(k, 20, 1.0)),
    (
        "cosine_onecycle_schedule",
        10,
        (10, 2.0, 0.45, 10.0, 100.0),
        {},
        lambda k: ref.cosine_onecycle(k, 10, 2.0, 0.45, 10.0, 100.0),
    ),
    (
        "cosine_onecycle_schedule",
        7,
        (7, 1.0, 1.0),
        {},
        lambda k: ref.cosine_onecycle(k, 7, 1.0, 1.0),
    ),
    ("linear_onecycle_schedule", 20, (20, 1.0), {}, lambda k: ref.linear_onecycle(k, 20, 1.0)),
    (
        "linear_onecycle_schedule",
        10,
        (10, 2.0, 0.25, 0.5, 5.0, 50.0),
        {},
        lambda k: ref.linear_onecycle(k, 10, 2.0, 0.25, 0.5, 5.0, 50.0),
    ),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]


def _join_case(module):
    return module.join_schedules(
        [module.cosine_decay_schedule(1.0, 4), module.linear_schedule(0.5, 0.0, 4)], [3]
    )


def _optax_values(fn, ks):
    return np.broadcast_to(np.asarray(jax.vmap(fn)(jnp.asarray(ks)), np.float64), ks.shape)


@jax.jit
def _jit_eval(schedule, ks):
    return schedule(ks)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_values_equal_optax_and_reference(case):
    name, n, args, kwargs, reference = case
    assert n + 5 <= KS[-1]
    ks = KS
    sched = getattr(gradtx, name)(*args, **kwargs)
    assert getattr(S, name) is getattr(gradtx, name)
    expected = np.asarray(reference(list(ks)), np.float64)
    theirs = _optax_values(getattr(optax, name)(*args, **kwargs), ks)
    eager = np.asarray(sched(ks))
    jitted = np.asarray(_jit_eval(sched, ks))
    for got in (eager, jitted):
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(theirs, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(jitted, theirs, rtol=RTOL, atol=ATOL)
    assert eager.dtype == jitted.dtype == np.float32


def test_join_schedules_equals_optax():
    ks = KS
    sched = _join_case(gradtx)
    theirs = _optax_values(_join_case(optax), ks)
    expected = ref.join(
        list(ks),
        [lambda s: ref.cosine_decay(s, 1.0, 4), lambda s: ref.linear(s, 0.5, 0.0, 4)],
        [3],
    )
    for got in (sched(ks), _jit_eval(sched, ks), theirs):
        np.testing.assert_allclose(np.asarray(got), expected, rtol=RTOL, atol=ATOL)


# The kinds that are new classes: new leaf values go through one compilation; vmap
# over a stacked batch; grad with respect to the leaves.
PYTREE = [
    ("cosine_decay_schedule", lambda v: gradtx.cosine_decay_schedule(v, 10, 0.1)),
    ("warmup_cosine_decay_schedule", lambda v: gradtx.warmup_cosine_decay_schedule(0.0, v, 2, 9)),
    (
        "join_schedules",
        lambda v: gradtx.join_schedules([v, gradtx.linear_schedule(v, 0.0, 5)], [2]),
    ),
    (
        "piecewise_interpolate_schedule",
        lambda v: gradtx.piecewise_interpolate_schedule("cosine", v, {3: 0.5, 6: 0.1}),
    ),
    ("cosine_onecycle_schedule", lambda v: gradtx.cosine_onecycle_schedule(10, v)),
    ("linear_onecycle_schedule", lambda v: gradtx.linear_onecycle_schedule(10, v)),
    (
        "sgdr_schedule",
        lambda v: gradtx.sgdr_schedule(
            [dict(init_value=0.0, peak_value=v, warmup_steps=1, decay_steps=4)] * 2
        ),
    ),
]


@pytest.mark.parametrize("make", [m for _, m in PYTREE], ids=[n for n, _ in PYTREE])
def test_pytree_one_compilation_vmap_grad(make):
    traces = []

    @jax.jit
    def at(s, k):
        traces.append(1)
        return s(k)

    ks = jnp.asarray(KS)
    a, b = make(0.5), make(0.8)
    va, vb = at(a, ks), at(b, ks)
    assert len(traces) == 1, "new leaf values recompiled"
    np.testing.assert_allclose(vb, va * 1.6, rtol=RTOL, atol=ATOL)
    stacked = jax.tree.map(lambda *x: jnp.stack(x), a, b)
    batched = jax.jit(jax.vmap(lambda s: s(ks)))(stacked)
    np.testing.assert_allclose(batched, np.stack([va, vb]), rtol=RTOL, atol=ATOL)
    # Every value here is linear in v (all leaves scale with it): d s(k) / dv = s(k) / v.
    grad = jax.vmap(jax.grad(lambda v, k: make(v)(k)), in_axes=(None, 0))
    np.testing.assert_allclose(jax.jit(grad)(0.5, ks), va / 0.5, rtol=1e-4, atol=1e-6)


BAD = [
    (lambda: gradtx.polynomial_schedule(1.0, 0.0, 1.0, 2.5), TypeError, "transition_steps"),
    (lambda: gradtx.polynomial_schedule(1.0, 0.0, -1.0, 10), ValueError, "power"),
    (lambda: gradtx.linear_schedule("a", 0.0, 10), TypeError, "init_value"),
    (lambda: gradtx.linear_schedule(1.0, float("nan"), 10), ValueError, "end_value"),
    (lambda: gradtx.linear_schedule(1.0, 0.0, 10, "3"), TypeError, "transition_begin"),
    (lambda: gradtx.warmup_constant_schedule(0.0, 1.0, None), TypeError, "warmup_steps"),
    (lambda: gradtx.constant_schedule(float("nan")), ValueError, "value"),
    (
        lambda: gradtx.piecewise_constant_schedule(1.0, {3: -0.5}),
        ValueError,
        "boundaries_and_scales",
    ),
    (lambda: gradtx.cosine_decay_schedule(1.0, 0), ValueError, "decay_steps"),
    (lambda: gradtx.warmup_cosine_decay_schedule(0.0, 1.0, 5, 5), ValueError, "warmup_steps"),
    (
        lambda: gradtx.warmup_exponential_decay_schedule(0.0, 1.0, 2, 3, -0.5),
        ValueError,
        "decay_rate",
    ),
    (lambda: gradtx.join_schedules([0.1, 0.2], [3, 4]), ValueError, "boundaries"),
    (lambda: gradtx.sgdr_schedule([]), ValueError, "cosine_kwargs"),
    (lambda: gradtx.sgdr_schedule([{"peak_value": 1.0}]), TypeError, "cosine_kwargs"),
    (lambda: gradtx.piecewise_interpolate_schedule("cubic", 1.0), ValueError, "interpolate_type"),
    (
        lambda: gradtx.piecewise_interpolate_schedule("linear", 1.0, {2: -1.0}),
        ValueError,
        "boundaries_and_scales",
    ),
    (
        lambda: gradtx.piecewise_interpolate_schedule("linear", 1.0, {-2: 1.0}),
        ValueError,
        "boundaries_and_scales",
    ),
    (lambda: gradtx.cosine_onecycle_schedule(0, 1.0), ValueError, "transition_steps"),
    (lambda: gradtx.cosine_onecycle_schedule(10.5, 1.0), TypeError, "transition_steps"),
    (lambda: gradtx.cosine_onecycle_schedule(10, 1.0, pct_start=1.5), ValueError, "pct_start"),
    (lambda: gradtx.linear_onecycle_schedule(10, 1.0, div_factor=0.0), ValueError, "div_factor"),
    (lambda: gradtx.linear_onecycle_schedule(10, 1.0, pct_final=-0.1), ValueError, "pct_final"),
]


@pytest.mark.parametrize("make,exc,name", BAD, ids=[f"{b[2]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_names_the_parameter(make, exc, name):
    with pytest.raises(exc, match=name):
        make()


def test_optax_signatures():
    import inspect

    for name in _optax_names.__all__ + ["exponential_decay"]:
        ours = inspect.signature(getattr(gradtx, name)).parameters
        theirs = inspect.signature(getattr(optax, name)).parameters
        assert list(ours) == list(theirs), name
        for p in theirs:
            assert ours[p].default == theirs[p].default, (name, p)


def test_docstring_examples_run():
    result = doctest.testmod(_optax_names, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 20 and result.failed == 0
