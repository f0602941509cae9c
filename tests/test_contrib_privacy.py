"""Differentially private aggregation and DP-SGD in gradtx.contrib (issue 15).

Over 50 steps of per-example gradients (a batch of 4 on the harness's tree): gradtx
equals optax.contrib for the same key or seed (the same noise), and equals the float64
reference (``tests/reference/contrib_curvature_ref.py``, Abadi et al.'s Algorithm 1)
fed the very noise gradtx draws (re-drawn here from the keys, as the docstring says
they are split); jitted (one compiled function for the table) and eagerly.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest
from reference import contrib_curvature_ref as C
from reference.contrib_harness import signature_matches, skeleton
from reference.harness import SHAPES

import gradtx
import gradtx.contrib

# Slow (many compiles, eager 50-step runs): deselect with -m "not slow"; CI runs it.
pytestmark = pytest.mark.slow

N, B = 50, 4
KEYS = list(SHAPES)
_rng = np.random.default_rng(9)
# per-example gradients: leaves (N, B, *shape); some examples large, some small
_scale = np.exp(2 * _rng.normal(size=(N, B)))
GRADS = {
    k: (_rng.normal(size=(N, B, *s)) * _scale.reshape(N, B, *([1] * len(s)))).astype(np.float32)
    for k, s in SHAPES.items()
}
PARAMS = {k: np.zeros(s, np.float32) for k, s in SHAPES.items()}

# (name, make(contrib, base), seed, C, sigma, momentum, nesterov)
CONFIGS = [
    ("plain", 0.1, 1.0, 1.1, None, False, 0),
    ("momentum", 0.05, 0.5, 0.7, 0.9, False, 3),
    ("nesterov", 0.05, 2.0, 0.3, 0.5, True, 5),
]


def _make(m, cfg):
    _, lr, c, sigma, mom, nest, seed = cfg
    return m.dpsgd(lr, c, sigma, seed, momentum=mom, nesterov=nest)


def _run(tx):
    params = jax.tree.map(jnp.asarray, PARAMS)
    grads = jax.tree.map(jnp.asarray, GRADS)

    def body(carry, g):
        state, p = carry
        u, state = tx.update(g, state, p)
        return (state, gradtx.apply_updates(p, u)), u

    return jax.lax.scan(body, (tx.init(params), params), grads)[1]


@pytest.fixture(scope="module")
def jitted():
    @jax.jit
    def all_configs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {cfg[0]: (_run(_make(gradtx.contrib, cfg)), _run(_make(optax.contrib, cfg)))
                    for cfg in CONFIGS}

    return all_configs()


def _noise(seed):
    """The standard-normal draws of each step: the state key splits into a new key and
    one key per leaf (in the tree's flattening order), ``jax.random.normal`` each."""
    key = jax.random.key(seed)
    order = sorted(KEYS)  # a dict's leaves flatten in sorted key order
    out = []
    for _ in range(N):
        key, *ks = jax.random.split(key, len(order) + 1)
        out.append({k: np.asarray(jax.random.normal(kk, SHAPES[k], jnp.float32), np.float64)
                    for k, kk in zip(order, ks, strict=True)})
    return out


def _reference(cfg):
    _, lr, c, sigma, mom, nest, seed = cfg
    ref = C.DPSGD(lr, c, sigma, momentum=mom, nesterov=nest)
    ref.init(PARAMS)
    noise = _noise(seed)
    ups = [ref.update({k: GRADS[k][i].astype(np.float64) for k in KEYS}, noise[i])
           for i in range(N)]
    return {k: np.stack([u[k] for u in ups]) for k in KEYS}


def _close(actual, expected, rtol):
    for k in expected:
        np.testing.assert_allclose(np.asarray(actual[k], np.float64), expected[k], rtol=rtol,
                                   atol=rtol * 1e-2 * float(np.max(np.abs(expected[k]))))


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_dpsgd_equals_optax_for_the_same_seed_and_the_reference(jitted, cfg):
    ours, theirs = jitted[cfg[0]]
    _close(ours, theirs, 1e-5)
    _close(ours, _reference(cfg), 1e-4)


def test_dpsgd_without_jit():
    cfg = CONFIGS[1]
    tx = _make(gradtx.contrib, cfg)
    params = jax.tree.map(jnp.asarray, PARAMS)
    state, ups = tx.init(params), []
    for i in range(N):
        u, state = tx.update({k: jnp.asarray(GRADS[k][i]) for k in KEYS}, state, params)
        params = gradtx.apply_updates(params, u)
        ups.append(u)
    _close({k: np.stack([np.asarray(u[k]) for u in ups]) for k in KEYS}, _reference(cfg), 1e-4)


def test_aggregate_keys_and_seeds():
    g = {"w": jnp.asarray(GRADS["matrix"][0])}
    outs = []
    for key in (7, jax.random.key(7), jax.random.PRNGKey(7)):
        tx = gradtx.contrib.differentially_private_aggregate(1.0, 1.0, key)
        outs.append(np.asarray(tx.update(g, tx.init(None))[0]["w"]))
    with pytest.warns(DeprecationWarning):
        tx = gradtx.contrib.differentially_private_aggregate(1.0, 1.0, seed=7)
    outs.append(np.asarray(tx.update(g, tx.init(None))[0]["w"]))
    theirs = optax.contrib.differentially_private_aggregate(1.0, 1.0, 7)
    outs.append(np.asarray(theirs.update(g, theirs.init(None))[0]["w"]))
    for o in outs[1:]:
        np.testing.assert_allclose(o, outs[0], rtol=1e-6)
    with pytest.raises(ValueError, match="seed or key"):
        gradtx.contrib.differentially_private_aggregate(1.0, 1.0, 1, seed=1)
    with pytest.raises(ValueError, match="l2_norm_clip"):
        gradtx.contrib.differentially_private_aggregate(-1.0, 1.0, 0)
    with pytest.raises(ValueError, match="noise_multiplier"):
        gradtx.contrib.dpsgd(0.1, 1.0, -1.0, 0)


def test_signatures_and_state_trees_equal_optax():
    signature_matches("dpsgd")
    signature_matches("differentially_private_aggregate")
    p = jax.tree.map(jnp.asarray, PARAMS)
    for cfg in CONFIGS:
        assert skeleton(_make(gradtx.contrib, cfg).init(p)) == skeleton(
            _make(optax.contrib, cfg).init(p))


def test_float16_per_example_norms_do_not_overflow():
    """A float16 example of norm 300 * sqrt(7) (its sum of squares 630000 > 65504): the
    norm is formed in float32, so the example is clipped to C, not dropped (a float16
    norm was inf, the multiplier 0); the noise is float32's draw, rounded once."""
    g = {"w": jnp.full((2, 3), 300.0), "m": jnp.full((2, 2, 2), 300.0)}  # 2 examples
    g16 = jax.tree.map(lambda x: x.astype(jnp.float16), g)
    clipped, n = gradtx.per_example_global_norm_clip(g16, 1.0)
    assert int(n) == 2 and all(x.dtype == jnp.float16 for x in jax.tree.leaves(clipped))
    np.testing.assert_allclose(np.asarray(clipped["w"], np.float32), 2 / 7**0.5, rtol=1e-3)
    tx = gradtx.contrib.differentially_private_aggregate(1.0, 0.5, key=3)
    u16, _ = tx.update(g16, tx.init(None))
    u32, _ = tx.update(g, tx.init(None))
    for a, b in zip(jax.tree.leaves(u16), jax.tree.leaves(u32), strict=True):
        assert a.dtype == jnp.float16
        np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b), rtol=2e-3)
