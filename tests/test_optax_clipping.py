"""optax's clipping and small transforms in gradtx (clip, clip_by_block_rms,
adaptive_grad_clip, per_example_*_clip, centralize, keep_params_nonnegative,
scale_gradient, inject_stateful_hyperparams) and optax's keyword names
(scale_by_schedule(step_size_fn=), global_norm(updates=), add_noise(key=)): equal to optax
with and without jit, states equal to optax's, float64 references, bad input, doctests."""

from __future__ import annotations

import doctest
import importlib
import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from reference import clipping_ref as ref

import gradtx

RTOL, ATOL = 1e-5, 1e-6
_k = jax.random.split(jax.random.key(3), 4)
P = {
    "vec": jax.random.normal(_k[0], (3,)),
    "kernel": jax.random.normal(_k[1], (2, 3)),
    "conv": jax.random.normal(_k[2], (2, 2, 1, 3)),
}
G = jax.tree.map(lambda x, k: 2.0 * x + 0.5, P, P)

# id, (module -> transformation), reference(g, p) per leaf
CASES = [
    ("clip", lambda m: m.clip(0.7), lambda g, p: ref.clip(g, 0.7)),
    (
        "clip_by_block_rms",
        lambda m: m.clip_by_block_rms(0.5),
        lambda g, p: ref.clip_by_block_rms(g, 0.5),
    ),
    (
        "clip_by_block_rms_loose",
        lambda m: m.clip_by_block_rms(100.0),
        lambda g, p: ref.clip_by_block_rms(g, 100.0),
    ),
    (
        "adaptive_grad_clip",
        lambda m: m.adaptive_grad_clip(0.1),
        lambda g, p: ref.adaptive_grad_clip(g, p, 0.1),
    ),
    (
        "adaptive_grad_clip_eps",
        lambda m: m.adaptive_grad_clip(0.5, eps=2.0),
        lambda g, p: ref.adaptive_grad_clip(g, p, 0.5, 2.0),
    ),
    ("centralize", lambda m: m.centralize(), lambda g, p: ref.centralize(g)),
    (
        "keep_params_nonnegative",
        lambda m: m.keep_params_nonnegative(),
        lambda g, p: ref.keep_params_nonnegative(-g, p),
    ),
]


