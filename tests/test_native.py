"""gradtx.native: the single-pass C++ Adam kernel (FFI) and its pure-JAX fallback.

The native-path tests compile the kernel once per session into a temporary cache dir;
they are skipped only when no C++ compiler exists. The fallback path is always tested.
"""

import functools
import shutil

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference import transforms_ref as R
from reference.harness import run_reference

import gradtx
from gradtx import native

INT32_MAX = 2**31 - 1
HAS_CXX = native._compiler() is not None


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """Builds the kernel once into this session's temp dir (a cold cache, as on CI)."""
    if not HAS_CXX:
        pytest.skip("no C++ compiler ($CXX, g++, c++, clang++): native kernel not built")
    mp = pytest.MonkeyPatch()
    mp.setenv("GRADTX_CACHE_DIR", str(tmp_path_factory.mktemp("native-cache")))
    mp.delenv("GRADTX_DISABLE_NATIVE", raising=False)
    native._load.cache_clear()
    assert native.available(), "the kernel should build with a C++ compiler present"
    yield
    mp.undo()


def _adam_numpy(p, g_seq, lr_seq, b1, b2, eps, eps_root, count0=0, wd_seq=None):
    """Adam from the paper, in float64; the step counter saturates at 2**31 - 1. With
    ``wd_seq``, AdamW (Loshchilov & Hutter): ``p -= lr * (adam step + wd * p)``."""
    p = np.asarray(p, np.float64)
    m, v, t = np.zeros_like(p), np.zeros_like(p), count0
    wd_seq = [0.0] * len(lr_seq) if wd_seq is None else wd_seq
    for g, lr, wd in zip(g_seq, lr_seq, wd_seq, strict=True):
        g = np.asarray(g, np.float64)
        t = min(t + 1, INT32_MAX)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        p = p - lr * (m_hat / (np.sqrt(v_hat + eps_root) + eps) + wd * p)
    return p, m, v


def _tree(key, n=1000):
    k1, k2 = jax.random.split(key)
    return {"w": jax.random.normal(k1, (n,)), "b": jax.random.normal(k2, (3, 5))}


def _close(got, want):
    """rtol 1e-6, plus an atol of 1e-6 x the leaf's largest magnitude: where a moment
    update cancels to near zero, any change of rounding (XLA itself fuses multiply-adds
    differently inside ``scan`` than in a plain jit) gives large relative differences."""
    def one(a, b):
        b = np.asarray(b)
        atol = 1e-6 * float(np.max(np.abs(b))) if b.size else 0.0
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-6, atol=atol)
    jax.tree.map(one, got, want)


def _run(step, opt, params, grads_seq, count0=0):
    params = jax.tree.map(jnp.copy, params)  # the step may donate (consume) its inputs
    state = opt.init(params)
    if count0:
        state = (state[0]._replace(count=jnp.int32(count0)), state[1])
    for g in grads_seq:
        params, state = step(params, g, state)
    return params, state


def _grads(n_steps=4):
    return [jax.tree.map(lambda x, i=i: 0.3 * jnp.sin(x * (i + 1)), _tree(jax.random.PRNGKey(1)))
            for i in range(n_steps)]


def test_fallback_without_native_matches_pure_jax(monkeypatch):
    """GRADTX_DISABLE_NATIVE=1: no FFI call in the step, same numbers as gradtx.adam."""
    monkeypatch.setenv("GRADTX_DISABLE_NATIVE", "1")
    opt = native.adam(1e-2)
    params = _tree(jax.random.PRNGKey(0))
    jaxpr = str(jax.make_jaxpr(native.make_step(opt, jit=False))(
        params, params, opt.init(params)))
    assert "ffi_call" not in jaxpr
    grads = _grads()
    got = _run(native.make_step(opt, donate=False), opt, params, grads)
    want = _run(gradtx.make_step(gradtx.adam(1e-2), donate=False), gradtx.adam(1e-2),
                params, grads)
    chex.assert_trees_all_close(got, want, rtol=0, atol=0)


