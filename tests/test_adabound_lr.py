"""AdaBound/AMSBound's bounds follow the learning rate on every path (issue 11, classes 4a
and 5): ``final_lr_t = final_lr * lr_t / base_lr`` with ``base_lr`` the lr the optimiser
was built with, as in the authors' code (``tests/reference/transforms_ref.AdaBoundTorch``).

* a schedule that starts at 0 (a warmup) has a positive base (``Schedule.base_value``),
  so there is no division by 0;
* the paths that hand the lr over as a *number* on every step (``inject_hyperparams``
  with a schedule, a plain callable or ``set_hyperparams``; the LR range test; vmapped
  sweeps) give the updates of ``gradtx.adabound`` with the schedule and of the port.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx import schedules
from tests.constructors import SCHEDULES
from tests.reference import harness as H
from tests.reference import transforms_ref as R

# Slow (many compiles): deselect with -m "not slow" for the fast core; CI runs it.
pytestmark = pytest.mark.slow

N = 15
FINAL, GAMMA = 0.1, 0.5  # gamma=0.5: the bounds are tight after a few steps


def np_step_lr(k):
    return 1e-2 * 0.1 ** (k // 5)


def np_warmup(k):
    return 1e-3 * min(k, 5) / 5


def run_jax(tx, params, grads, before_step=None):
    """Updates of ``tx`` over the gradients (one jitted update, a Python loop so that
    ``before_step(k, state)`` can change the state between steps)."""
    update = jax.jit(tx.update)
    state, p, out = tx.init(params), params, []
    for k in range(jax.tree.leaves(grads)[0].shape[0]):
        if before_step is not None:
            state = before_step(k, state)
        u, state = update(jax.tree.map(lambda g, k=k: g[k], grads), state, p)
        p = gradtx.apply_updates(p, u)
        out.append(u)
    return jax.tree.map(lambda *xs: jnp.stack(xs), *out)


@pytest.fixture(scope="module")
def problem():
    return H.make_problem(N)


@pytest.mark.parametrize("amsbound", [False, True], ids=["adabound", "amsbound"])
def test_warmup_from_zero_is_finite_and_equals_the_authors_code(problem, amsbound):
    """The issue's example: a warmup from lr 0. The bounds scale by lr_t / 1e-3 (the
    warmed-up schedule's base), as AdaBound(params, lr=1e-3) with a warmup scheduler."""
    params, grads = problem
    sched = schedules.warmup(schedules.constant(1e-3), warmup_steps=5)
    assert float(sched.base_value) == pytest.approx(1e-3)
    tx = (gradtx.amsbound if amsbound else gradtx.adabound)(sched)
    got = run_jax(tx, params, grads)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(got))
    want = H.run_reference(
        R.AdaBoundTorch(np_warmup, base_lr=1e-3, amsbound=amsbound), params, grads
    )
    H.assert_close(got, want, rtol=2e-5, floor=1e-6)
    # The first step has lr 0: no movement at all (the authors' code divides by 1e-3).
    assert all(float(jnp.max(jnp.abs(x[0]))) == 0.0 for x in jax.tree.leaves(got))


def test_explicit_base_lr_and_a_zero_base_raises(problem):
    params, grads = problem
    ramp = lambda k: 1e-3 * jnp.minimum(k, 5) / 5  # noqa: E731 - a plain callable, 0 at step 0
    with pytest.raises(ValueError, match="base_lr"):
        gradtx.adabound(ramp)
    with pytest.raises(ValueError, match="base_lr"):
        gradtx.bound_lr(schedules.linear(0.0, 0.0, 10))
    with pytest.raises(ValueError, match="base_lr"):
        gradtx.adabound(1e-3, base_lr=0.0)
    got = run_jax(gradtx.adabound(ramp, base_lr=1e-3), params, grads)
    want = H.run_reference(R.AdaBoundTorch(np_warmup, base_lr=1e-3), params, grads)
    H.assert_close(got, want, rtol=2e-5, floor=1e-6)
    # A number lr with an explicit base: final_lr * lr / base (torch: lr changed by hand).
    got = run_jax(gradtx.adabound(5e-3, final_lr=FINAL, gamma=GAMMA, base_lr=1e-2), params, grads)
    want = H.run_reference(
        R.AdaBoundTorch(5e-3, final_lr=FINAL, gamma=GAMMA, base_lr=1e-2), params, grads
    )
    H.assert_close(got, want, rtol=2e-5, floor=1e-6)


