"""Sharding checks on 8 simulated CPU devices, run in their own process.

``tests/test_sharding.py`` starts ``python -m pytest tests/_sharding_checks.py`` with
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` so that the rest of the suite
keeps one device (the name does not match ``test_*.py``: the normal run does not collect
it). Run by hand: ``python tests/_sharding_checks.py``.

What is checked (issue 6):
1. ``init`` of every optimiser gives per-parameter state leaves sharded like their
   parameter on a 2x4 mesh and replicated scalar leaves: eager, ``jit`` with
   ``state_shardings`` as ``out_shardings``, and ``jit`` under an explicit-axes mesh.
2. The compiled optimiser update holds no collective at all; the FSDP step all-gathers
   the parameters only (the same all-gathers as a stateless SGD step); per-device state
   bytes are 1/8 of the total (addressable shards and ``memory_analysis``).
3. 20 steps of a flax MLP on 8 devices (FSDP and data-parallel) equal 1 device.
4. Cross-leaf reductions (global norm, clipping, the all-finite test) equal the
   unsharded numbers and run across devices (an all-reduce in the HLO).
"""

from __future__ import annotations

import os
import re
import sys

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ["JAX_PLATFORMS"] = "cpu"

import chex  # noqa: E402
import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax.sharding import AxisType, Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import gradtx  # noqa: E402
from gradtx import sharding  # noqa: E402
from gradtx.transforms._finite import apply_if_finite  # noqa: E402

if jax.device_count() != 8:
    raise RuntimeError(
        f"the sharding checks need 8 devices, found {jax.device_count()}: run them with "
        "XLA_FLAGS=--xla_force_host_platform_device_count=8 before jax is imported"
    )

DEVICES = np.array(jax.devices())
MESH = Mesh(DEVICES.reshape(2, 4), ("x", "y"))
MESH_EXPLICIT = Mesh(DEVICES.reshape(2, 4), ("x", "y"), axis_types=(AxisType.Explicit,) * 2)
COLLECTIVES = ("all-gather", "all-reduce", "reduce-scatter", "all-to-all", "collective-permute")

# Two 2-D weights of the same shape sharded differently (the state must follow each
# one, not its shape), a bias sharded on one axis and a scalar.
SPECS = {
    "dense": {"w": P("x", "y"), "b": P("y")},
    "proj": P("y", "x"),
    "s": P(),
}
SHAPES = {"dense": {"w": (4, 8), "b": (8,)}, "proj": (4, 8), "s": ()}


def _optimizers() -> dict[str, gradtx.GradientTransformation]:
    return {
        "sgd_momentum": gradtx.sgd(0.1, momentum=0.9),
        "sgd_nesterov": gradtx.sgd(0.1, momentum=0.9, nesterov=True),
        "adagrad": gradtx.adagrad(0.1),
        "rmsprop": gradtx.rmsprop(0.1, centered=True, momentum=0.9),
        "adadelta": gradtx.adadelta(),
        "adam": gradtx.adam(0.1),
        "adamw": gradtx.adamw(0.1),
        "amsgrad": gradtx.amsgrad(0.1),
        "nadam": gradtx.nadam(0.1),
        "yogi": gradtx.yogi(0.1),
        "adabound": gradtx.adabound(0.1),
        "amsbound": gradtx.amsbound(0.1),
    }


def _params(mesh: Mesh, seed: int = 0) -> dict:
    leaves, treedef = jax.tree.flatten(SHAPES, is_leaf=lambda x: isinstance(x, tuple))
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    values = treedef.unflatten([jax.random.normal(k, s) for k, s in zip(keys, leaves, strict=True)])
    return jax.device_put(values, jax.tree.map(lambda s: NamedSharding(mesh, s), SPECS))


