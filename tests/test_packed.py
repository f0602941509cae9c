"""gradtx.pack / PackedTree / gradtx.packed: same numbers as the plain transforms."""

import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx

STEPS = 3


def _tree():
    return {
        "w": jnp.arange(6, dtype=jnp.float32).reshape(3, 2) / 7 - 0.3,
        "b": jnp.linspace(-1, 1, 4).astype(jnp.bfloat16),
        "s": jnp.float32(0.5),
        "nested": [jnp.full((2, 1, 2), 0.25, jnp.float32), None],
        "h": jnp.array([1.5, -2.0], jnp.float16),
    }


def _grads(k):
    """Deterministic gradient for step k, like the tree."""
    return jax.tree.map(
        lambda p: (jnp.cos(p.astype(jnp.float32) * (k + 1.0)) + 0.1 * k).astype(p.dtype), _tree()
    )


def _run(tx, params, pack_params=False):
    """STEPS steps of tx in one compiled scan; returns the final params."""
    if pack_params:
        params = gradtx.pack(params)

    @jax.jit
    def go(params):
        def body(carry, k):
            p, s = carry
            g = _grads(k)
            if pack_params:  # the gradient in the params' layout, as jax.grad returns it
                g = gradtx.PackedTree(p.layout.pack(g), p.layout)
            u, s = tx.update(g, s, p)
            return (gradtx.apply_updates(p, u), s), None

        steps = jnp.arange(STEPS, dtype=jnp.float32)
        (p, _), _ = jax.lax.scan(body, (params, tx.init(params)), steps)
        return p

    out = go(params)
    return out.unpack() if pack_params else out


OPTIMIZERS = {
    "adam": lambda: gradtx.adam(1e-2),
    "sgd": lambda: gradtx.sgd(0.1, momentum=0.9),
    "adabound": lambda: gradtx.adabound(1e-2, final_lr=0.05),
}


def test_pack_unpack_round_trip_groups_by_dtype():
    tree = _tree()
    pk = gradtx.pack(tree)
    sizes = {jnp.dtype(b.dtype).name: b.shape for b in pk.buffers}
    assert sizes == {"float32": (4 + 1 + 6,), "bfloat16": (4,), "float16": (2,)}
    back = gradtx.unpack(pk)
    assert jax.tree.structure(back) == jax.tree.structure(tree)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(tree), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32))
    assert "3 buffers" in repr(pk)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_packed_wrapper_and_packed_params_equal_plain(name):
    tx = OPTIMIZERS[name]()
    plain = _run(tx, _tree())
    wrapped = _run(gradtx.packed(tx), _tree())
    on_packed = _run(tx, _tree(), pack_params=True)
    for got in (wrapped, on_packed):
        assert jax.tree.structure(got) == jax.tree.structure(plain)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(plain), strict=True):
            assert a.dtype == b.dtype
        chex.assert_trees_all_close(got, plain, rtol=1e-6, atol=1e-7)


def test_packed_params_match_numpy_adam():
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-8
    p = {k: v for k, v in _tree().items() if k in ("w", "s")}  # float32 leaves
    got = gradtx.pack(p)
    tx = gradtx.adam(lr)
    state = tx.init(got)
    ref = {k: np.asarray(v, np.float64) for k, v in p.items()}
    m = {k: np.zeros_like(v) for k, v in ref.items()}
    v2 = {k: np.zeros_like(v) for k, v in ref.items()}
    step = jax.jit(lambda q, g, s: gradtx.update_and_apply(tx, q, g, s))
    for t in range(1, STEPS + 1):
        g = {k: np.cos(np.asarray(ref[k]) * t) for k in ref}
        got, state = step(got, gradtx.PackedTree(got.layout.pack(
            {k: jnp.asarray(x, jnp.float32) for k, x in g.items()}), got.layout), state)
        for k in ref:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v2[k] = b2 * v2[k] + (1 - b2) * g[k] ** 2
            mh, vh = m[k] / (1 - b1**t), v2[k] / (1 - b2**t)
            ref[k] = ref[k] - lr * mh / (np.sqrt(vh) + eps)
    # the references use gradients of the float64 reference params: compare loosely
    chex.assert_trees_all_close(got.unpack(), ref, rtol=1e-4, atol=1e-5)


def test_grad_of_packed_tree_is_packed_and_optax_accepts_it():
    optax = pytest.importorskip("optax")
    pk = gradtx.pack(_tree())
    g = jax.jit(jax.grad(
        lambda q: sum(jnp.sum(x.astype(jnp.float32) ** 2) for x in jax.tree.leaves(q.unpack()))
    ))(pk)
    assert isinstance(g, gradtx.PackedTree) and g.layout == pk.layout
    ox, gx = optax.adam(1e-2), gradtx.adam(1e-2)
    uo, _ = jax.jit(ox.update)(g, ox.init(pk), pk)
    ug, _ = jax.jit(gx.update)(g, gx.init(pk), pk)
    assert isinstance(uo, gradtx.PackedTree)
    f32 = [i for i, b in enumerate(pk.buffers) if b.dtype == jnp.float32]
    # float32 buffer: equal; optax keeps low-precision moments in their own dtype
    chex.assert_trees_all_close(uo.buffers[f32[0]], ug.buffers[f32[0]], rtol=1e-6)


def test_bad_input():
    with pytest.raises(TypeError, match="PackedTree"):
        gradtx.unpack({"a": jnp.ones(2)})
    with pytest.raises(TypeError, match="gradient transformation"):
        gradtx.packed(3)
    tx = gradtx.packed(gradtx.sgd(0.1))
    state = tx.init({"a": jnp.ones(2)})
    with pytest.raises(ValueError, match="does not match"):
        tx.update({"b": jnp.ones(2)}, state)
    with pytest.raises(TypeError, match="PackedState"):
        tx.update({"a": jnp.ones(2)}, (), None)
    layout = state.layout
    with pytest.raises(ValueError, match="shape"):
        layout.pack({"a": jnp.ones(3)})


def test_sharded_leaves_are_not_packed():
    """On 2 emulated devices a sharded leaf keeps its sharding; the numbers are equal."""
    code = textwrap.dedent(
        """
        import os
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = flags + " --xla_force_host_platform_device_count=2"
        os.environ["JAX_PLATFORMS"] = "cpu"
        import jax, jax.numpy as jnp, numpy as np
        from jax.sharding import NamedSharding, PartitionSpec as P
        import gradtx
        mesh = jax.make_mesh((2,), ("d",))
        sh = NamedSharding(mesh, P("d"))
        params = {"big": jax.device_put(jnp.arange(8.0), sh), "a": jnp.ones(3), "b": jnp.ones(2)}
        grads = jax.tree.map(lambda x: x * 0 + 0.5, params)
        pk = gradtx.pack(params)
        assert len(pk.buffers) == 2, pk
        big = [b for b in pk.buffers if b.shape == (8,)][0]
        assert big.sharding == sh, big.sharding
        tx = gradtx.adam(0.1)
        ptx = gradtx.packed(tx)
        u1, _ = tx.update(grads, tx.init(params), params)
        u2, _ = jax.jit(ptx.update)(grads, ptx.init(params), params)
        for k in params:
            np.testing.assert_allclose(np.asarray(u1[k]), np.asarray(u2[k]), rtol=1e-6)
        print("OK")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr[-2000:]
