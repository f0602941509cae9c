"""gradtx.native: the single-pass C++ kernel (FFI) as the backend of gradtx.make_step and
gradtx.update_and_apply, and the pure-JAX fallback.

The native-path tests compile the kernel once per session into a temporary cache dir,
with warnings as errors (``GRADTX_NATIVE_WERROR=1``, set in conftest.py); they are
skipped only when no C++ compiler exists. The fallback path is always tested.
"""

import functools
import shutil

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference import optimizers14_ref as O
from reference import transforms_ref as R
from reference.harness import run_reference

import gradtx
from gradtx import native
from gradtx.native import _build
from gradtx.training.step import pure_update_and_apply

INT32_MAX = 2**31 - 1
HAS_CXX = _build.compiler() is not None


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """Builds the kernel once into this session's temp dir (a cold cache, as on CI)."""
    if not HAS_CXX:
        pytest.skip("no C++ compiler ($CXX, g++, c++, clang++): native kernel not built")
    mp = pytest.MonkeyPatch()
    mp.setenv("GRADTX_CACHE_DIR", str(tmp_path_factory.mktemp("native-cache")))
    mp.delenv("GRADTX_DISABLE_NATIVE", raising=False)
    _build.load.cache_clear()
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


def _normal(rng, shape):
    """Test data made in NumPy: every eager jax.random/jnp op on a new shape is an XLA
    compile of its own (50 leaves of different sizes cost 35 s of CPU that way)."""
    return jax.device_put(rng.standard_normal(shape, np.float32))


def _tree(seed, n=1000):
    rng = np.random.default_rng(seed)
    return {"w": _normal(rng, (n,)), "b": _normal(rng, (3, 5))}


def _np_map(fn, tree):
    """``fn`` on each leaf in NumPy (float32), back as jax arrays: no XLA compile
    (device_put; jnp.asarray of a NumPy array compiles a ``stage`` program per shape)."""
    return jax.tree.map(lambda x: jax.device_put(fn(np.asarray(x))), tree)


def _close(got, want):
    """rtol 1e-6, plus an atol of 1e-6 x the leaf's largest magnitude: where a moment
    update cancels to near zero, any change of rounding (XLA itself fuses multiply-adds
    differently inside ``scan`` than in a plain jit) gives large relative differences."""
    def one(a, b):
        b = np.asarray(b)
        atol = 1e-6 * float(np.max(np.abs(b))) if b.size else 0.0
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-6, atol=atol)
    jax.tree.map(one, got, want)


def _run(step, opt, params, grads_seq, count0=0, init=None):
    # the step may donate (consume) its inputs: a copy through the host (jnp.copy would
    # compile a program per leaf shape)
    params = jax.tree.map(lambda x: jax.device_put(np.array(x)), params)
    state = (init or opt.init)(params)
    if count0:
        state = (state[0]._replace(count=jnp.int32(count0)), state[1])
    for g in grads_seq:
        params, state = step(params, g, state)
    return params, state


def _grads(n_steps=4):
    return [_np_map(lambda x, i=i: 0.3 * np.sin(x * (i + 1)), _tree(1)) for i in range(n_steps)]


def _ffi_calls(tx, params, grads=None, state=None, step=None) -> int:
    """How many native kernel calls one compiled step of ``tx`` makes. ``step``: the
    jitted step to lower (default: a new ``make_step(tx, donate=False)``); pass the one the
    test then runs, so that its trace and lowering serve the run too."""
    grads = params if grads is None else grads
    state = tx.init(params) if state is None else state
    step = gradtx.make_step(tx, donate=False) if step is None else step
    return step.lower(params, grads, state).as_text().count(f"@{_build.TARGET}(")


def _pure(tx):
    """The pure-JAX step of ``tx`` (the reference for the kernel)."""
    return jax.jit(lambda p, g, s: pure_update_and_apply(tx, p, g, s))


