"""gradtx.tree / gradtx.tree_utils against optax 0.2.8's optax.tree_utils (same names,
signatures, numbers; with and without jit), float64 references for the math, states found
and replaced by name (tree_get/tree_set on gradtx and optax states), bad input, doctests.
"""

from __future__ import annotations

import doctest
import importlib
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from reference import tree_ref as ref

import gradtx
from gradtx import tree as T

RTOL, ATOL = 1e-5, 1e-6
_k = jax.random.split(jax.random.key(0), 4)
X = {
    "w": jax.random.normal(_k[0], (3, 2)),
    "b": jnp.array([-1.5, 0.25]),
    "z": jax.random.normal(_k[1], (2,)) + 1j * jax.random.normal(_k[2], (2,)),
}
Y = jax.tree.map(lambda x: 0.5 * x + 0.1, X)
REAL = {"w": X["w"], "b": X["b"]}
REAL_Y = {"w": Y["w"], "b": Y["b"]}
POS = jax.tree.map(jnp.abs, REAL_Y)
COUNT = jnp.asarray(3, jnp.int32)

# id, name, args (trees only as positional args; jit treats every arg as traced)
CASES = [
    ("add", "tree_add", (X, Y, X)),
    ("sub", "tree_sub", (X, Y)),
    ("mul", "tree_mul", (X, Y)),
    ("div", "tree_div", (X, Y)),
    ("scale", "tree_scale", (0.3, X)),
    ("add_scale", "tree_add_scale", (X, 0.3, Y)),
    ("vdot", "tree_vdot", (X, Y)),
    ("sum", "tree_sum", (X,)),
    ("max", "tree_max", (REAL,)),
    ("min", "tree_min", (REAL,)),
    ("conj", "tree_conj", (X,)),
    ("real", "tree_real", (X,)),
    ("norm", "tree_norm", (X,)),
    ("clip", "tree_clip", (REAL, -0.5, 0.5)),
    ("where", "tree_where", (True, X, Y)),
    ("zeros_like", "tree_zeros_like", (X,)),
    ("ones_like", "tree_ones_like", (X,)),
    ("full_like", "tree_full_like", (REAL, 0.7)),
    ("update_moment_1", "tree_update_moment", (REAL, REAL_Y, 0.9, 1)),
    ("update_moment_2", "tree_update_moment", (REAL, REAL_Y, 0.999, 2)),
    ("update_infinity_moment", "tree_update_infinity_moment", (REAL, POS, 0.9, 1e-8)),
    (
        "update_moment_per_elem_norm",
        "tree_update_moment_per_elem_norm",
        (X, POS | {"z": jnp.ones(2)}, 0.9, 2),
    ),
    ("bias_correction", "tree_bias_correction", (REAL, 0.9, COUNT)),
    ("batch_shape", "tree_batch_shape", (X,)),
    ("real_norm", "tree_norm", (REAL,)),
]
# keyword variants (static arguments)
KW_CASES = [
    ("norm_1", "tree_norm", (X,), {"ord": 1}),
    ("norm_inf", "tree_norm", (X,), {"ord": "inf"}),
    ("norm_inf_float", "tree_norm", (REAL,), {"ord": jnp.inf, "squared": True}),
    ("norm_sq", "tree_norm", (X,), {"squared": True}),
    ("sum_assoc", "tree_sum", (X,), {"associative_reduction": True}),
    ("zeros_like_dtype", "tree_zeros_like", (X,), {"dtype": jnp.float16}),
    ("batch_shape_2", "tree_batch_shape", (X,), {"shape": (2, 1)}),
    ("cast", "tree_cast", (REAL,), {"dtype": jnp.bfloat16}),
    ("allclose", "tree_allclose", (X, X), {"rtol": 0.0}),
]


def _check(ours, theirs):
    lo, lt = jax.tree.leaves(ours), jax.tree.leaves(theirs)
    assert jax.tree.structure(ours) == jax.tree.structure(theirs)
    for a, b in zip(lo, lt, strict=True):
        assert jnp.result_type(a) == jnp.result_type(b)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    "name,args,kwargs",
    [(n, a, {}) for _, n, a in CASES] + [(n, a, k) for _, n, a, k in KW_CASES],
    ids=[c[0] for c in CASES] + [c[0] for c in KW_CASES],
)
def test_equal_to_optax_with_and_without_jit(name, args, kwargs):
    ours, theirs = getattr(gradtx.tree_utils, name), getattr(optax.tree_utils, name)
    expected = theirs(*args, **kwargs)
    _check(ours(*args, **kwargs), expected)
    _check(jax.jit(lambda *a: ours(*a, **kwargs))(*args), expected)


