"""gradtx.contrib.soap equals the float64 NumPy port of the authors' code
(tests/reference/soap_ref.py) over 50 steps (several eigenbasis refreshes): run in
float64 (``jax.enable_x64``) it equals the port to rtol 1e-9, in float32 to rtol 1e-4
(with a floor: float32 eigenvectors carry the rounding of the factors); jit (one
``lax.scan``) and no jit (``chex.variants``, a few steps). The flax example of
docs/contrib_matrix.md (Muon and SOAP on the hidden matrices, AdamW on the rest) runs.

Every leaf's factors have distinct eigenvalues at the first step (each axis is at most
the product of the others, or one longer: a null space of dimension <= 1), so the
eigenbases are unique up to the signs of their columns, which Adam in that basis does
not see; with a larger null space the eigenbasis inside it is arbitrary and two correct
implementations differ.
"""

from __future__ import annotations

import functools
import pathlib
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference.harness import assert_close
from reference.soap_ref import SOAP

import gradtx
import gradtx.contrib

# Slow (eigh and QR compile per case): deselect with -m "not slow"; CI runs it.
pytestmark = pytest.mark.slow

N_STEPS, N_EAGER = 50, 4
SHAPES = {"w": (3, 4), "t": (3, 4, 5), "m": (2, 3, 5), "b": (2,), "s": ()}
RTOL_64 = 1e-9
RTOL_32, FLOOR_32 = 1e-4, 1e-5


def _sched(k):
    return 0.01 * 0.98**k


class Case(NamedTuple):
    id: str
    kwargs: dict[str, Any]  # for gradtx.contrib.soap
    ref_kwargs: dict[str, Any]  # for the authors' SOAP


CASES = [
    Case("defaults", {}, {}),
    Case(
        "skip_axes_1d_normalize_wd_freq3",
        dict(learning_rate=1e-2, max_precond_dim=4, precondition_1d=True, shampoo_beta=0.9,
             normalize_grads=True, weight_decay=0.1, precondition_frequency=3),
        dict(lr=1e-2, max_precond_dim=4, precondition_1d=True, shampoo_beta=0.9,
             normalize_grads=True, weight_decay=0.1, precondition_frequency=3),
    ),
    Case(
        "merge_dims_no_bias_correction",
        dict(b1=0.9, b2=0.99, merge_dims=True, max_precond_dim=6, correct_bias=False,
             eps=1e-6, precondition_frequency=4, weight_decay=0.0),
        dict(betas=(0.9, 0.99), merge_dims=True, max_precond_dim=6, correct_bias=False,
             eps=1e-6, precondition_frequency=4, weight_decay=0.0),
    ),
]


def make_problem(dtype):
    rng = np.random.default_rng(0)
    params = {k: rng.normal(size=s) for k, s in SHAPES.items()}
    grads = {k: rng.normal(size=(N_STEPS, *s)) for k, s in SHAPES.items()}
    return params, grads


PARAMS, GRADS = make_problem(np.float64)


def _scan(tx, params, grads):
    def body(carry, g):
        state, p = carry
        u, state = tx.update(g, state, p)
        return (state, jax.tree.map(lambda a, b: a + b, p, u)), u

    return lambda: jax.lax.scan(body, (tx.init(params), params), grads)[1]


@functools.cache
def _all_runs(dtype: str) -> dict[str, Any]:
    """The cases' 50 steps in one compiled function: every case in float64, the defaults
    in float32 (compiles dominate this file's time)."""
    cases = CASES if dtype == "float64" else CASES[:1]
    with jax.enable_x64(dtype == "float64"):
        cast = functools.partial(jax.tree.map, lambda x: jnp.asarray(x, dtype))
        runs = [_scan(gradtx.contrib.soap(**c.kwargs), cast(PARAMS), cast(GRADS)) for c in cases]
        outs = jax.jit(lambda: [run() for run in runs])()
        return {c.id: jax.tree.map(np.asarray, o) for c, o in zip(cases, outs, strict=True)}


def _run_ref(case, n):
    ref = SOAP(**case.ref_kwargs)
    p = {k: v.copy() for k, v in PARAMS.items()}
    ref.init(p)
    out = []
    for i in range(n):
        u = ref.update({k: v[i] for k, v in GRADS.items()}, p)
        p = {k: p[k] + u[k] for k in p}
        out.append(u)
    return {k: np.stack([u[k] for u in out]) for k in out[0]}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_float64_equals_the_authors_code_50_steps(case):
    assert_close(_all_runs("float64")[case.id], _run_ref(case, N_STEPS), RTOL_64, 1e-10)


@pytest.mark.parametrize("case", CASES[:1], ids=lambda c: c.id)
def test_float32_equals_the_authors_code_50_steps(case):
    ours = _all_runs("float32")[case.id]
    assert_close(ours, _run_ref(case, N_STEPS), RTOL_32, FLOOR_32)
    assert all(x.dtype == np.float32 for x in jax.tree.leaves(ours))


class EagerTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_equals_reference(self):
        case = CASES[1]  # a refresh at the third Adam step (update 4)
        tx = gradtx.contrib.soap(**case.kwargs)
        keys = ("w",)
        p = {k: jnp.asarray(PARAMS[k], jnp.float32) for k in keys}
        state, out, update = tx.init(p), [], self.variant(tx.update)
        for i in range(N_EAGER):
            u, state = update({k: jnp.asarray(GRADS[k][i], jnp.float32) for k in keys}, state, p)
            p = jax.tree.map(lambda a, b: a + b, p, u)
            out.append(u)
        ours = {k: np.stack([u[k] for u in out]) for k in keys}
        ref = {k: v for k, v in _run_ref(case, N_EAGER).items() if k in keys}
        assert_close(ours, ref, RTOL_32, FLOOR_32)


def test_first_update_is_zero_and_builds_the_eigenbasis():
    tx = gradtx.contrib.scale_by_soap()
    g = jnp.asarray(GRADS["w"][0], jnp.float32)
    u, state = tx.update(g, tx.init(g))
    assert float(jnp.abs(u).max()) == 0.0 and int(state.count) == 1
    ql, qr = state.q
    np.testing.assert_allclose(np.asarray(ql.T @ ql), np.eye(3), atol=1e-5)
    np.testing.assert_allclose(np.asarray(qr.T @ qr), np.eye(4), atol=1e-5)
    assert float(jnp.abs(state.exp_avg).max()) == 0.0


def test_state_layout():
    tx = gradtx.contrib.soap(max_precond_dim=4)
    state = tx.init({k: jnp.zeros(s) for k, s in SHAPES.items()})[0]
    assert [f.shape for f in state.gg["t"]] == [(3, 3), (4, 4)]  # the axis of 5 is skipped
    assert state.gg["b"] == () and state.q["s"] == ()  # vectors and scalars: plain Adam
    assert state.exp_avg["t"].shape == (3, 4, 5)


@pytest.mark.parametrize(
    "kwargs,name",
    [({"b1": 1.0}, "b1"), ({"b2": -0.1}, "b2"), ({"shampoo_beta": 1.5}, "shampoo_beta"),
     ({"eps": -1.0}, "eps"), ({"precondition_frequency": 0}, "precondition_frequency"),
     ({"max_precond_dim": 0}, "max_precond_dim"), ({"learning_rate": -1.0}, "learning_rate"),
     ({"weight_decay": -0.1}, "weight_decay")],
)
def test_bad_hyperparameters_raise_naming_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        gradtx.contrib.soap(**kwargs)


def test_complex_gradients_and_missing_params_raise():
    tx = gradtx.contrib.scale_by_soap()
    z = jnp.ones((2, 2), jnp.complex64)
    with pytest.raises(TypeError, match="complex"):
        tx.update(z, tx.init(z))
    tx = gradtx.contrib.soap()
    w = jnp.ones((2, 2))
    with pytest.raises(ValueError, match="params"):
        tx.update(w, tx.init(w))


def test_defaults_are_the_authors():
    import inspect

    sig = inspect.signature(gradtx.contrib.soap).parameters
    assert {k: p.default for k, p in sig.items()} == {
        "learning_rate": 3e-3, "b1": 0.95, "b2": 0.95, "shampoo_beta": -1.0, "eps": 1e-8,
        "weight_decay": 0.01, "precondition_frequency": 10, "max_precond_dim": 10000,
        "merge_dims": False, "precondition_1d": False, "normalize_grads": False,
        "correct_bias": True,
    }
    ref = SOAP()
    assert (ref.lr, ref.betas, ref.eps, ref.wd, ref.freq, ref.max_dim) == (
        3e-3, (0.95, 0.95), 1e-8, 0.01, 10, 10000)


def test_the_flax_routing_example_in_the_docs_runs():
    # docs/contrib_matrix.md: Muon / SOAP on the hidden matrices, AdamW on the rest
    doc = (pathlib.Path(__file__).parents[1] / "docs" / "contrib_matrix.md").read_text()
    code = doc.split("## Routing the rest to AdamW", 1)[1].split("```python", 1)[1]
    ns: dict[str, Any] = {}
    exec(compile(code.split("```", 1)[0], "docs/contrib_matrix.md", "exec"), ns)
    labels = ns["labels"]
    assert labels["Conv_0"]["kernel"] == labels["Dense_0"]["kernel"] == "soap"
    assert {labels["Embed_0"]["embedding"], labels["Dense_1"]["kernel"],
            labels["Dense_0"]["bias"], labels["LayerNorm_0"]["scale"]} == {"adamw"}
    muon_groups = ns["muon_state"].inner_states
    assert isinstance(muon_groups["muon"].inner_state[0].mu["Conv_0"]["kernel"], jax.Array)
    assert muon_groups["muon"].inner_state[0].mu["Embed_0"]["embedding"] == ()  # MaskedNode
    assert ns["muon_losses"][-1] < 0.7 * ns["muon_losses"][0]
    assert ns["soap_losses"][-1] < 0.8 * ns["soap_losses"][0]