def _check_state_placement(state, params, mesh: Mesh | None = None) -> int:
    """Asserts each state leaf whose path ends with a parameter's path (and has its
    shape) is sharded like that parameter, and every other leaf is a replicated
    scalar. Returns the number of per-parameter leaves found."""
    by_path = {jax.tree_util.keystr(k): v for k, v in jax.tree_util.tree_leaves_with_path(params)}
    found = 0
    for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        key = jax.tree_util.keystr(path)
        owner = [p for p in by_path if key.endswith(p) and by_path[p].shape == leaf.shape]
        if owner:
            param = by_path[owner[0]]
            assert leaf.sharding.is_equivalent_to(param.sharding, leaf.ndim), (
                f"{key}: {leaf.sharding} is not {param.sharding}"
            )
            found += 1
        else:
            assert leaf.ndim == 0, f"{key} (shape {leaf.shape}) matches no parameter"
            assert leaf.sharding.is_fully_replicated, f"{key}: {leaf.sharding}"
            if mesh is not None:
                assert leaf.sharding.is_equivalent_to(NamedSharding(mesh, P()), 0), key
    return found


# --- 1. init places the state beside its parameters -----------------------------------


def test_eager_init_state_is_sharded_like_params():
    params = _params(MESH)
    for name, tx in _optimizers().items():
        found = _check_state_placement(tx.init(params), params)
        assert found >= len(jax.tree.leaves(params)), name


def test_jitted_init_with_state_shardings():
    params = _params(MESH)
    txs = _optimizers()
    out = {name: sharding.state_shardings(tx, params) for name, tx in txs.items()}
    states = jax.jit(lambda p: {n: tx.init(p) for n, tx in txs.items()}, out_shardings=out)(params)
    for name, state in states.items():
        found = _check_state_placement(state, params, MESH)
        assert found >= len(jax.tree.leaves(params)), name
    # Abstract params (as on a host that must not materialise the whole model) give
    # the same shardings.
    abstract = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), params
    )
    assert sharding.state_shardings(txs["adam"], abstract) == out["adam"]
    # The sharding tree itself, independent of any array: adam's (count, mu, nu).
    count, mu, nu = out["adam"][0]
    assert count.spec == P() and mu["dense"]["w"].spec == P("x", "y")
    assert nu["proj"].spec == P("y", "x") and nu["dense"]["b"].spec == P("y")


def test_jitted_init_under_explicit_mesh_inherits_sharding():
    """With explicit mesh axes a tracer carries its sharding: a plain ``jit(tx.init)``
    keeps it (this needs ``zeros_like``/``full_like`` to be ``lax.full_like``)."""
    params = _params(MESH_EXPLICIT)
    txs = _optimizers()
    with jax.set_mesh(MESH_EXPLICIT):
        states = jax.jit(lambda p: {n: tx.init(p) for n, tx in txs.items()})(params)
    for name, state in states.items():
        found = _check_state_placement(state, params, MESH_EXPLICIT)
        assert found >= len(jax.tree.leaves(params)), name


def test_state_shardings_errors():
    tx = gradtx.adam(0.1)
    with pytest.raises(TypeError, match="has no sharding"):
        sharding.state_shardings(tx, {"w": np.ones(3)})
    with pytest.raises(ValueError, match="param_shardings must have the structure"):
        sharding.state_shardings(tx, {"w": jnp.ones(3)}, {"v": NamedSharding(MESH, P())})
    with pytest.raises(TypeError, match="param_shardings must hold"):
        sharding.state_shardings(tx, {"w": jnp.ones(3)}, {"w": "x"})


# --- 2. no gather of optimiser state; 1/N of the state per device ---------------------


def _collectives(hlo: str) -> dict[str, list[str]]:
    """The collective ops of a compiled HLO text, by kind, as their result types."""
    out: dict[str, list[str]] = {}
    for kind in COLLECTIVES:
        pattern = rf"= ([^\n]*?) {kind}(?:-start)?\("
        out[kind] = re.findall(pattern, hlo)
    return out