def test_numpy_reference():
    xs = [np.asarray(x) for x in jax.tree.leaves(X)]
    ys = [np.asarray(y) for y in jax.tree.leaves(Y)]
    for ord_ in (None, 1, "inf"):
        for sq in (False, True):
            want = ref.norm(xs, 2 if ord_ is None else ord_, sq) if ord_ != "inf" else None
            if ord_ == "inf":
                want = ref.norm(xs, "inf", sq)
            np.testing.assert_allclose(T.norm(X, ord=ord_, squared=sq), want, rtol=RTOL)
    np.testing.assert_allclose(T.vdot(X, Y), ref.vdot(xs, ys), rtol=RTOL)
    rs = [np.asarray(x) for x in jax.tree.leaves(REAL)]
    ms = [np.asarray(x) for x in jax.tree.leaves(POS)]
    for got, want in [
        (T.update_moment(REAL, POS, 0.9, 2), ref.update_moment(rs, ms, 0.9, 2)),
        (
            T.update_infinity_moment(REAL, POS, 0.9, 1e-3),
            ref.update_infinity_moment(rs, ms, 0.9, 1e-3),
        ),
        (T.bias_correction(REAL, 0.999, COUNT), ref.bias_correction(rs, 0.999, 3)),
    ]:
        for a, b in zip(jax.tree.leaves(got), want, strict=True):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    zs = [np.asarray(X["z"])]
    got = T.update_moment_per_elem_norm({"z": X["z"]}, {"z": jnp.ones(2)}, 0.9, 2)["z"]
    np.testing.assert_allclose(
        got, ref.update_moment_per_elem_norm(zs, [np.ones(2)], 0.9, 2)[0], rtol=RTOL
    )
    for x in (np.zeros(3), np.asarray(X["w"]), np.asarray(X["z"])):
        np.testing.assert_allclose(
            gradtx.safe_norm(jnp.asarray(x), 1e-3), ref.safe_norm(x, 1e-3), rtol=RTOL
        )
        np.testing.assert_allclose(
            gradtx.safe_root_mean_squares(jnp.asarray(x), 1e-3),
            ref.safe_root_mean_squares(x, 1e-3),
            rtol=RTOL,
        )


def test_numerics_equal_optax():
    x = X["w"]
    for args in [(x, 1e-3), (jnp.zeros(3), 1e-3), (x, 0.1, 1, 0, True)]:
        _check(gradtx.safe_norm(*args), optax.safe_norm(*args))
        _check(
            jax.grad(lambda v, a=args: gradtx.safe_norm(v, *a[1:]).sum())(args[0]),
            jax.grad(lambda v, a=args: optax.safe_norm(v, *a[1:]).sum())(args[0]),
        )
    for v in (x, jnp.zeros(2), X["z"]):
        _check(gradtx.safe_root_mean_squares(v, 1e-3), optax.safe_root_mean_squares(v, 1e-3))
    for c in (jnp.asarray(5, jnp.int32), jnp.asarray(2**31 - 1, jnp.int32), jnp.asarray(2.0)):
        _check(gradtx.safe_int32_increment(c), optax.safe_int32_increment(c))


def test_random_and_casting_equal_optax():
    key = jax.random.key(1)
    _check(
        T.split_key_like(key, REAL) and T.unwrap_random_key_data(T.split_key_like(key, REAL)),
        optax.tree_utils.tree_unwrap_random_key_data(
            optax.tree_utils.tree_split_key_like(key, REAL)
        ),
    )
    _check(T.random_like(key, REAL), optax.tree_utils.tree_random_like(key, REAL))
    _check(
        T.random_like(key, REAL, jax.random.uniform, jnp.float16),
        optax.tree_utils.tree_random_like(key, REAL, jax.random.uniform, jnp.float16),
    )
    like = {"w": jnp.ones((), jnp.bfloat16), "b": 1.0}
    _check(T.cast_like(REAL, like), optax.tree_utils.tree_cast_like(REAL, like))
    mixed = [jnp.ones(1, jnp.bfloat16), jnp.ones(1, jnp.float16), jnp.ones(1)]
    assert T.dtype(mixed, "promote") == optax.tree_utils.tree_dtype(mixed, "promote")
    assert T.dtype(mixed[::2], "highest") == optax.tree_utils.tree_dtype(mixed[::2], "highest")
    assert T.dtype(mixed[1:], "lowest") == optax.tree_utils.tree_dtype(mixed[1:], "lowest")
    assert T.dtype([]) == optax.tree_utils.tree_dtype([])