@pytest.fixture(scope="module")
def step_lr_reference(problem):
    """The issue's schedule: ``step_lr(1e-2, 5, 0.1)``, final_lr=0.1, gamma=0.5."""
    params, grads = problem
    want = H.run_reference(R.AdaBoundTorch(np_step_lr, final_lr=FINAL, gamma=GAMMA), params, grads)
    direct = run_jax(
        gradtx.adabound(schedules.step_lr(1e-2, 5, 0.1), final_lr=FINAL, gamma=GAMMA),
        params,
        grads,
    )
    H.assert_close(direct, want, rtol=2e-5, floor=1e-6)
    return want, direct


def _untracked(params, grads):
    """The bug: the lr handed over as a number is taken as its own base."""
    out = []
    p, g_all = R.to64(params), R.to64(grads)
    refs = R.AdaBoundTorch(np_step_lr, final_lr=FINAL, gamma=GAMMA)
    refs.init(p)
    for k in range(N):
        refs.base_lr = np_step_lr(k)
        u = refs.update({n: v[k] for n, v in g_all.items()}, p)
        p = R.tmap(np.add, p, u)
        out.append(u)
    return {n: np.stack([u[n] for u in out]) for n in p}


def test_the_reference_discriminates(problem, step_lr_reference):
    want, _ = step_lr_reference
    bad = _untracked(*problem)
    assert H.max_rel_error(bad, want) > 0.5


PATHS = ["inject_schedule", "inject_callable", "set_hyperparams", "inject_amsbound"]


@pytest.mark.parametrize("path", PATHS)
def test_inject_and_set_hyperparams_keep_the_bounds_following_the_lr(
    problem, step_lr_reference, path
):
    params, grads = problem
    want, direct = step_lr_reference
    sched = schedules.step_lr(1e-2, 5, 0.1)
    before = None
    if path == "inject_schedule":
        tx = gradtx.inject_hyperparams(gradtx.adabound)(sched, final_lr=FINAL, gamma=GAMMA)
    elif path == "inject_callable":
        tx = gradtx.inject_hyperparams(gradtx.adabound)(
            lambda k: sched(k), final_lr=FINAL, gamma=GAMMA
        )
    elif path == "set_hyperparams":
        # torch's way: build at lr 1e-2, then change group['lr'] between steps.
        tx = gradtx.inject_hyperparams(gradtx.adabound)(1e-2, final_lr=FINAL, gamma=GAMMA)

        def before(k, state):
            return gradtx.set_hyperparams(state, learning_rate=np_step_lr(k))
    else:
        tx = gradtx.inject_hyperparams(gradtx.amsbound)(sched, final_lr=FINAL, gamma=GAMMA)
        want = H.run_reference(
            R.AdaBoundTorch(np_step_lr, final_lr=FINAL, gamma=GAMMA, amsbound=True),
            params,
            grads,
        )
    got = run_jax(tx, params, grads, before)
    H.assert_close(got, want, rtol=2e-5, floor=1e-6)
    if path != "inject_amsbound":
        H.assert_close(got, jax.tree.map(np.asarray, direct), rtol=1e-5, floor=1e-6)


def test_swapping_the_injected_schedule_moves_the_base(problem):
    """set_hyperparams with a new schedule: the base follows the schedule in the state."""
    params, grads = problem
    tx = gradtx.inject_hyperparams(gradtx.adabound)(
        schedules.step_lr(1e-2, 5, 0.1), final_lr=FINAL, gamma=GAMMA
    )
    new = schedules.step_lr(2e-2, 5, 0.1)

    def before(k, state):
        return gradtx.set_hyperparams(state, learning_rate=new) if k == 0 else state

    got = run_jax(tx, params, grads, before)
    want = H.run_reference(
        R.AdaBoundTorch(lambda k: 2 * np_step_lr(k), final_lr=FINAL, gamma=GAMMA),
        params,
        grads,
    )
    H.assert_close(got, want, rtol=2e-5, floor=1e-6)


def _quadratic(p, batch):
    del batch
    return sum(jnp.sum((x - 0.3) ** 2) for x in jax.tree.leaves(p))