def test_optimizer_update_has_no_collectives():
    """A pure ``update`` + ``apply_updates`` step on sharded grads, state and params
    (every optimiser in one program) compiles to no communication at all."""
    params = _params(MESH)
    txs = _optimizers()
    shard_p = jax.tree.map(lambda a: a.sharding, params)
    shard_s = {n: sharding.state_shardings(tx, params) for n, tx in txs.items()}

    def step(grads, states, params):
        out = {}
        for n, tx in txs.items():
            u, s = tx.update(grads, states[n], params)
            out[n] = (gradtx.apply_updates(params, u), s)
        return out

    step = jax.jit(
        step,
        in_shardings=(shard_p, shard_s, shard_p),
        out_shardings={n: (shard_p, shard_s[n]) for n in txs},
        donate_argnums=(1,),
    )
    states = {n: tx.init(params) for n, tx in txs.items()}
    hlo = step.lower(params, states, params).compile().as_text()
    found = {k: v for k, v in _collectives(hlo).items() if v}
    assert not found, f"collectives in a sharded optimiser update: {found}"
    out = step(params, states, params)
    for n in txs:
        _check_state_placement(out[n][1], params, MESH)


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.tanh(nn.Dense(32)(x))
        x = nn.tanh(nn.Dense(32)(x))
        return nn.Dense(8)(x)


MODEL = MLP()
MESH_1D = Mesh(DEVICES, ("d",))
BATCH = 64
STEPS = 20


def _mlp_params():
    """Host (NumPy) params: every ``device_put`` makes a new buffer, so donating the
    placed params never deletes these."""
    return jax.device_get(MODEL.init(jax.random.key(0), jnp.zeros((1, 16))))


def _data():
    kx, kw = jax.random.split(jax.random.key(1))
    x = jax.random.normal(kx, (STEPS, BATCH, 16))
    y = jnp.sin(x @ jax.random.normal(kw, (16, 8)))
    return x, y


def _loss(params, batch):
    x, y = batch
    return jnp.mean((MODEL.apply(params, x) - y) ** 2)


def _layouts(params):
    return {
        "fsdp": sharding.fsdp_shardings(params, MESH_1D),
        "data_parallel": NamedSharding(MESH_1D, P()),
    }