def test_fallback_without_native_matches_pure_jax(monkeypatch):
    """GRADTX_DISABLE_NATIVE=1: no FFI call in the step, the pure-JAX numbers exactly."""
    monkeypatch.setenv("GRADTX_DISABLE_NATIVE", "1")
    opt = gradtx.adam(1e-2)
    params = _tree(0)
    jaxpr = str(jax.make_jaxpr(gradtx.make_step(opt, jit=False))(
        params, params, opt.init(params)))
    assert "ffi_call" not in jaxpr
    grads = _grads()
    got = _run(gradtx.make_step(opt, donate=False), opt, params, grads)
    want = _run(_pure(opt), opt, params, grads)
    chex.assert_trees_all_close(got, want, rtol=0, atol=0)


FALLBACKS = {  # name: (tx, params transform, reason fragment)
    "plain sgd": (gradtx.sgd(0.1), None, "covered optimiser"),
    "bf16 leaf": (gradtx.adam(1e-2), lambda p: {**p, "b": p["b"].astype(jnp.bfloat16)},
                  "dtype bfloat16"),
    "mu_dtype": (gradtx.adam(1e-2, mu_dtype=jnp.bfloat16), None, "covered optimiser"),
    "centred rmsprop": (gradtx.rmsprop(1e-2, centered=True), None, "covered optimiser"),
    "adabound": (gradtx.adabound(1e-2), None, "covered optimiser"),
    "array mask": (gradtx.adamw(0.05, weight_decay=0.1,
                                mask={"w": jnp.asarray(True), "b": jnp.asarray(False)}),
                   None, "mask has array leaves"),
    "injected": (gradtx.inject_hyperparams(gradtx.adam)(learning_rate=1e-2), None,
                 "covered optimiser"),
    "smooth lion": (gradtx.chain(gradtx.scale_by_lion(mode="smooth"),
                                 gradtx.scale_by_learning_rate(1e-2)), None, "covered optimiser"),
}


@pytest.mark.parametrize("name", list(FALLBACKS))
def test_fallbacks_run_the_pure_jax_step(kernel, name):
    """What the kernel does not cover runs the pure-JAX step, with its exact numbers, and
    ``gradtx.native.explain`` says why."""
    tx, change, reason = FALLBACKS[name]
    params = _tree(0)
    params = change(params) if change else params
    assert reason in native.explain(tx, params), native.explain(tx, params)
    step = gradtx.make_step(tx, donate=False)
    assert _ffi_calls(tx, params, step=step) == 0
    grads = [jax.tree.map(lambda g, p: g.astype(p.dtype), g, params) for g in _grads(2)]
    got = _run(step, tx, params, grads)
    want = _run(_pure(tx), tx, params, grads)
    chex.assert_trees_all_close(got, want, rtol=0, atol=0)


def test_make_step_rejects_non_transformation():
    with pytest.raises(TypeError, match="tx must be a gradient transformation"):
        gradtx.make_step(object())


def _halving():  # the same learning-rate schedule for gradtx and for the references
    return gradtx.schedules.exponential_decay(0.05, 1, 0.5), lambda k: 0.05 * 0.5**k