@pytest.mark.parametrize("make,reference", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_equal_to_optax_and_reference(make, reference, jit):
    tx, otx = make(gradtx), make(optax)
    # keep_params_nonnegative (the last row) gets -G so that some p + u < 0
    grads = jax.tree.map(lambda g: -g, G) if reference is CASES[-1][2] else G
    update = jax.jit(tx.update) if jit else tx.update
    s = tx.init(P)
    assert type(s).__name__ == type(otx.init(P)).__name__ and tuple(s) == tuple(otx.init(P))
    u, s2 = update(grads, s, P)
    ou, _ = otx.update(grads, otx.init(P), P)
    for name in P:
        np.testing.assert_allclose(u[name], ou[name], rtol=RTOL, atol=ATOL)
        want = reference(np.asarray(G[name]), np.asarray(P[name]))
        np.testing.assert_allclose(u[name], want, rtol=RTOL, atol=ATOL)
        assert u[name].dtype == grads[name].dtype
    assert s2 == s


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_per_example_clipping_equal_optax(jit):
    batch = {
        "a": jax.random.normal(_k[3], (4, 3)) * jnp.array([[3.0], [0.1], [1.0], [0.0]]),
        "b": jnp.ones((4, 2)),
    }
    f = jax.jit(gradtx.per_example_global_norm_clip) if jit else gradtx.per_example_global_norm_clip
    ours = f(batch, 1.5)
    theirs = optax.per_example_global_norm_clip(batch, 1.5)
    sums, n = ref.per_example_global_norm_clip(
        [np.asarray(batch["a"]), np.asarray(batch["b"])], 1.5
    )
    np.testing.assert_allclose(ours[0]["a"], theirs[0]["a"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours[0]["a"], sums[0], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours[0]["b"], sums[1], rtol=RTOL, atol=ATOL)
    assert int(ours[1]) == int(theirs[1]) == n
    for uniform in (True, False):
        g = (
            jax.jit(gradtx.per_example_layer_norm_clip, static_argnums=2)
            if jit
            else gradtx.per_example_layer_norm_clip
        )
        a, b = g(batch, 1.5, uniform), optax.per_example_layer_norm_clip(batch, 1.5, uniform)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
            np.testing.assert_allclose(x, y, rtol=RTOL, atol=ATOL)


def test_scale_gradient_equal_optax():
    for s in (0.5, 0.0, 1.0, -2.0):
        f = lambda x, m, s=s: jnp.sum(m.scale_gradient({"x": x}, s)["x"] ** 2)  # noqa: E731
        x = jnp.arange(3.0)
        np.testing.assert_allclose(jax.grad(f)(x, gradtx), jax.grad(f)(x, optax), rtol=RTOL)
        np.testing.assert_allclose(
            jax.jit(jax.grad(f), static_argnums=1)(x, gradtx), 2 * s * x, rtol=RTOL
        )


def test_inject_stateful_hyperparams_warns_and_equals_optax():
    with pytest.warns(DeprecationWarning):
        opt = gradtx.inject_stateful_hyperparams(gradtx.sgd)(learning_rate=0.1, momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        oopt = optax.inject_stateful_hyperparams(optax.sgd)(learning_rate=0.1, momentum=0.9)
    u, s = opt.update(G, opt.init(P), P)
    ou, os_ = oopt.update(G, oopt.init(P), P)
    for x, y in zip(jax.tree.leaves((u, s)), jax.tree.leaves((ou, os_)), strict=True):
        np.testing.assert_allclose(x, y, rtol=RTOL, atol=ATOL)


def test_optax_keyword_names():
    sched = gradtx.schedules.constant(0.5)
    a = gradtx.scale_by_schedule(step_size_fn=sched)
    u, _ = a.update(G, a.init(P))
    np.testing.assert_allclose(u["vec"], 0.5 * G["vec"], rtol=RTOL)
    np.testing.assert_allclose(
        gradtx.global_norm(updates=G), optax.global_norm(updates=G), rtol=RTOL
    )
    key = jax.random.key(7)
    n1, n2, n3 = (
        gradtx.add_noise(0.1, 0.55, key=key),
        gradtx.add_noise(0.1, 0.55, key),
        gradtx.add_noise(0.1, 0.55, seed=key),
    )
    on = optax.add_noise(0.1, 0.55, key=key)
    outs = [t.update(G, t.init(P))[0] for t in (n1, n2, n3, on)]
    for o in outs[1:]:
        for x, y in zip(jax.tree.leaves(outs[0]), jax.tree.leaves(o), strict=True):
            np.testing.assert_allclose(x, y, rtol=RTOL, atol=ATOL)
    for name in (
        "scale_by_schedule",
        "global_norm",
        "clip",
        "clip_by_block_rms",
        "adaptive_grad_clip",
        "per_example_global_norm_clip",
        "per_example_layer_norm_clip",
        "centralize",
        "keep_params_nonnegative",
        "scale_gradient",
        "inject_stateful_hyperparams",
    ):
        ours = list(inspect.signature(getattr(gradtx, name)).parameters)
        theirs = list(inspect.signature(getattr(optax, name)).parameters)
        assert ours == theirs, name
    assert list(inspect.signature(gradtx.add_noise).parameters) == ["eta", "gamma", "key", "seed"]


BAD = [
    (lambda: gradtx.clip(-1.0), ValueError, "max_delta"),
    (lambda: gradtx.clip("a"), TypeError, "max_delta"),
    (lambda: gradtx.clip_by_block_rms(0.0), ValueError, "threshold"),
    (lambda: gradtx.adaptive_grad_clip(-0.1), ValueError, "clipping"),
    (lambda: gradtx.adaptive_grad_clip(0.1, eps=-1.0), ValueError, "eps"),
    (lambda: gradtx.adaptive_grad_clip(0.1).update(G, gradtx.EmptyState()), ValueError, "params"),
    (lambda: gradtx.keep_params_nonnegative().update(G, gradtx.EmptyState()), ValueError, "params"),
    (
        lambda: gradtx.per_example_global_norm_clip(
            {"a": jnp.ones((2, 1)), "b": jnp.ones((3, 1))}, 1.0
        ),
        ValueError,
        "batch",
    ),
    (
        lambda: gradtx.per_example_global_norm_clip({"a": jnp.ones((2, 1))}, -1.0),
        ValueError,
        "l2_norm_clip",
    ),
    (
        lambda: gradtx.per_example_layer_norm_clip({"a": jnp.ones((2, 1))}, 1.0, uniform=1),
        TypeError,
        "uniform",
    ),
    (lambda: gradtx.scale_gradient(G, "x"), TypeError, "scale"),
    (lambda: gradtx.scale_by_schedule(step_size_fn=0.1), TypeError, "step_size_fn"),
    (lambda: gradtx.add_noise(0.1, 0.5, key=1, seed=2), ValueError, "key"),
]


@pytest.mark.parametrize("make,exc,name", BAD, ids=[f"{b[2]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_names_the_parameter(make, exc, name):
    with pytest.raises(exc, match=name):
        make()


def test_docstring_examples_run():
    for m in ("gradtx.transforms._clipping", "gradtx.transforms._small"):
        result = doctest.testmod(importlib.import_module(m))
        assert result.failed == 0 and result.attempted > 5, m