def test_fsdp_step_gathers_params_only_and_holds_one_eighth_of_the_state():
    params = _mlp_params()
    layout = sharding.fsdp_shardings(params, MESH_1D)
    batch_sharding = NamedSharding(MESH_1D, P("d"))
    x, y = _data()
    batch = jax.device_put((x[0], y[0]), batch_sharding)
    n_params = len(jax.tree.leaves(params))
    compiled, per_device, states = {}, {}, {}
    for name, tx in [("adam", gradtx.adam(1e-2)), ("sgd", gradtx.sgd(1e-2))]:
        p = jax.device_put(params, layout)
        state = tx.init(p)
        step = sharding.make_train_step(_loss, tx, layout, batch_sharding)
        compiled[name] = step.lower(p, state, batch).compile()
        p, state, _ = compiled[name](p, state, batch)
        _check_state_placement(state, p, MESH_1D)
        per_device[name] = sharding.bytes_per_device(state)
        states[name] = state
    adam_hlo = _collectives(compiled["adam"].as_text())
    sgd_hlo = _collectives(compiled["sgd"].as_text())
    # The parameters are gathered (each at most once) for the forward/backward pass;
    # Adam's state adds no all-gather and no other collective to a stateless step.
    assert 0 < len(adam_hlo["all-gather"]) <= n_params
    for kind in COLLECTIVES:
        assert sorted(adam_hlo[kind]) == sorted(sgd_hlo[kind]), (kind, adam_hlo, sgd_hlo)
    assert not adam_hlo["all-to-all"]
    # 1/8 of every per-parameter leaf on each device (every dim here divides by 8),
    # plus the replicated int32 count.
    leaves = jax.tree.leaves(states["adam"])
    total = sum(a.nbytes for a in leaves)
    scalars = sum(a.nbytes for a in leaves if a.ndim == 0)
    assert set(per_device["adam"].values()) == {(total - scalars) // 8 + scalars}
    assert total - scalars == 2 * sum(a.nbytes for a in jax.tree.leaves(params))
    # The compiled program's per-device argument memory tells the same story.
    mem = {k: c.memory_analysis() for k, c in compiled.items()}
    if all(m is not None for m in mem.values()):
        extra = mem["adam"].argument_size_in_bytes - mem["sgd"].argument_size_in_bytes
        assert extra == per_device["adam"][DEVICES[0]]


def test_data_parallel_step_replicates_state_and_all_reduces_grads():
    params = _mlp_params()
    layout = NamedSharding(MESH_1D, P())
    batch_sharding = NamedSharding(MESH_1D, P("d"))
    x, y = _data()
    batch = jax.device_put((x[0], y[0]), batch_sharding)
    tx = gradtx.adam(1e-2)
    p = jax.device_put(params, layout)
    state = tx.init(p)
    step = sharding.make_train_step(_loss, tx, layout, batch_sharding)
    compiled = step.lower(p, state, batch).compile()
    hlo = _collectives(compiled.as_text())
    assert not hlo["all-gather"] and not hlo["all-to-all"]
    assert hlo["all-reduce"], "the gradients of a sharded batch must be all-reduced"
    p, state, _ = compiled(p, state, batch)
    total = sum(a.nbytes for a in jax.tree.leaves(state))
    assert set(sharding.bytes_per_device(state).values()) == {total}
    _check_state_placement(state, p, MESH_1D)


def test_state_sharding_mismatch_is_an_error():
    """With ``state_sharding`` given, jit checks the state's placement."""
    params = _mlp_params()
    layout = sharding.fsdp_shardings(params, MESH_1D)
    batch_sharding = NamedSharding(MESH_1D, P("d"))
    tx = gradtx.adam(1e-2)
    p = jax.device_put(params, layout)
    step = sharding.make_train_step(
        _loss,
        tx,
        layout,
        batch_sharding,
        donate=False,
        state_sharding=sharding.state_shardings(tx, p),
    )
    wrong = jax.device_put(tx.init(params), NamedSharding(MESH_1D, P()))
    x, y = _data()
    with pytest.raises(ValueError, match="does not match"):
        step(p, wrong, jax.device_put((x[0], y[0]), batch_sharding))


# --- 3. 8 devices give the numbers of 1 device ---------------------------------------


EQUIVALENCE = ("sgd_momentum", "adam", "adabound", "adam_scheduled")


def _four_models():
    """Four copies of the MLP, each trained by its own optimiser, in one program
    (``optax.multi_transform`` over gradtx optimisers): one compile per layout."""
    import optax

    txs = {
        "sgd_momentum": gradtx.sgd(0.1, momentum=0.9),
        "adam": gradtx.adam(1e-2),
        "adabound": gradtx.adabound(1e-2, final_lr=0.1),
        "adam_scheduled": gradtx.adam(lambda t: 0.02 * 0.9 ** t.astype(jnp.float32)),
    }
    tx = optax.multi_transform(txs, lambda p: {k: jax.tree.map(lambda _, k=k: k, p[k]) for k in p})
    params = {k: _mlp_params() for k in EQUIVALENCE}

    def loss(params, batch):
        return sum(_loss(params[k], batch) for k in EQUIVALENCE)

    return tx, params, loss


def _run(layout):
    """20 steps of the four models; ``layout=None`` runs everything on one device."""
    tx, params, loss = _four_models()
    if layout is None:
        layout = batch_sharding = NamedSharding(Mesh(DEVICES[:1], ("one",)), P())
    else:
        batch_sharding = NamedSharding(MESH_1D, P("d"))
    step = sharding.make_train_step(loss, tx, layout, batch_sharding)
    p = jax.device_put(params, layout)
    state = tx.init(p)
    x, y = _data()
    losses = []
    for t in range(STEPS):
        p, state, value = step(p, state, jax.device_put((x[t], y[t]), batch_sharding))
        losses.append(value)
    return jax.device_get(p), np.array(losses), state


def test_eight_devices_equal_one_device():
    """sgd-momentum, adam, adabound and adam with an exponentially decaying lr: the
    params after 20 steps on 8 devices (FSDP and data-parallel) equal 1 device's."""
    p1, losses1, _ = _run(None)
    assert losses1[-1] < 0.8 * losses1[0]  # it trains
    params = _four_models()[1]
    for layout_name, layout in _layouts(params).items():
        p8, losses8, state8 = _run(layout)
        for k in EQUIVALENCE:
            diff = jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), p1[k], p8[k])
            print(
                f"{k} {layout_name}: largest |param difference| 1 vs 8 devices = "
                f"{max(jax.tree.leaves(diff)):.3g}"
            )
        chex.assert_trees_all_close(p8, p1, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(losses8, losses1, rtol=1e-5)
        if layout_name == "fsdp":  # the per-group states of multi_transform are sharded
            found = _check_state_placement(state8, jax.device_put(params, layout), MESH_1D)
            assert found == 6 * (1 + 2 + 2 + 2)  # 6 params; trace; mu, nu (x3)
            per_device = sharding.bytes_per_device(state8)
            total = sum(a.nbytes for a in jax.tree.leaves(state8))
            assert max(per_device.values()) < total / 7


# --- 4. cross-leaf reductions stay right when sharded --------------------------------


def test_cross_leaf_reductions_equal_unsharded():
    params = _params(MESH)
    grads = jax.tree.map(lambda a: 3.0 * a, params)
    grads_nan = {**grads, "proj": grads["proj"].at[3, 7].set(jnp.nan)}
    shard_p = jax.tree.map(lambda a: a.sharding, params)
    txs = {
        "clip_active": gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.sgd(0.1)),
        "clip_inactive": gradtx.chain(gradtx.clip_by_global_norm(1e6), gradtx.sgd(0.1)),
        "if_finite": apply_if_finite(gradtx.adam(0.1), 3),
    }

    def run(grads, grads_nan, params):
        out = {"norm": gradtx.global_norm(grads)}
        for n, tx in txs.items():
            out[n] = tx.update(grads, tx.init(params), params)
            out[n + "_nan"] = tx.update(grads_nan, tx.init(params), params)
        return out

    sharded = jax.jit(run, in_shardings=(shard_p, shard_p, shard_p))
    hlo = sharded.lower(grads, grads_nan, params).compile().as_text()
    assert _collectives(hlo)["all-reduce"], "the global reductions must run across devices"
    got = sharded(grads, grads_nan, params)
    host = jax.device_get((grads, grads_nan, params))
    on_one = jax.device_put(host, jax.devices()[0])
    want = jax.jit(run)(*on_one)
    chex.assert_trees_all_close(got, want, rtol=1e-6)
    # Straight from the math: the norm is sqrt of the sum of squares over every leaf,
    # and the clipped SGD step is -lr * g * max_norm / norm.
    leaves = [np.asarray(v, np.float64) for v in jax.tree.leaves(host[0])]
    norm = np.sqrt(sum((v**2).sum() for v in leaves))
    np.testing.assert_allclose(got["norm"], norm, rtol=1e-6)
    for u, g in zip(jax.tree.leaves(got["clip_active"][0]), leaves, strict=True):
        np.testing.assert_allclose(u, -0.1 * g / norm, rtol=1e-5)
    for u, g in zip(jax.tree.leaves(got["clip_inactive"][0]), leaves, strict=True):
        np.testing.assert_allclose(u, -0.1 * g, rtol=1e-6)
    # One NaN on one device's shard: every device skips the step.
    assert all(bool((u == 0).all()) for u in jax.tree.leaves(got["if_finite_nan"][0]))
    assert int(got["if_finite_nan"][1].notfinite_count) == 1
    assert int(got["if_finite"][1].notfinite_count) == 0


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider", *sys.argv[1:]]))