NATIVE_CASES = {  # name: (gradtx factory, NumPy reference or None, args, kwargs);
    # "halving" as lr stands for the schedules of _halving()
    "adam": (gradtx.adam, R.Adam, (0.05, 0.8, 0.99, 1e-6, 1e-10), {}),
    "adam schedule": (gradtx.adam, R.Adam, ("halving", 0.8, 0.99, 1e-6, 1e-10), {}),
    "sgd momentum": (gradtx.sgd, R.SGD, (0.05, 0.9), {}),
    "sgd nesterov": (gradtx.sgd, R.SGD, ("halving", 0.8), {"nesterov": True}),
    "adagrad": (gradtx.adagrad, R.Adagrad, (0.1,), {}),
    "adagrad s0=0": (gradtx.adagrad, R.Adagrad, ("halving", 0.0, 1e-6), {}),
    "rmsprop": (gradtx.rmsprop, R.RMSProp, (1e-2,), {}),
    "rmsprop torch-like": (gradtx.rmsprop, R.RMSProp, ("halving", 0.99),
                           {"eps_in_sqrt": False, "bias_correction": True}),
    "rmsprop initial_scale": (gradtx.rmsprop, R.RMSProp, (1e-2, 0.9, 1e-6, 1.0), {}),
    "yogi": (gradtx.yogi, R.Yogi, (1e-2,), {}),
    "yogi schedule": (gradtx.yogi, R.Yogi, ("halving", 0.8, 0.99, 1e-4), {}),
    "amsgrad": (gradtx.amsgrad, R.AMSGrad, (1e-2,), {}),
    "amsgrad schedule": (gradtx.amsgrad, R.AMSGrad, ("halving", 0.8, 0.99, 1e-6, 1e-10), {}),
    "amsgrad no corrections": (gradtx.amsgrad, None, (1e-2,),
                               {"bias_correction_mu": False, "bias_correction_nu": False}),
    "nadam": (gradtx.nadam, functools.partial(R.Adam, nesterov=True), (1e-2,), {}),
    "nadam schedule": (gradtx.nadam, functools.partial(R.Adam, nesterov=True),
                       ("halving", 0.8, 0.99, 1e-6, 1e-10), {}),
    "adamw nesterov": (gradtx.adamw, functools.partial(R.Adam, nesterov=True, weight_decay=0.1),
                       (1e-2,), {"weight_decay": 0.1, "nesterov": True}),
}


def _check_native_cases(cases, n_steps):
    """For each case: one kernel call for the tree, and ``n_steps`` steps equal to the
    pure-JAX optimiser (params and state, rtol 1e-6) and to the float64 NumPy reference
    (params, rtol 1e-5)."""
    params, grads = _tree(0), _grads(n_steps)
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *grads)
    for name, (make, ref, args, kwargs) in cases.items():
        jax_lr, ref_lr = _halving() if args[0] == "halving" else (args[0], args[0])
        opt = make(jax_lr, *args[1:], **kwargs)
        assert native.explain(opt, params).startswith("native:"), name
        step = gradtx.make_step(opt)
        assert _ffi_calls(opt, params, step=step) == 1, name  # one call for both leaves
        got = _run(step, opt, params, grads)
        _close(got, _run(_pure(opt), opt, params, grads))
        if ref is None:
            continue
        updates = run_reference(ref(ref_lr, *args[1:], **kwargs), params, stacked)
        for k in params:
            want_p = np.asarray(params[k], np.float64) + updates[k].sum(axis=0)
            np.testing.assert_allclose(got[0][k], want_p, rtol=1e-5, atol=1e-6, err_msg=name)


def test_native_optimizers_match_pure_jax_and_numpy(kernel):
    """Every covered optimiser (float and schedule lr): gradtx.make_step runs ONE kernel
    call for the whole tree, and 4 steps equal the pure-JAX optimiser (rtol 1e-6) and the
    float64 NumPy reference of tests/reference."""
    _check_native_cases(NATIVE_CASES, 4)


