"""gradtx on a device mesh (issue 6).

The multi-device checks live in ``tests/_sharding_checks.py`` and run in their own
process with 8 simulated CPU devices (``--xla_force_host_platform_device_count=8``):
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


def test_sharding_checks_on_eight_simulated_devices():
    env = dict(os.environ)
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
