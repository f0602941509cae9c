"""One of the two JAX processes of ``tests/test_multiprocess.py`` (issue 17).

Started by the test as ``python _multiprocess_worker.py PORT PROCESS_ID PHASE WORKDIR``
with ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` and ``JAX_PLATFORMS=cpu``;
the two processes join through ``jax.distributed.initialize`` on a localhost
coordinator and see one mesh of 8 CPU devices (4 each), talking through gloo.

Four copies of a small MLP (16-32-8, every dimension divisible by 8) are trained in one
program by ``gradtx.multi_transform``: adam, inject_hyperparams(adamw) under a
warmup-cosine schedule, MultiSteps(adam, 2) and adafactor (factored). Each process
feeds only its half of every batch (``jax.make_array_from_process_local_data``).

- phase ``train``: 20 steps on 1 local device (the reference), then 20 steps
  data-parallel and 20 steps FSDP on the 8 devices of the 2 processes. The FSDP run
  saves an orbax checkpoint at step 10 and at step 20. Each process checks its own
  shards against the reference, counts its devices' state bytes (which leaves are
  sharded, which replicated) and compiles the FSDP optimiser update for its HLO.
- phase ``resume``: a fresh pair restores step 10, runs steps 11-20, and checks that
  params, state and losses are bit-identical to the uninterrupted run's step 20.

Each process prints one ``RESULT {json}`` line for the test to read.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

T0 = time.perf_counter()

import jax  # noqa: E402

PORT, PID, PHASE, WORKDIR = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
jax.distributed.initialize(
    coordinator_address=f"localhost:{PORT}",
    num_processes=2,
    process_id=PID,
    initialization_timeout=120,
    heartbeat_timeout_seconds=60,  # a starved heartbeat thread on a busy machine is no death
)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import orbax.checkpoint as ocp  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import gradtx  # noqa: E402
from gradtx import checkpoint, sharding  # noqa: E402

STEPS, SAVE_AT, BATCH = 20, 10, 64
MODELS = ("adam", "adamw_schedule", "multisteps", "adafactor")
RESULT: dict = {"process": PID, "phase": PHASE}


def log(msg: str) -> None:
    print(
        f"[p{PID} {time.perf_counter() - T0:6.1f}s wall {time.process_time():6.1f}s cpu] {msg}",
        flush=True,
    )


def make_tx() -> gradtx.GradientTransformation:
    lr = gradtx.schedules.warmup_cosine_decay_schedule(0.0, 0.02, 5, STEPS)
    txs = {
        "adam": gradtx.adam(1e-2),
        "adamw_schedule": gradtx.inject_hyperparams(gradtx.adamw)(
            learning_rate=lr, weight_decay=1e-2
        ),
        "multisteps": gradtx.MultiSteps(gradtx.adam(2e-2), 2).gradient_transformation(),
        "adafactor": gradtx.adafactor(2e-2, min_dim_size_to_factor=8),
    }
    return gradtx.multi_transform(
        txs, lambda p: {k: jax.tree.map(lambda _, k=k: k, p[k]) for k in p}
    )


def host_params() -> dict:
    rng = np.random.default_rng(0)
    one = {
        "w1": rng.normal(size=(16, 32)).astype(np.float32) / 4,
        "b1": np.zeros(32, np.float32),
        "w2": rng.normal(size=(32, 8)).astype(np.float32) / 6,
        "b2": np.zeros(8, np.float32),
    }
    return {k: jax.tree.map(np.copy, one) for k in MODELS}


def host_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(STEPS, BATCH, 16)).astype(np.float32)
    y = np.sin(x @ rng.normal(size=(16, 8)).astype(np.float32))
    return x, y


def mlp(p: dict, x: jax.Array) -> jax.Array:
    return jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]


def loss_fn(params: dict, batch: tuple[jax.Array, jax.Array]) -> jax.Array:
    x, y = batch
    return sum(jnp.mean((mlp(params[k], x) - y) ** 2) for k in MODELS)


def local_rows(n: int) -> slice:
    """This process's rows of a global batch of ``n`` (the mesh lists process 0's
    devices first)."""
    per = n // jax.process_count()
    return slice(PID * per, (PID + 1) * per)


def shard_max_diff(tree: dict, want: dict) -> float:
    """Largest |difference| between this process's shards of ``tree`` and the
    matching slices of the host tree ``want``."""
    out = 0.0
    for a, w in zip(jax.tree.leaves(tree), jax.tree.leaves(want), strict=True):
        for s in a.addressable_shards:
            out = max(out, float(np.max(np.abs(np.asarray(s.data) - w[s.index]))))
    return out


def shards_equal(tree: dict, other: dict) -> bool:
    for a, b in zip(jax.tree.leaves(tree), jax.tree.leaves(other), strict=True):
        if a.sharding != b.sharding and not a.sharding.is_equivalent_to(b.sharding, a.ndim):
            return False
        for sa, sb in zip(a.addressable_shards, b.addressable_shards, strict=True):
            if sa.index != sb.index or not np.array_equal(np.asarray(sa.data), sb.data):
                return False
    return True


def main() -> None:
    log(f"{jax.process_count()} processes, {jax.device_count()} devices, "
        f"{jax.local_device_count()} local")
    assert jax.process_count() == 2 and jax.device_count() == 8
    assert jax.local_device_count() == 4
    tx = make_tx()
    params0 = host_params()
    x, y = host_data()
    mesh = Mesh(np.array(jax.devices()), ("d",))
    batch_sharding = NamedSharding(mesh, P("d"))
    fsdp = sharding.fsdp_shardings(params0, mesh)
    rows = local_rows(BATCH)
    # The first collective over the 8 devices opens gloo's communicator for them while
    # the processes are in step (right after initialize): gloo waits only 30 s for a
    # peer to join a new communicator, and compiling the first step can skew them by
    # more than that on a busy machine. Later collectives reuse it and wait as needed.
    ones = jax.make_array_from_process_local_data(batch_sharding, np.ones(4, np.float32))
    total = jax.jit(jnp.sum, out_shardings=NamedSharding(mesh, P()))(ones)
    assert float(total) == 8.0
    log("gloo connected")

    def batch(t: int) -> tuple[jax.Array, jax.Array]:
        return tuple(
            jax.make_array_from_process_local_data(batch_sharding, a[t, rows]) for a in (x, y)
        )

    def train(start, stop, params, state, step, on_step=None):
        losses = []
        for t in range(start, stop):
            params, state, loss = step(params, state, batch(t))
            losses.append(float(loss))
            if on_step is not None:
                on_step(t + 1, params, state)
        return params, state, losses

    ckpt = ocp.StandardCheckpointer()

    def save(step_no, params, state):
        ckpt.save(WORKDIR / f"step_{step_no}", {"params": params, "opt_state": state})
        ckpt.wait_until_finished()
        log(f"saved step {step_no}")

    if PHASE == "train":
        # 1. The reference, on process 0 only: one local device, the whole batch.
        ref_file = WORKDIR / "reference.npz"
        if PID == 0:
            one = NamedSharding(Mesh(np.array(jax.local_devices()[:1]), ("one",)), P())
            step1 = sharding.make_train_step(loss_fn, tx, one, one)
            p = jax.device_put(params0, one)
            s = tx.init(p)
            losses1 = []
            for t in range(STEPS):
                p, s, loss = step1(p, s, (x[t], y[t]))
                losses1.append(float(loss))
            leaves = {f"p{i}": a for i, a in enumerate(jax.tree.leaves(jax.device_get(p)))}
            np.savez(WORKDIR / "reference.tmp.npz", losses=np.array(losses1), **leaves)
            log(f"1 device: loss {losses1[0]:.4f} -> {losses1[-1]:.4f}")
            assert losses1[-1] < 0.7 * losses1[0], losses1
            tmp = WORKDIR / "reference.tmp.npz"
            tmp.rename(ref_file)  # whole, for process 1
        else:
            # Wait on the file, not a collective: gloo gives up on a peer that joins a
            # new communicator more than 30 s late.
            deadline = time.monotonic() + 300
            while not ref_file.exists():
                assert time.monotonic() < deadline, "no reference from process 0"
                time.sleep(0.2)
        with np.load(ref_file) as z:
            losses1 = z["losses"]
            ref = jax.tree.unflatten(
                jax.tree.structure(params0), [z[f"p{i}"] for i in range(len(z.files) - 1)]
            )

        # 2. Data-parallel on the 8 devices of both processes, as a user would write it:
        # eager init, each process passing its own NumPy rows straight to the step.
        dp = NamedSharding(mesh, P())
        p = jax.device_put(params0, dp)
        step = sharding.make_train_step(loss_fn, tx, dp, batch_sharding)
        s = tx.init(p)
        losses_dp = []
        for t in range(STEPS):
            p, s, loss = step(p, s, (x[t, rows], y[t, rows]))
            losses_dp.append(float(loss))
        RESULT["dp_max_param_diff"] = shard_max_diff(p, ref)
        RESULT["dp_max_loss_rel_diff"] = float(np.max(np.abs(np.array(losses_dp) / losses1 - 1)))
        log(f"data-parallel: max |param diff| vs 1 device {RESULT['dp_max_param_diff']:.3g}")

        # 3. FSDP: params, grads and optimiser state split 8 ways; save at 10 and 20.
        p = jax.device_put(params0, fsdp)
        state_sh = sharding.state_shardings(tx, p)
        s = jax.jit(tx.init, out_shardings=state_sh)(p)
        step = sharding.make_train_step(loss_fn, tx, fsdp, batch_sharding,
                                        state_sharding=state_sh)
        p, s, losses_fsdp = train(
            0, STEPS, p, s, step,
            on_step=lambda t, p, s: save(t, p, s) if t in (SAVE_AT, STEPS) else None,
        )
        RESULT["fsdp_max_param_diff"] = shard_max_diff(p, ref)
        RESULT["fsdp_max_loss_rel_diff"] = float(
            np.max(np.abs(np.array(losses_fsdp) / losses1 - 1))
        )
        log(f"FSDP: max |param diff| vs 1 device {RESULT['fsdp_max_param_diff']:.3g}")
        if PID == 0:
            (WORKDIR / "losses.json").write_text(json.dumps(losses_fsdp))

        # msgpack needs whole arrays: a clear error, not a crash deep in NumPy.
        try:
            checkpoint.to_bytes(s)
            RESULT["to_bytes"] = "no error"
        except ValueError as e:
            RESULT["to_bytes"] = str(e)

        # Memory: the bytes this process's devices hold.
        per_device = sharding.bytes_per_device(s)
        leaves = jax.tree.leaves(s)
        RESULT["state_bytes_total"] = sum(a.nbytes for a in leaves)
        RESULT["state_bytes_per_device"] = sorted(set(per_device.values()))
        RESULT["state_devices"] = sorted(d.id for d in per_device)
        RESULT["sharded_state_bytes"] = sum(
            a.nbytes for a in leaves if not a.sharding.is_fully_replicated
        )
        RESULT["replicated_state_bytes"] = sum(
            a.nbytes for a in leaves if a.sharding.is_fully_replicated
        )
        RESULT["param_bytes"] = sum(a.nbytes for a in jax.tree.leaves(p))

        # 4. The compiled optimiser update (update + apply_updates) in the FSDP layout.
        def update(grads, state, params):
            u, state = tx.update(grads, state, params)
            return gradtx.apply_updates(params, u), state

        abstract = jax.tree.map(
            lambda a, sh: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sh), params0, fsdp
        )
        hlo = (
            jax.jit(update, in_shardings=(fsdp, state_sh, fsdp), out_shardings=(fsdp, state_sh))
            .lower(abstract, s, abstract)
            .compile()
            .as_text()
        )
        RESULT["update_collectives"] = {
            k: len(re.findall(rf" {k}(?:-start)?\(", hlo))
            for k in ("all-gather", "all-reduce", "all-to-all", "reduce-scatter",
                      "collective-permute")
        }
        log(f"update collectives: {RESULT['update_collectives']}")

    elif PHASE == "resume":
        # A fresh pair: restore step 10 into the FSDP layout and run steps 11-20. The
        # target is abstract (nothing allocated): every process reads only its shards.
        abstract = jax.tree.map(
            lambda a, sh: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sh), params0, fsdp
        )
        state_sh = sharding.state_shardings(tx, abstract)
        target = {"params": abstract, "opt_state": checkpoint.abstract_state(tx, abstract)}
        restored = ckpt.restore(WORKDIR / f"step_{SAVE_AT}", target)
        p, s = restored["params"], restored["opt_state"]
        log("restored step 10")
        step = sharding.make_train_step(loss_fn, tx, fsdp, batch_sharding,
                                        state_sharding=state_sh)
        p, s, losses = train(SAVE_AT, STEPS, p, s, step)
        final = ckpt.restore(WORKDIR / f"step_{STEPS}", target)
        want_losses = json.loads((WORKDIR / "losses.json").read_text())[SAVE_AT:]
        RESULT["params_bit_identical"] = shards_equal(p, final["params"])
        RESULT["state_bit_identical"] = shards_equal(s, final["opt_state"])
        RESULT["losses_bit_identical"] = losses == want_losses
        RESULT["state_tree_equal"] = (
            jax.tree.structure(s) == jax.tree.structure(final["opt_state"])
        )
        RESULT["schedule"] = repr(s.inner_states["adamw_schedule"].inner_state
                                  .hyperparams_states["learning_rate_schedule"])
    else:
        raise ValueError(f"unknown phase {PHASE!r}")

    RESULT["seconds"] = round(time.perf_counter() - T0, 1)
    RESULT["cpu_seconds"] = round(time.process_time(), 1)
    print("RESULT " + json.dumps(RESULT), flush=True)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main()