@pytest.mark.parametrize("inject", [False, True], ids=["adabound", "inject_hyperparams"])
def test_lr_range_test_bounds_follow_the_swept_lr(inject):
    """torch-lr-finder with AdaBound(params, lr=start_lr): the bounds are
    final_lr * lr_i / start_lr. Compared with the port on the same full-batch loss."""
    params = {"w": jnp.asarray([1.0, -2.0, 0.5]), "b": jnp.asarray(2.0)}
    n, lo, hi = 12, 1e-3, 1e-1
    make = gradtx.inject_hyperparams(gradtx.adabound) if inject else gradtx.adabound
    result = gradtx.lr_range_test(
        _quadratic,
        params,
        lambda lr: make(lr, final_lr=FINAL, gamma=GAMMA),
        [None],
        min_lr=lo,
        max_lr=hi,
        num_steps=n,
        diverge_threshold=np.inf,
    )
    lrs = lo * (hi / lo) ** (np.arange(n) / (n - 1))
    ref = R.AdaBoundTorch(lambda k: lrs[k], final_lr=FINAL, gamma=GAMMA, base_lr=lo)
    p = R.to64(params)
    ref.init(p)
    losses = []
    for _ in range(n):
        g = {k: 2 * (v - 0.3) for k, v in p.items()}
        p = R.tmap(np.add, p, ref.update(g, p))
        losses.append(sum(float(np.sum((v - 0.3) ** 2)) for v in p.values()))
    np.testing.assert_allclose(result.losses, losses, rtol=2e-5, atol=1e-6)
    # Without tracking (base = the current lr) the losses differ.
    ref2 = R.AdaBoundTorch(lambda k: lrs[k], final_lr=FINAL, gamma=GAMMA)
    p = R.to64(params)
    ref2.init(p)
    for k in range(n):
        ref2.base_lr = lrs[k]
        g = {kk: 2 * (v - 0.3) for kk, v in p.items()}
        p = R.tmap(np.add, p, ref2.update(g, p))
    untracked = sum(float(np.sum((v - 0.3) ** 2)) for v in p.values())
    assert abs(untracked - losses[-1]) > 1e-3 * abs(losses[-1])


@pytest.mark.parametrize("inject", [False, True], ids=["adabound", "inject_hyperparams"])
def test_vmap_sweep_over_schedules_follows_the_authors(problem, inject):
    params, grads = problem
    inits = (1e-2, 3e-3)
    scheds = gradtx.stack_schedules(*[schedules.step_lr(a, 5, 0.1) for a in inits])
    make = gradtx.inject_hyperparams(gradtx.adabound) if inject else gradtx.adabound
    sweep = gradtx.vmap_sweep(
        lambda s: make(s, final_lr=FINAL, gamma=GAMMA),
        lambda p, g: sum(jnp.vdot(g[k], p[k]) for k in p),  # grad = g: a linear loss
        N,
        per_step_data=True,
        shared_params=True,
    )
    result = sweep(scheds, params, grads)
    for i, a in enumerate(inits):
        want = H.run_reference(
            R.AdaBoundTorch(lambda k, a=a: a * 0.1 ** (k // 5), final_lr=FINAL, gamma=GAMMA),
            params,
            grads,
        )
        final = {k: np.asarray(params[k], np.float64) + want[k].sum(0) for k in params}
        got = jax.tree.map(lambda x, i=i: np.asarray(x[i]), result.params)
        for k in params:
            np.testing.assert_allclose(got[k], final[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", [m for _, m in SCHEDULES], ids=[name for name, _ in SCHEDULES])
def test_every_schedule_has_a_positive_base_and_every_path_agrees(make):
    """Over tests/constructors.py's SCHEDULES: ``base_value`` is positive and at least the
    value at step 0 (no division by 0, and a warmup/ramp is measured from its top);
    ``adabound(schedule)`` and ``inject_hyperparams(adabound)(schedule)`` equal the
    authors' code with ``lr = schedule(k)`` and ``base_lr = base_value`` (eager, 8
    steps)."""
    sched = make(schedules)
    base = float(sched.base_value)
    assert base > 0 and base >= float(sched(0)) * (1 - 1e-7)
    params, grads = H.make_problem(8)
    want = H.run_reference(
        R.AdaBoundTorch(lambda k: float(sched(k)), final_lr=FINAL, gamma=GAMMA, base_lr=base),
        params,
        grads,
    )
    for tx in (
        gradtx.adabound(sched, final_lr=FINAL, gamma=GAMMA),
        gradtx.inject_hyperparams(gradtx.adabound)(sched, final_lr=FINAL, gamma=GAMMA),
    ):
        state, p, got = tx.init(params), params, []
        for k in range(8):
            u, state = tx.update(jax.tree.map(lambda g, k=k: g[k], grads), state, p)
            p = gradtx.apply_updates(p, u)
            got.append(u)
        got = jax.tree.map(lambda *xs: jnp.stack(xs), *got)
        H.assert_close(got, want, rtol=5e-5, floor=1e-6)
