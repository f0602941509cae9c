"""gradtx on a device mesh (issue 6).

The multi-device checks live in ``tests/_sharding_checks.py`` (and, for Muon and SOAP
under FSDP, ``tests/_sharding_checks_matrix.py``) and run in one process of their own
with 8 simulated CPU devices (``--xla_force_host_platform_device_count=8``):
the flag must be set before jax starts, and this process (and the rest of the suite)
keeps its single device. The in-process tests below need one device only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import gradtx
from gradtx import sharding

# Slow (many compiles): deselect with -m "not slow" for the fast core; CI runs it.
pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("_sharding_checks.py")
WORKER_MATRIX = Path(__file__).with_name("_sharding_checks_matrix.py")


def test_sharding_checks_on_eight_simulated_devices():
    env = dict(os.environ)
    # conftest's compile flags (LLVM at level 0) are inherited; level 0 leaves the
    # partitioner, and so the collectives in the HLO, as they are.
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(WORKER),
            str(WORKER_MATRIX),
            "-o",
            "addopts=",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        cwd=WORKER.parent.parent,
    )
    print(proc.stdout[-6000:])
    assert proc.returncode == 0, f"sharding checks failed:\n{proc.stdout[-8000:]}\n{proc.stderr}"
    assert " passed" in proc.stdout and "largest |param difference|" in proc.stdout
    assert "muon/soap HLO and updates" in proc.stdout


def test_one_device_state_shardings_and_bytes():
    """On one device the helpers reduce to the obvious: everything on that device."""
    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
    tx = gradtx.adam(0.1)
    shardings = sharding.state_shardings(tx, params)
    device = jax.devices()[0]
    for s in jax.tree.leaves(shardings):
        assert s.device_set == {device}
    state = tx.init(params)
    assert sharding.bytes_per_device(state) == {device: 4 + 2 * 4 * (6 + 2)}


def test_fsdp_shardings_layout():
    mesh = Mesh(np.array(jax.devices()[:1]), ("fsdp",))
    params = {"k": jnp.zeros((3, 4)), "s": jnp.zeros(())}
    layout = sharding.fsdp_shardings(params, mesh)
    # With a mesh axis of size 1, the largest dimension (4, axis 1) is split.
    assert layout["k"].spec == P(None, "fsdp") and layout["s"].spec == P()
    with pytest.raises(ValueError, match="axis must name axes of the mesh"):
        sharding.fsdp_shardings(params, mesh, "data")
    with pytest.raises(TypeError, match="mesh must be a jax.sharding.Mesh"):
        sharding.fsdp_shardings(params, "fsdp")


def test_make_train_step_rejects_bad_arguments():
    mesh = Mesh(np.array(jax.devices()[:1]), ("d",))
    rep = NamedSharding(mesh, P())
    tx = gradtx.sgd(0.1)
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        sharding.make_train_step(None, tx, rep, rep)
    with pytest.raises(TypeError, match="tx must be a gradient transformation"):
        sharding.make_train_step(lambda p, b: 0.0, object(), rep, rep)
    with pytest.raises(TypeError, match="param_sharding must hold"):
        sharding.make_train_step(lambda p, b: 0.0, tx, P("d"), rep)
    with pytest.raises(TypeError, match="batch_sharding must hold"):
        sharding.make_train_step(lambda p, b: 0.0, tx, rep, "d")


def test_factored_state_leaves_follow_their_parameter():
    """Adafactor's factored statistics: a leaf shaped like its parameter with one
    dimension removed gets the parameter's spec without that dimension (the column
    statistics of a weight split along its columns are split too; the row statistics,
    a sum over the split dimension, are replicated); other shapes are replicated."""
    mesh = Mesh(np.array(jax.devices()[:1]), ("d",))
    params = {"w": jnp.zeros((16, 32)), "v": jnp.zeros((32, 8)), "b": jnp.zeros(8)}
    layout = sharding.fsdp_shardings(params, mesh)
    assert layout["w"].spec == P(None, "d") and layout["v"].spec == P("d", None)
    tx = gradtx.adafactor(1e-2, min_dim_size_to_factor=8)
    found = sharding.state_shardings(tx, jax.device_put(params, layout))[0]

    def spec(s):
        return tuple(s.spec)

    assert jax.tree.map(spec, found.v_row, is_leaf=lambda x: hasattr(x, "spec")) == {
        "w": (None,),  # (16,): the split dimension 32 summed away
        "v": (None,),  # (8,)
        "b": (),  # (1,): not the bias's shape minus a dimension
    }
    assert jax.tree.map(spec, found.v_col, is_leaf=lambda x: hasattr(x, "spec")) == {
        "w": ("d",),  # (32,): the split columns
        "v": ("d",),  # (32,)
        "b": (),
    }
    assert spec(found.v["b"]) == ("d",) and spec(found.v["w"]) == ()
    # A square weight: removing either dimension gives the same shape but different
    # specs, so its statistics stay replicated.
    square = {"w": jax.device_put(jnp.zeros((8, 8)), NamedSharding(mesh, P("d", None)))}
    found = sharding.state_shardings(tx, square)[0]
    assert spec(found.v_row["w"]) == () and spec(found.v_col["w"]) == ()


def test_global_batch_on_one_process_is_the_whole_batch():
    mesh = Mesh(np.array(jax.devices()[:1]), ("d",))
    rows = NamedSharding(mesh, P("d"))
    local = (np.arange(6.0, dtype=np.float32).reshape(3, 2), np.ones(3, np.int32))
    got = sharding.global_batch(local, rows)
    assert all(isinstance(a, jax.Array) and a.sharding == rows for a in got)
    np.testing.assert_array_equal(got[0], local[0])
    already = jnp.ones(3)
    assert sharding.global_batch({"x": already}, rows)["x"] is already
    with pytest.raises(ValueError, match="batch_sharding must have the structure"):
        sharding.global_batch({"x": local[0]}, {"y": rows})


def test_abstract_state_is_the_sharded_restore_target():
    from gradtx import checkpoint

    mesh = Mesh(np.array(jax.devices()[:1]), ("d",))
    params = {"w": jax.ShapeDtypeStruct((4, 2), jnp.float32, sharding=NamedSharding(mesh, P("d")))}
    lr = gradtx.schedules.warmup_cosine_decay_schedule(0.0, 0.02, 5, 20)
    tx = gradtx.inject_hyperparams(gradtx.adamw)(learning_rate=lr)
    target = checkpoint.abstract_state(tx, params)
    real = tx.init({"w": jnp.zeros((4, 2))})
    assert jax.tree.structure(target) == jax.tree.structure(real)
    for t, r in zip(jax.tree.leaves(target), jax.tree.leaves(real), strict=True):
        assert isinstance(t, jax.ShapeDtypeStruct) and t.shape == jnp.shape(r)
    mu = target.inner_state[0].mu["w"]
    assert mu.sharding.spec == P("d") and target.count.sharding.spec == P()


def test_masked_state_leaves_follow_their_parameter():
    """A masked or partitioned optimiser's state (MaskedNode holes for the leaves of the
    other groups: ``masked``, ``partition``, ``muon``, ``optax.masked``) is sharded leaf
    by leaf like the params; it was replicated before issue 15, so every FSDP step of
    ``muon`` all-gathered its moments."""
    import optax

    import gradtx.contrib

    mesh = Mesh(np.array(jax.devices()[:1]), ("d",))
    params = {"w": jnp.zeros((4, 8)), "b": jnp.zeros(8), "s": jnp.zeros(())}
    params = jax.device_put(params, sharding.fsdp_shardings(params, mesh))
    mask = {"w": True, "b": False, "s": True}

    def spec(s):
        return tuple(s.spec)

    for tx in (gradtx.masked(gradtx.adam(0.1), mask), optax.masked(optax.adam(0.1), mask)):
        mu = sharding.state_shardings(tx, params).inner_state[0].mu
        assert isinstance(mu["b"], tuple) and not mu["b"]  # the MaskedNode hole stays
        assert spec(mu["w"]) == (None, "d") and spec(mu["s"]) == ()
    groups = sharding.state_shardings(gradtx.contrib.muon(0.1), params).inner_states
    assert spec(groups["muon"].inner_state[0].mu["w"]) == (None, "d")
    assert spec(groups["adam"].inner_state[0].nu["b"]) == ("d",)
    # a factored inner state keeps the factored rule behind the holes
    tx = gradtx.masked(gradtx.adafactor(0.1, min_dim_size_to_factor=2), mask)
    v_row = sharding.state_shardings(tx, params).inner_state[0].v_row
    assert spec(v_row["w"]) == (None,)  # (4,): the split dimension 8 summed away