def _states():
    params = {"w": jnp.ones(2)}
    for lib in (gradtx, optax):
        opt = lib.chain(
            lib.clip_by_global_norm(1.0), lib.inject_hyperparams(lib.adam)(learning_rate=0.1)
        )
        yield lib, opt, opt.init(params), params


def test_get_set_on_states_as_optax():
    for _lib, opt, state, _params in _states():
        for key in ("learning_rate", "count", "mu", "ScaleByAdamState"):
            ours = T.get_all_with_path(state, key)
            theirs = optax.tree_utils.tree_get_all_with_path(state, key)
            assert [tuple(map(str, p)) for p, _ in ours] == [tuple(map(str, p)) for p, _ in theirs]
            _check([v for _, v in ours], [v for _, v in theirs])
        with pytest.raises(KeyError, match="count"):
            T.get(state, "count")
        def inner_only(path, _):
            return (
                    "InjectStatefulHyperparamsState" not in str(path)
                    and "InjectHyperparamsState" not in str(path)
                )  # noqa: E731
        _check(
            T.get(state, "count", filtering=inner_only),
            optax.tree_utils.tree_get(state, "count", filtering=inner_only),
        )
        assert T.get(state, "nope", default=7) == 7
        new = T.set(state, learning_rate=jnp.asarray(0.5, jnp.float32))
        _check(new, optax.tree_utils.tree_set(state, learning_rate=jnp.asarray(0.5, jnp.float32)))
        assert float(T.get(new, "learning_rate")) == 0.5
        with pytest.raises(KeyError, match="nope"):
            T.set(state, nope=1.0)
        mapped = T.map_params(opt, lambda x: x + 1.0, state)
        _check(mapped, optax.tree_utils.tree_map_params(opt, lambda x: x + 1.0, state))
        # and inside jit
        _check(jax.jit(lambda s: T.set(s, learning_rate=jnp.asarray(0.5)))(state), new)


def test_names_and_signatures_match_optax():
    assert (
        set(gradtx.tree_utils.__all__) == set(optax.tree_utils.__all__)
        if hasattr(optax.tree_utils, "__all__")
        else True
    )
    public = {
        n
        for n in dir(optax.tree_utils)
        if not n.startswith("_") and n not in ("functools", "typing")
    }
    assert public <= set(dir(gradtx.tree_utils)), public - set(dir(gradtx.tree_utils))
    assert set(gradtx.tree_utils.__all__) == public
    short = {n for n in dir(optax.tree) if not n.startswith("_")}
    assert short <= set(gradtx.tree.__all__), short - set(gradtx.tree.__all__)
    for n in public - {"NamedTupleKey"}:
        ours = inspect.signature(getattr(gradtx.tree_utils, n)).parameters
        theirs = inspect.signature(getattr(optax.tree_utils, n)).parameters
        assert list(ours) == list(theirs), n
        for p in theirs:
            assert ours[p].default == theirs[p].default or n == "tree_random_like", (n, p)
            assert ours[p].kind == theirs[p].kind, (n, p)
    for n in ("safe_norm", "safe_root_mean_squares", "safe_int32_increment"):
        assert list(inspect.signature(getattr(gradtx, n)).parameters) == list(
            inspect.signature(getattr(optax, n)).parameters
        )
    assert gradtx.tree_utils.tree_get is gradtx.tree.get


BAD = [
    (lambda: T.norm(X, ord=3), ValueError, "ord"),
    (lambda: T.dtype([jnp.ones(1), jnp.ones(1, jnp.int32)]), ValueError, "mixed_dtype_handler"),
    (lambda: T.dtype(REAL, "biggest"), ValueError, "mixed_dtype_handler"),
    (
        lambda: T.dtype([jnp.ones(1, jnp.bfloat16), jnp.ones(1, jnp.float16)], "lowest"),
        ValueError,
        "mixed_dtype_handler",
    ),
    (lambda: gradtx.safe_int32_increment(jnp.asarray(True)), ValueError, "count"),
    (lambda: T.get({"a": {"x": 1}, "b": {"x": 2}}, "x"), KeyError, "x"),
]


@pytest.mark.parametrize("make,exc,name", BAD, ids=[b[2] for b in BAD])
def test_bad_input_names_the_parameter(make, exc, name):
    with pytest.raises(exc, match=name):
        make()


def test_docstring_examples_run():
    total = 0
    for m in ("_math", "_casting", "_random_trees", "_state", "_numerics"):
        result = doctest.testmod(importlib.import_module(f"gradtx.tree.{m}"))
        assert result.failed == 0, m
        total += result.attempted
    assert total > 80
