"""optax's flatten, monitor, snapshot and normalize_by_update_norm in gradtx: updates and
state trees equal to optax's (with and without jit), a float64 reference for the
normalisation, bad input, doctests."""

from __future__ import annotations

import doctest

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from reference import clipping_ref as ref

import gradtx
from gradtx.transforms import _monitoring

RTOL, ATOL = 1e-5, 1e-6
P = {"a": jnp.array([1.0, -2.0, 0.5]), "b": jnp.array([[0.3, 0.1]])}
G = jax.tree.map(lambda x: 0.7 * x + 0.2, P)

CASES = [
    ("flatten_adam", lambda m: m.flatten(m.adam(0.1))),
    ("flatten_sgd", lambda m: m.flatten(m.sgd(0.1, momentum=0.9))),
    ("normalize_by_update_norm", lambda m: m.normalize_by_update_norm(2.0)),
    ("monitor", lambda m: m.monitor({"norm": m.tree.norm, "ema": m.trace(0.5)})),
    ("snapshot", lambda m: m.snapshot("sq", lambda u: m.tree.norm(u, squared=True))),
]


def _leaves_with_path(tree):
    return [(jax.tree_util.keystr(k), v) for k, v in jax.tree_util.tree_leaves_with_path(tree)]


@pytest.mark.parametrize("make", [c[1] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_updates_and_states_equal_optax(make, jit):
    tx, otx = make(gradtx), make(optax)
    update = jax.jit(tx.update) if jit else tx.update
    s, os_ = tx.init(P), otx.init(P)
    for _ in range(3):
        u, s = update(G, s, P)
        ou, os_ = otx.update(G, os_, P)
        for (ka, a), (kb, b) in zip(
            _leaves_with_path((u, s)), _leaves_with_path((ou, os_)), strict=True
        ):
            assert ka == kb
            assert jnp.result_type(a) == jnp.result_type(b)
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def test_normalize_reference():
    tx = gradtx.normalize_by_update_norm(2.0, eps=1e-3)
    u, _ = tx.update(G, tx.init(P))
    want = ref.normalize_by_update_norm([np.asarray(G["a"]), np.asarray(G["b"])], 2.0, 1e-3)
    np.testing.assert_allclose(u["a"], want[0], rtol=RTOL)
    np.testing.assert_allclose(u["b"], want[1], rtol=RTOL)


BAD = [
    (lambda: gradtx.normalize_by_update_norm(1.0, eps=-1.0), ValueError, "eps"),
    (lambda: gradtx.normalize_by_update_norm("a"), TypeError, "scale_factor"),
    (lambda: gradtx.flatten(0.1), TypeError, "gradient transformation"),
    (lambda: gradtx.monitor([gradtx.tree.norm]), TypeError, "measures"),
    (lambda: gradtx.monitor({"x": 3}), TypeError, "measures"),
    (lambda: gradtx.snapshot(3, gradtx.tree.norm), TypeError, "measure_name"),
    (lambda: gradtx.snapshot("n", 3), TypeError, "measure"),
]


@pytest.mark.parametrize("make,exc,name", BAD, ids=[f"{b[2]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_names_the_parameter(make, exc, name):
    with pytest.raises(exc, match=name):
        make()


def test_docstring_examples_run():
    result = doctest.testmod(_monitoring)
    assert result.failed == 0 and result.attempted > 10