def test_fallback_for_unsupported_tx_and_dtypes(kernel):
    """Other transformations and non-float32 leaves take the pure-JAX step."""
    params = _tree(jax.random.PRNGKey(0))
    sgd = gradtx.sgd(0.1, momentum=0.9)
    assert "ffi_call" not in str(jax.make_jaxpr(native.make_step(sgd, jit=False))(
        params, params, sgd.init(params)))
    opt = native.adam(1e-2)
    mixed = {"w": params["w"], "b": params["b"].astype(jnp.bfloat16)}
    assert "ffi_call" not in str(jax.make_jaxpr(native.make_step(opt, jit=False))(
        mixed, mixed, opt.init(mixed)))
    got = native.make_step(opt, donate=False)(mixed, mixed, opt.init(mixed))
    want = gradtx.make_step(gradtx.adam(1e-2), donate=False)(mixed, mixed, opt.init(mixed))
    chex.assert_trees_all_close(got, want, rtol=0, atol=0)


def test_make_step_rejects_non_transformation():
    with pytest.raises(TypeError, match="tx must be a gradient transformation"):
        native.make_step(object())


def test_adam_is_plain_gradtx_adam():
    """native.adam is gradtx.adam: same state, same validation errors."""
    params = _tree(jax.random.PRNGKey(0))
    chex.assert_trees_all_equal_structs(native.adam(1e-3).init(params),
                                        gradtx.adam(1e-3).init(params))
    with pytest.raises(ValueError, match="b2"):
        native.adam(1e-3, b2=1.5)