_DECAY = {"weight_decay": 0.1}
_MASK = {"w": True, "b": False}
NATIVE14_CASES = {  # issue 14's element-wise optimisers, as NATIVE_CASES (8 steps, so
    # RAdam with b2=0.99 switches to the rectified step at t=6)
    "lion": (gradtx.lion, O.Lion, (0.01, 0.8, 0.95), _DECAY),
    "lion schedule, no decay": (gradtx.lion, O.Lion, ("halving",), {"weight_decay": 0.0}),
    "lion masked decay": (gradtx.lion, O.Lion, (0.01,), {**_DECAY, "mask": _MASK}),
    "adamax": (gradtx.adamax, O.AdaMax, (0.05, 0.8, 0.99, 1e-6), {}),
    "adamax schedule": (gradtx.adamax, O.AdaMax, ("halving",), {}),
    "adamaxw": (gradtx.adamaxw, O.AdaMax, (0.05,), _DECAY),
    "adamaxw schedule, mask": (gradtx.adamaxw, O.AdaMax, ("halving",), {**_DECAY, "mask": _MASK}),
    "adabelief": (gradtx.adabelief, O.AdaBelief, (0.05, 0.8, 0.99, 1e-8, 1e-12), {}),
    "adabelief schedule": (gradtx.adabelief, O.AdaBelief, ("halving",), {}),
    # b2=0.99: with b2=0.999 the float32 bias correction 1 - b2**t (gradtx's and optax's)
    # is off by 1.3e-5 relative at t=1, and the reference's rtol 1e-5 sees it
    "adabelief nesterov": (gradtx.adabelief, O.AdaBelief, (0.05, 0.9, 0.99), {"nesterov": True}),
    "radam": (gradtx.radam, O.RAdam, (0.05, 0.8, 0.99), {}),
    "radam schedule": (gradtx.radam, O.RAdam, ("halving", 0.9, 0.99, 1e-6, 1e-10), {}),
    "radam nesterov": (gradtx.radam, O.RAdam, (0.05, 0.9, 0.99), {"nesterov": True}),
    "radam defaults": (gradtx.radam, O.RAdam, (0.05,), {}),  # rectified from t=6 (rho 5.994)
    "nadamw": (gradtx.nadamw, functools.partial(R.Adam, nesterov=True), (1e-2,), _DECAY),
    "nadamw schedule": (gradtx.nadamw, functools.partial(R.Adam, nesterov=True),
                        ("halving", 0.8, 0.99), _DECAY),
}


def test_native_issue14_optimizers_match_pure_jax_and_numpy(kernel):
    """Lion, AdaMax(W), AdaBelief, RAdam, NAdamW (float and schedule lr, with and without
    weight decay): one kernel call for the tree, equal to the pure-JAX optimiser (rtol
    1e-6) and to the float64 NumPy references of tests/reference/optimizers14_ref.py."""
    _check_native_cases(NATIVE14_CASES, 8)


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
    """AdamW (float and schedule lr/weight decay, masks of booleans): one kernel call,
    equal to the pure-JAX gradtx.adamw (rtol 1e-6) and a float64 NumPy AdamW."""
    b1, b2, eps, eps_root = 0.8, 0.99, 1e-6, 1e-10
    params, grads = _tree(0), _grads()
    for name, (lr, wd, mask, lr_seq, wd_w, wd_b) in ADAMW_CASES.items():
        opt = gradtx.adamw(lr, b1, b2, eps, eps_root, weight_decay=wd, mask=mask)
        step = gradtx.make_step(opt)
        assert _ffi_calls(opt, params, step=step) == 1, name
        got = _run(step, opt, params, grads)
        _close(got, _run(_pure(opt), opt, params, grads))
        for k, wd_seq in (("w", wd_w), ("b", wd_b)):
            p, m, v = _adam_numpy(params[k], [g[k] for g in grads], lr_seq, b1, b2, eps,
                                  eps_root, wd_seq=wd_seq)
            np.testing.assert_allclose(got[0][k], p, rtol=1e-5, atol=1e-7, err_msg=name)
            np.testing.assert_allclose(got[1][0].nu[k], v, rtol=1e-5, atol=1e-9, err_msg=name)
        if callable(wd):  # the weight-decay schedule's counter (optax's state tree)
            assert int(got[1][1].count) == 4, name


