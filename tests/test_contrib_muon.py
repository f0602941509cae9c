"""gradtx.contrib.muon equals its float64 NumPy reference (tests/reference/muon_ref.py)
over 50 steps (jit, in one ``lax.scan``) and 6 steps (no jit), equals optax.contrib.muon
(rtol 1e-5) with the same state tree (a checkpoint moves both ways), and its torch
convention (``adjust_lr_fn``) equals torch.optim.Muon's published rule written in NumPy.

The problem: two 2D matrices (one tall, one wide), a rank-4 kernel ``(2, 2, 3, 4)``
and a bias, so the cases cover the default 2D routing (the
rest to AdamW), explicit dimension numbers with batch axes and a ``None`` (AdamW) leaf.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest
from _xla import XLA_DEFAULT
from reference import muon_ref as R
from reference.harness import assert_close

import gradtx
import gradtx.contrib

# Slow (one compile per case): deselect with -m "not slow" for the fast core; CI runs it.
pytestmark = pytest.mark.slow

N_STEPS, N_EAGER = 50, 4
SHAPES = {"w": (3, 5), "v": (6, 4), "k": (2, 2, 3, 4), "b": (4,)}
# Newton-Schulz has slope ~3.4 per step at small singular values, so float32 rounding of
# the momentum grows ~100x through five steps: the reference tolerance is looser than
# the elementwise optimisers'.
RTOL_REF, FLOOR_REF = 1e-4, 1e-5
RTOL_OPTAX, FLOOR_OPTAX = 1e-5, 1e-6


def _sched(k):
    return 0.02 * 0.98**k


def _dims(m):
    D = m.MuonDimensionNumbers
    # v transposed; k: a (2*2, 4) matrix for each index of its batch axis 2; b: AdamW
    return {"w": D(), "v": D(1, 0), "k": D((0, 1), 3), "b": None}


def _ref_dims(dims: dict) -> dict:
    out = {}
    for k, d in dims.items():
        if d is not None:
            red = d.reduction_axis if isinstance(d.reduction_axis, tuple) else (d.reduction_axis,)
            o = d.output_axis if isinstance(d.output_axis, tuple) else (d.output_axis,)
            out[k] = (red, o)
    return out


DEFAULT_DIMS = {"w": ((0,), (1,)), "v": ((0,), (1,))}  # the 2D leaves


class Case(NamedTuple):
    id: str
    make: Any  # contrib module -> transformation
    ref: Any  # () -> reference
    in_optax: bool = True


CASES = [
    Case("default", lambda m: m.muon(0.02), lambda: R.Muon(0.02, DEFAULT_DIMS)),
    Case(
        "dims_wd_rms_no_nesterov_spectral_dion",
        lambda m: m.muon(0.02, ns_coeffs="dion", weight_decay=0.1, nesterov=False,
                         consistent_rms=0.2, preconditioning="spectral",
                         muon_weight_dimension_numbers=_dims(m), adam_weight_decay=0.01),
        lambda: R.Muon(0.02, _ref_dims(_dims(gradtx.contrib)), coeffs=R.DION, wd=0.1,
                       nesterov=False, consistent_rms=0.2, preconditioning="spectral",
                       adam_wd=0.01),
    ),
    Case(
        "dims_fn_adaptive_aol_schedule_3steps",
        lambda m: m.muon(_sched, ns_steps=3, beta=0.9, adaptive=True, preconditioning="aol",
                         muon_weight_dimension_numbers=lambda params: _dims(m),
                         adam_learning_rate=0.01, adam_b1=0.8),
        lambda: R.Muon(_sched, _ref_dims(_dims(gradtx.contrib)), steps=3, beta=0.9,
                       adaptive=True, preconditioning="aol", adam_b1=0.8).with_adam_lr(0.01),
    ),
]

# torch.optim.Muon's rule on flax-layout (in, out) weights: equal to the NumPy torch rule
# run on the (out, in) transposes.
TORCH_CASES = [
    Case("torch_original", lambda m: m.muon(0.02, eps=1e-7, weight_decay=0.1,
                                            adjust_lr_fn="original"),
         lambda: R.MuonTorch(0.02, ["w", "v"], "original"), in_optax=False),
    Case("torch_match_rms_adamw",
         lambda m: m.muon(0.02, eps=1e-7, weight_decay=0.1, nesterov=False,
                          adjust_lr_fn="match_rms_adamw"),
         lambda: R.MuonTorch(0.02, ["w", "v"], "match_rms_adamw", nesterov=False),
         in_optax=False),
]


def _with_adam_lr(self, lr):
    self.adam.lr = R.as_schedule(lr)
    return self


R.Muon.with_adam_lr = _with_adam_lr  # the reference's AdamW with its own learning rate


def make_problem(n_steps: int = N_STEPS, seed: int = 0):
    rng = np.random.default_rng(seed)
    params = {k: jnp.asarray(rng.normal(size=s), jnp.float32) for k, s in SHAPES.items()}
    scales = np.exp(0.5 * rng.normal(size=n_steps))
    grads = {k: jnp.asarray(rng.normal(size=(n_steps, *s))
                            * scales.reshape((-1,) + (1,) * len(s)), jnp.float32)
             for k, s in SHAPES.items()}
    return params, grads


PARAMS, GRADS = make_problem()


SMALL = ("w", "b")  # the eager runs use a matrix and a bias (eager dispatch is slow)


def _run(tx, n, update=None):
    """``n`` steps on the SMALL leaves in a Python loop with ``update`` (jitted or not)."""
    update = update or tx.update
    p = {k: PARAMS[k] for k in SMALL}
    state, out = tx.init(p), []
    for i in range(n):
        u, state = update({k: GRADS[k][i] for k in SMALL}, state, p)
        p = jax.tree.map(lambda a, b: a + b, p, u)
        out.append(u)
    return jax.tree.map(lambda *xs: np.stack(xs), *out), state


def _scan(tx):
    def body(carry, g):
        state, p = carry
        u, state = tx.update(g, state, p)
        return (state, jax.tree.map(lambda a, b: a + b, p, u)), u

    return lambda: jax.lax.scan(body, (tx.init(PARAMS), PARAMS), GRADS)[1]


@functools.cache
def _all_runs(module_name: str) -> dict[str, Any]:
    """Every case's 50 steps, of gradtx.contrib or optax.contrib, in ONE compiled
    function (compiles dominate this file's time)."""
    module = {"gradtx": gradtx.contrib, "optax": optax.contrib}[module_name]
    cases = [c for c in CASES + TORCH_CASES if module_name == "gradtx" or c.in_optax]
    runs = [_scan(c.make(module)) for c in cases]
    outs = jax.jit(lambda: [run() for run in runs], compiler_options=XLA_DEFAULT)()
    return {c.id: out for c, out in zip(cases, outs, strict=True)}


def _run_ref(ref, n, transpose=(), keys=tuple(SHAPES)):
    def tr(t):
        return {k: (np.swapaxes(v, -1, -2) if k in transpose else v) for k, v in t.items()}

    p = tr({k: np.asarray(PARAMS[k], np.float64) for k in keys})
    ref.init(p)
    out = []
    for i in range(n):
        u = ref.update(tr({k: np.asarray(GRADS[k][i], np.float64) for k in keys}), p)
        p = {k: p[k] + u[k] for k in p}
        out.append(tr(u))
    return {k: np.stack([u[k] for u in out]) for k in out[0]}


@pytest.mark.parametrize("case", CASES + TORCH_CASES, ids=lambda c: c.id)
def test_equals_reference_and_optax_50_steps_jit(case):
    ours = _all_runs("gradtx")[case.id]
    transpose = ("w", "v") if not case.in_optax else ()
    assert_close(ours, _run_ref(case.ref(), N_STEPS, transpose), RTOL_REF, FLOOR_REF)
    if case.in_optax:
        assert_close(ours, _all_runs("optax")[case.id], RTOL_OPTAX, FLOOR_OPTAX)


class EagerTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_equals_reference(self):
        case = CASES[0]
        tx = case.make(gradtx.contrib)
        ours, _ = _run(tx, N_EAGER, self.variant(tx.update))
        assert_close(ours, _run_ref(case.ref(), N_EAGER, keys=SMALL), RTOL_REF, FLOOR_REF)


def _skeleton(tree):
    return [(jax.tree_util.keystr(k), np.shape(v), str(jnp.result_type(v)))
            for k, v in jax.tree_util.tree_leaves_with_path(tree)]


def test_state_tree_equals_optax_and_moves_both_ways():
    case = CASES[0]
    ours_tx, theirs_tx = case.make(gradtx.contrib), case.make(optax.contrib)
    ours, theirs = ours_tx.init(PARAMS), theirs_tx.init(PARAMS)
    assert _skeleton(ours) == _skeleton(theirs)
    # a checkpoint moves both ways (on the SMALL leaves: eager steps are slow)
    p = {k: PARAMS[k] for k in SMALL}
    g = {k: GRADS[k][0] for k in SMALL}
    _, theirs = theirs_tx.update(g, theirs_tx.init(p), p)  # a non-trivial optax state
    moved = jax.tree.unflatten(jax.tree.structure(ours_tx.init(p)), jax.tree.leaves(theirs))
    g = {k: GRADS[k][1] for k in SMALL}
    u_ours, s_ours = ours_tx.update(g, moved, p)
    u_theirs, s_theirs = theirs_tx.update(g, theirs, p)
    assert_close(u_ours, u_theirs, RTOL_OPTAX, FLOOR_OPTAX)
    back = jax.tree.unflatten(jax.tree.structure(s_theirs), jax.tree.leaves(s_ours))
    theirs_tx.update(g, back, p)  # gradtx's state runs in optax


def test_scale_by_muon_tree_without_dimension_numbers_and_bf16():
    # optax's scale_by_muon needs dimension numbers for a tree; gradtx applies the 2D rule
    # to every leaf, and bfloat16 gradients give bfloat16 updates
    tx = gradtx.contrib.scale_by_muon()
    p = {"a": jnp.ones((3, 4), jnp.bfloat16), "b": jnp.eye(5, 2, dtype=jnp.bfloat16)}
    u, state = tx.update(p, tx.init(p))
    assert u["a"].dtype == jnp.bfloat16 and state.mu["a"].dtype == jnp.bfloat16
    np.testing.assert_allclose(
        np.asarray(u["b"], np.float32),
        R.newton_schulz(np.eye(5, 2)), rtol=2e-2, atol=1e-2)


def test_preconditionings_equal_reference():
    # the four rescalings on one tall and one wide matrix, in one compiled function
    g = np.random.default_rng(2).normal(size=(2, 6, 4)).astype(np.float32)
    txs = [gradtx.contrib.scale_by_muon(nesterov=False, preconditioning=p, eps=1e-3)
           for p in ("frobenius", "spectral", "aol", "schatten")]
    tree = {"tall": jnp.asarray(g[0]), "wide": jnp.asarray(g[1].T)}
    outs = jax.jit(lambda t: [tx.update(t, tx.init(t))[0] for tx in txs])(tree)
    for p, u in zip(("frobenius", "spectral", "aol", "schatten"), outs, strict=True):
        for k, x in tree.items():
            ref = R.newton_schulz(np.asarray(x, np.float64), preconditioning=p, eps=1e-3)
            np.testing.assert_allclose(np.asarray(u[k]), ref, rtol=1e-4, atol=1e-5, err_msg=p)


def test_orthogonalizes():
    # singular values of NS(G) land in Jordan's band (~0.7..1.2) for a random matrix
    g = np.random.default_rng(1).normal(size=(8, 16)).astype(np.float32)
    tx = gradtx.contrib.scale_by_muon(nesterov=False)
    u, _ = tx.update(jnp.asarray(g), tx.init(jnp.asarray(g)))
    s = np.linalg.svd(np.asarray(u), compute_uv=False)
    assert 0.6 < s.min() and s.max() < 1.25


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"beta": 1.0}, "beta"),
        ({"eps": -1.0}, "eps"),
        ({"ns_steps": 0}, "ns_steps"),
        ({"preconditioning": "svd"}, "preconditioning"),
        ({"ns_coeffs": (1.0, 2.0)}, "ns_coeffs"),
        ({"convention": "jax"}, "convention"),
    ],
)
def test_bad_hyperparameters_raise_naming_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        gradtx.contrib.scale_by_muon(**kwargs)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"learning_rate": 0.1, "ns_coeffs": "fast"}, "ns_coeffs"),
        ({"learning_rate": 0.1, "adjust_lr_fn": "rms"}, "adjust_lr_fn"),
        ({"learning_rate": 0.1, "adjust_lr_fn": "original", "consistent_rms": 0.2},
         "consistent_rms"),
    ],
)
def test_muon_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        gradtx.contrib.muon(**kwargs)


def test_rank1_leaf_with_dimension_numbers_raises():
    tx = gradtx.contrib.scale_by_muon(
        weight_dimension_numbers={"b": gradtx.contrib.MuonDimensionNumbers()})
    p = {"b": jnp.ones(3)}
    with pytest.raises(ValueError, match="rank >= 2"):
        tx.update(p, tx.init(p))


def test_signatures_and_defaults_equal_optax():
    import inspect

    for name in ("muon", "scale_by_muon"):
        ours = inspect.signature(getattr(gradtx.contrib, name)).parameters
        theirs = inspect.signature(getattr(optax.contrib, name)).parameters
        extra = {"muon": ["adjust_lr_fn"], "scale_by_muon": ["convention"]}[name]
        assert list(ours)[: len(theirs)] == list(theirs) and list(ours)[len(theirs):] == extra
        for k, p in theirs.items():
            assert ours[k].kind == p.kind, k
            assert ours[k].default == p.default, k