@pytest.mark.parametrize("schedule", [False, True])
def test_native_matches_pure_jax_and_numpy(kernel, schedule):
    """Tree of two leaves, 4 steps, float or schedule lr: the step is an FFI call and equals
    the pure-JAX gradtx.adam (rtol 1e-6) and the float64 NumPy reference."""
    b1, b2, eps, eps_root = 0.8, 0.99, 1e-6, 1e-10
    lr = gradtx.schedules.exponential_decay(0.05, 1, 0.5) if schedule else 0.05
    lr_seq = [0.05 * 0.5**t for t in range(4)] if schedule else [0.05] * 4
    opt, ref = native.adam(lr, b1, b2, eps, eps_root), gradtx.adam(lr, b1, b2, eps, eps_root)
    params, grads = _tree(jax.random.PRNGKey(0)), _grads()
    step = native.make_step(opt)
    assert "gradtx_adam_f32" in step.lower(params, grads[0], opt.init(params)).as_text()
    got = _run(step, opt, params, grads)
    want = _run(gradtx.make_step(ref), ref, params, grads)
    _close(got, want)
    for k in params:
        p, m, v = _adam_numpy(params[k], [g[k] for g in grads], lr_seq, b1, b2, eps, eps_root)
        np.testing.assert_allclose(got[0][k], p, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(got[1][0].mu[k], m, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(got[1][0].nu[k], v, rtol=1e-5, atol=1e-9)
    assert int(got[1][0].count) == 4


ADAMW_CASES = {  # name: (lr, weight_decay, mask, lr per step, wd per step for "w", for "b")
    "float": (0.05, 0.1, None, [0.05] * 4, [0.1] * 4, [0.1] * 4),
    "schedules": (gradtx.schedules.exponential_decay(0.05, 1, 0.5),
                  gradtx.schedules.linear(0.2, 0.0, 4), None,
                  [0.05 * 0.5**t for t in range(4)], [0.2, 0.15, 0.1, 0.05],
                  [0.2, 0.15, 0.1, 0.05]),
    "mask tree": (0.05, 0.1, {"w": True, "b": False}, [0.05] * 4, [0.1] * 4, [0.0] * 4),
    "mask fn": (0.05, 0.1, lambda p: {"w": False, "b": True}, [0.05] * 4, [0.0] * 4,
                [0.1] * 4),
}


def test_native_adamw_matches_pure_jax_and_numpy(kernel):
    """AdamW (float and schedule lr/weight decay, masks of booleans): the step is an FFI
    call and equals the pure-JAX gradtx.adamw (rtol 1e-6) and a float64 NumPy AdamW."""
    b1, b2, eps, eps_root = 0.8, 0.99, 1e-6, 1e-10
    params, grads = _tree(jax.random.PRNGKey(0)), _grads()
    for name, (lr, wd, mask, lr_seq, wd_w, wd_b) in ADAMW_CASES.items():
        opt = native.adamw(lr, b1, b2, eps, eps_root, wd, mask)
        ref = gradtx.adamw(lr, b1, b2, eps, eps_root, weight_decay=wd, mask=mask)
        chex.assert_trees_all_equal_structs(opt.init(params), ref.init(params))
        step = native.make_step(opt)
        assert "gradtx_adam_f32" in step.lower(params, grads[0], opt.init(params)).as_text()
        got = _run(step, opt, params, grads)
        _close(got, _run(gradtx.make_step(ref), ref, params, grads))
        for k, wd_seq in (("w", wd_w), ("b", wd_b)):
            p, m, v = _adam_numpy(params[k], [g[k] for g in grads], lr_seq, b1, b2, eps,
                                  eps_root, wd_seq=wd_seq)
            np.testing.assert_allclose(got[0][k], p, rtol=1e-5, atol=1e-7, err_msg=name)
            np.testing.assert_allclose(got[1][0].nu[k], v, rtol=1e-5, atol=1e-9, err_msg=name)
        assert int(got[1][1].count) == 4, name  # the weight-decay schedule's counter


def test_native_adamw_array_mask_falls_back(kernel):
    """A mask with array leaves takes the pure-JAX step, with gradtx.adamw's numbers."""
    params, grads = _tree(jax.random.PRNGKey(0)), _grads(2)
    mask = {"w": jnp.asarray(True), "b": jnp.asarray(False)}
    opt = native.adamw(0.05, weight_decay=0.1, mask=mask)
    ref = gradtx.adamw(0.05, weight_decay=0.1, mask=mask)
    assert "ffi_call" not in str(jax.make_jaxpr(native.make_step(opt, jit=False))(
        params, params, opt.init(params)))
    got = _run(native.make_step(opt), opt, params, grads)
    want = _run(gradtx.make_step(ref), ref, params, grads)
    chex.assert_trees_all_close(got, want, rtol=0, atol=0)


@pytest.mark.parametrize("build, name", [
    (lambda: native.adamw(1e-3, weight_decay=-1.0), "weight_decay"),
    (lambda: native.nadam(1e-3, b1=1.0), "b1"),
    (lambda: native.yogi(1e-2, b2=1.5), "b2"),
    (lambda: native.amsgrad(1e-3, eps=-1.0), "eps"),
    (lambda: native.sgd(0.1, momentum=-0.5), "momentum"),
    (lambda: native.sgd(0.1, nesterov=True), "nesterov"),
    (lambda: native.adagrad(-0.1), "learning_rate"),
    (lambda: native.rmsprop(1e-3, decay=1.5), "decay"),
])
def test_native_validates_like_gradtx(build, name):
    """Bad hyperparameters raise gradtx's ValueError naming the parameter."""
    with pytest.raises(ValueError, match=name):
        build()


def test_native_step_without_jit(kernel):
    """make_step(jit=False) runs the kernel eagerly, with the jitted step's numbers."""
    opt = native.rmsprop(1e-2)
    params, grads = _tree(jax.random.PRNGKey(0)), _grads(2)
    got = _run(native.make_step(opt, donate=False, jit=False), opt, params, grads)
    _close(got, _run(native.make_step(opt), opt, params, grads))


def _halving():  # the same learning-rate schedule for gradtx and for the references
    return gradtx.schedules.exponential_decay(0.05, 1, 0.5), lambda k: 0.05 * 0.5**k


NATIVE_CASES = {  # name: (native factory, gradtx factory, NumPy reference or None, args,
    # kwargs, FFI target); "halving" as lr stands for the schedules of _halving()
    "sgd momentum": (native.sgd, gradtx.sgd, R.SGD, (0.05, 0.9), {}, "one_state"),
    "sgd nesterov": (native.sgd, gradtx.sgd, R.SGD, ("halving", 0.8), {"nesterov": True},
                     "one_state"),
    "adagrad": (native.adagrad, gradtx.adagrad, R.Adagrad, (0.1,), {}, "one_state"),
    "adagrad s0=0": (native.adagrad, gradtx.adagrad, R.Adagrad, ("halving", 0.0, 1e-6), {},
                     "one_state"),
    "rmsprop": (native.rmsprop, gradtx.rmsprop, R.RMSProp, (1e-2,), {}, "one_state"),
    "rmsprop torch-like": (native.rmsprop, gradtx.rmsprop, R.RMSProp, ("halving", 0.99),
                           {"eps_in_sqrt": False, "bias_correction": True}, "one_state"),
    "rmsprop initial_scale": (native.rmsprop, gradtx.rmsprop, R.RMSProp,
                              (1e-2, 0.9, 1e-6, 1.0), {}, "one_state"),
    "yogi": (native.yogi, gradtx.yogi, R.Yogi, (1e-2,), {}, "adam"),
    "yogi schedule": (native.yogi, gradtx.yogi, R.Yogi, ("halving", 0.8, 0.99, 1e-4), {},
                      "adam"),
    "amsgrad": (native.amsgrad, gradtx.amsgrad, R.AMSGrad, (1e-2,), {}, "amsgrad"),
    "amsgrad schedule": (native.amsgrad, gradtx.amsgrad, R.AMSGrad,
                         ("halving", 0.8, 0.99, 1e-6, 1e-10), {}, "amsgrad"),
    "amsgrad no corrections": (native.amsgrad, gradtx.amsgrad, None, (1e-2,),
                               {"bias_correction_mu": False, "bias_correction_nu": False},
                               "amsgrad"),
    "nadam": (native.nadam, gradtx.nadam, functools.partial(R.Adam, nesterov=True), (1e-2,),
              {}, "adam"),
    "nadam schedule": (native.nadam, gradtx.nadam, functools.partial(R.Adam, nesterov=True),
                       ("halving", 0.8, 0.99, 1e-6, 1e-10), {}, "adam"),
    "adamw nesterov": (native.adamw, gradtx.adamw,
                       functools.partial(R.Adam, nesterov=True, weight_decay=0.1), (1e-2,),
                       {"weight_decay": 0.1, "nesterov": True}, "adam"),
}


def test_native_optimizers_match_pure_jax_and_numpy(kernel):
    """SGD momentum (plain, Nesterov), Adagrad, RMSProp (eps in/out of the root, bias
    correction, initial scale), Yogi, AMSGrad (float and schedule lr): the step is one FFI
    call per leaf, the state structure is gradtx's, and 4 steps equal the pure-JAX optimiser
    (rtol 1e-6) and the float64 NumPy reference of tests/reference; NAdam and AdamW with
    Nesterov too."""
    params, grads = _tree(jax.random.PRNGKey(0)), _grads()
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *grads)
    for name, (nat, pure, ref, args, kwargs, target) in NATIVE_CASES.items():
        jax_lr, ref_lr = _halving() if args[0] == "halving" else (args[0], args[0])
        opt, want_tx = nat(jax_lr, *args[1:], **kwargs), pure(jax_lr, *args[1:], **kwargs)
        chex.assert_trees_all_equal_structs(opt.init(params), want_tx.init(params))
        step = native.make_step(opt)
        hlo = step.lower(params, grads[0], opt.init(params)).as_text()
        assert hlo.count(f"gradtx_{target}_f32") == 2, name  # one call per leaf
        got = _run(step, opt, params, grads)
        _close(got, _run(gradtx.make_step(want_tx), want_tx, params, grads))
        if ref is None:
            continue
        updates = run_reference(ref(ref_lr, *args[1:], **kwargs), params, stacked)
        for k in params:
            want_p = np.asarray(params[k], np.float64) + updates[k].sum(axis=0)
            np.testing.assert_allclose(got[0][k], want_p, rtol=1e-5, atol=1e-6, err_msg=name)


def test_native_one_state_fallbacks(kernel):
    """Plain SGD (already one pass in XLA) and non-float32 leaves take the pure-JAX step."""
    params = _tree(jax.random.PRNGKey(0))
    plain = native.sgd(0.1)
    assert "ffi_call" not in str(jax.make_jaxpr(native.make_step(plain, jit=False))(
        params, params, plain.init(params)))
    opt = native.rmsprop(0.1)
    half = jax.tree.map(lambda x: x.astype(jnp.bfloat16), params)
    assert "ffi_call" not in str(jax.make_jaxpr(native.make_step(opt, jit=False))(
        half, half, opt.init(half)))
    got = native.make_step(opt, donate=False)(half, half, opt.init(half))
    want = gradtx.make_step(gradtx.rmsprop(0.1), donate=False)(half, half, opt.init(half))
    chex.assert_trees_all_close(got, want, rtol=0, atol=0)


def test_native_saturating_counter_and_packed(kernel):
    """Counter near 2**31 - 1 saturates as in gradtx; one PackedTree buffer; in-place."""
    opt, ref = native.adam(1e-2), gradtx.adam(1e-2)
    pk = gradtx.pack(_tree(jax.random.PRNGKey(0), n=200_000))  # > one 2**16 work item
    grads = [gradtx.pack(jax.tree.map(lambda x, i=i: jnp.cos(x) * (i + 1), pk.unpack()))
             for i in range(3)]
    step = native.make_step(opt)
    compiled = step.lower(pk, grads[0], opt.init(pk)).compile()
    assert compiled.memory_analysis().temp_size_in_bytes < 1024  # in place: scalars only
    got = _run(step, opt, pk, grads, count0=INT32_MAX - 2)
    want = _run(gradtx.make_step(ref), ref, pk, grads, count0=INT32_MAX - 2)
    assert int(got[1][0].count) == INT32_MAX
    _close(got, want)


def test_native_inside_user_jit_and_scan(kernel):
    """update_and_apply composes: inside jit and lax.scan over steps."""
    opt, ref = native.adam(1e-2), gradtx.adam(1e-2)
    params = _tree(jax.random.PRNGKey(0))
    gs = jax.tree.map(lambda *x: jnp.stack(x), *_grads())

    def train(upd, tx):
        def body(carry, g):
            return upd(tx, *carry[:1], g, carry[1]), None
        return jax.jit(lambda p, s: jax.lax.scan(body, (p, s), gs)[0])

    got = train(native.update_and_apply, opt)(params, opt.init(params))
    want = train(gradtx.update_and_apply, ref)(params, ref.init(params))
    _close(got, want)


def test_build_is_cached(kernel):
    """A second build finds the library in the cache instead of compiling."""
    lib = native._build()
    mtime = lib.stat().st_mtime_ns
    assert native._build() == lib and lib.stat().st_mtime_ns == mtime


@pytest.mark.skipif(not HAS_CXX, reason="no C++ compiler")
def test_compile_failure_falls_back(monkeypatch, tmp_path):
    """A compiler that fails makes available() False, and the step falls back."""
    fake = tmp_path / "bad-cxx"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CXX", str(fake))
    monkeypatch.setenv("GRADTX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GRADTX_DISABLE_NATIVE", raising=False)
    native._load.cache_clear()
    try:
        assert not native.available()
    finally:
        native._load.cache_clear()
    assert shutil.which(str(fake))