CHAINS = {  # chains whose tail the kernel runs, after links in pure JAX
    "clip + adam": lambda: gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adam(1e-2)),
    "clip + scale + adamw": lambda: gradtx.chain(
        gradtx.clip_by_global_norm(0.5), gradtx.scale(0.5), gradtx.adamw(1e-2)),
    "building blocks by hand": lambda: gradtx.chain(
        gradtx.scale_by_adam(b1=0.8), gradtx.scale_by_learning_rate(1e-2)),
    "optax clip + sgd momentum": lambda: gradtx.chain(
        __import__("optax").clip(0.1), gradtx.sgd(0.1, momentum=0.9)),
    "zero_nans + rmsprop": lambda: gradtx.chain(gradtx.zero_nans(), gradtx.rmsprop(1e-2)),
    "clip + lion": lambda: gradtx.chain(gradtx.clip_by_global_norm(0.5), gradtx.lion(1e-2)),
    "radam, torch's decoupled decay": lambda: gradtx.chain(
        gradtx.scale_by_radam(b2=0.9, threshold=3.0), gradtx.add_decayed_weights(0.1),
        gradtx.scale_by_learning_rate(1e-2)),
    "scale + adabelief with decay": lambda: gradtx.chain(
        gradtx.scale(0.5), gradtx.scale_by_belief(), gradtx.add_decayed_weights(0.1),
        gradtx.scale_by_learning_rate(1e-2)),
}


@pytest.mark.parametrize("name", list(CHAINS))
def test_chain_tail_runs_the_kernel(kernel, name):
    """A chain of gradient preprocessing followed by a covered optimiser runs the kernel
    for its tail (one call), with the pure-JAX chain's numbers and state."""
    tx = CHAINS[name]()
    params, grads = _tree(0), _grads()
    assert native.explain(tx, params).startswith("native:"), native.explain(tx, params)
    step = gradtx.make_step(tx)
    assert _ffi_calls(tx, params, step=step) == 1
    got = _run(step, tx, params, grads)
    _close(got, _run(_pure(tx), tx, params, grads))


def test_clipping_is_folded_into_the_kernel(kernel):
    """chain(clip_by_global_norm, adam): the clipped gradient never reaches memory (the
    kernel reads g / norm * max_norm), so the donated step's temporaries are scalars."""
    tx = gradtx.chain(gradtx.clip_by_global_norm(0.5), gradtx.adam(1e-2))
    params = _tree(0, n=50_000)
    assert native.explain(tx, params).startswith(
        "native: kernel runs clip_by_global_norm + scale_by_adam")
    compiled = gradtx.make_step(tx).lower(params, params, tx.init(params)).compile()
    assert compiled.memory_analysis().temp_size_in_bytes < 4096


def _zeros_state(opt, params):
    """``opt.init(params)`` for an optimiser whose initial state is all zeros (Adam's:
    count 0, zero moments), made in NumPy: no compiled zeros per leaf shape."""
    return jax.tree.map(lambda s: jax.device_put(np.zeros(s.shape, s.dtype)),
                        jax.eval_shape(opt.init, params))


def test_many_leaves_one_call(kernel):
    """A tree of 50 leaves of different sizes (one larger than a 2**16 work item) is one
    kernel call, equal to the pure-JAX step. Adam is element-wise, so the pure-JAX step
    runs on the leaves concatenated into one (one leaf compiles in a fraction of the time
    of 51), and its params and moments are split back and compared leaf by leaf."""
    rng = np.random.default_rng(3)
    params = {f"l{i}": _normal(rng, (7 * i + 1,)) for i in range(50)}
    params["big"] = _normal(rng, (70_000,))
    grads = [_np_map(lambda x, i=i: np.cos(x) * (i + 1), params) for i in range(3)]
    opt = gradtx.adam(1e-2)
    init = functools.partial(_zeros_state, opt)
    step = gradtx.make_step(opt)
    assert _ffi_calls(opt, params, state=init(params), step=step) == 1
    got = _run(step, opt, params, grads, init=init)

    leaves, treedef = jax.tree.flatten(params)
    ends = np.cumsum([x.size for x in leaves])[:-1]

    def flat(tree):
        return {"all": jax.device_put(np.concatenate([np.asarray(x) for x in
                                                      jax.tree.leaves(tree)]))}

    def split(tree):  # each {"all": vector} (params, mu, nu) back into the 51-leaf tree
        def one(x):
            if not isinstance(x, dict):
                return x
            parts = np.split(np.asarray(x["all"]), ends)
            return treedef.unflatten(
                [p.reshape(leaf.shape) for p, leaf in zip(parts, leaves, strict=True)])
        return jax.tree.map(one, tree, is_leaf=lambda x: isinstance(x, dict))

    chex.assert_trees_all_equal(init(flat(params)), opt.init(flat(params)))
    want = _run(_pure(opt), opt, flat(params), [flat(g) for g in grads], init=init)
    _close(got, split(want))


def test_native_step_without_jit(kernel):
    """make_step(jit=False) runs the kernel eagerly, with the jitted step's numbers."""
    opt = gradtx.rmsprop(1e-2)
    params, grads = _tree(0), _grads(2)
    got = _run(gradtx.make_step(opt, donate=False, jit=False), opt, params, grads)
    _close(got, _run(gradtx.make_step(opt), opt, params, grads))


def test_native_saturating_counter_and_packed(kernel):
    """Counter near 2**31 - 1 saturates as in gradtx; one PackedTree buffer; in-place."""
    opt = gradtx.adam(1e-2)
    pk = gradtx.pack(_tree(0, n=200_000))  # > one 2**16 work item
    grads = [gradtx.pack(_np_map(lambda x, i=i: np.cos(x) * (i + 1), pk.unpack()))
             for i in range(3)]
    step = gradtx.make_step(opt)
    compiled = step.lower(pk, grads[0], opt.init(pk)).compile()
    assert compiled.memory_analysis().temp_size_in_bytes < 1024  # in place: scalars only
    got = _run(step, opt, pk, grads, count0=INT32_MAX - 2)
    want = _run(_pure(opt), opt, pk, grads, count0=INT32_MAX - 2)
    assert int(got[1][0].count) == INT32_MAX
    _close(got, want)


def test_native_inside_user_jit_and_scan(kernel):
    """update_and_apply composes: inside jit and lax.scan over steps."""
    opt = gradtx.adam(1e-2)
    params = _tree(0)
    gs = jax.tree.map(lambda *x: jnp.stack(x), *_grads())

    def train(upd):
        def body(carry, g):
            return upd(opt, carry[0], g, carry[1]), None
        return jax.jit(lambda p, s: jax.lax.scan(body, (p, s), gs)[0])

    got = train(gradtx.update_and_apply)(params, opt.init(params))
    want = train(pure_update_and_apply)(params, opt.init(params))
    _close(got, want)


def test_build_is_cached_and_strict(kernel):
    """The tests' build uses -Werror; a second build finds the library in the cache."""
    assert "-Werror" in _build.flags() and "-Wextra" in _build.flags()
    lib = _build.build()
    mtime = lib.stat().st_mtime_ns
    assert _build.build() == lib and lib.stat().st_mtime_ns == mtime


@pytest.mark.skipif(not HAS_CXX, reason="no C++ compiler")
def test_compile_failure_falls_back(monkeypatch, tmp_path):
    """A compiler that fails makes available() False, and the step falls back."""
    fake = tmp_path / "bad-cxx"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CXX", str(fake))
    monkeypatch.setenv("GRADTX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GRADTX_DISABLE_NATIVE", raising=False)
    _build.load.cache_clear()
    try:
        assert not native.available()
        assert "unavailable" in native.explain(gradtx.adam(1e-2), {"w": jnp.zeros(3)})
    finally:
        _build.load.cache_clear()
    assert shutil.which(str(fake))
