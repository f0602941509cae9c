"""Every state of every public constructor (one row each in ``tests/constructors.py``)
survives a round trip through each ``gradtx.checkpoint`` path and through orbax, and
training resumed from it is bit-identical to uninterrupted training.

Per row: one jitted step (compiled once) runs 6 steps; the params and state after step 3
are checkpointed, restored into a fresh ``opt.init`` template, and 3 more steps of the
same compiled step must give exactly (values, dtypes, tree) the params and state of step
6, without a retrace (a restored leaf with another dtype or weak type would retrace and
could change the numbers). A state written by optax restores into gradtx through orbax,
and the other way round.
"""

from __future__ import annotations

import functools
import pathlib
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
from constructors import TRANSFORMS, build

import gradtx
from gradtx import checkpoint

# Slow (many compiles): deselect with -m "not slow" for the fast core; CI runs it.
pytestmark = pytest.mark.slow

ROWS = {row.id: row for row in TRANSFORMS}
STEPS = 3  # steps before the checkpoint, and again after it
# Training runs on arrays committed to one device, as a restored orbax checkpoint is (jit
# compiles committed and uncommitted arguments separately); msgpack restores are put there.
DEVICE = jax.devices()[0]


def params0() -> dict[str, Any]:
    # two dtypes, so that a restore that changes a dtype (or a weak type) shows
    return {
        "w": np.array([[0.5, -1.0, 0.25], [2.0, 0.0, -0.75]], np.float32),
        "b": np.array([0.1, -0.2, 0.3], jnp.bfloat16),
    }


def grads_of(p: dict[str, Any]) -> dict[str, Any]:
    # a gradient that changes with the params, never all zero, finite
    return jax.tree.map(lambda x: x - 0.3 + 0.5 * jnp.sin(3.0 * x), p)


def is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def has_key(tree: Any) -> bool:
    return any(is_key(x) for x in jax.tree.leaves(tree))


def assert_bit_identical(got: Any, want: Any) -> None:
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for (path, x), y in zip(
        jax.tree_util.tree_leaves_with_path(got), jax.tree.leaves(want), strict=True
    ):
        where = jax.tree_util.keystr(path)
        assert is_key(x) == is_key(y), where
        if is_key(x):
            assert jax.random.key_impl(x) == jax.random.key_impl(y), where
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype, f"{where}: {x.dtype} != {y.dtype}"
        assert x.shape == y.shape, where
        # bit for bit (NaNs with the same bits are equal; test_run_is_finite flags NaNs)
        if x.tobytes() != y.tobytes():
            np.testing.assert_array_equal(x, y, err_msg=where, strict=True)
            raise AssertionError(f"{where}: equal values, different bits: {x!r} {y!r}")


class Run:
    """One row's optimiser, its jitted step, and the checkpoints of an uninterrupted run."""

    def __init__(self, row_id: str) -> None:
        row = ROWS[row_id]
        self.opt = opt = build(row)
        self.traces = 0
        extra = row.extra_args

        def step(p, s):
            self.traces += 1
            updates, s = opt.update(grads_of(p), s, p, **extra)
            return gradtx.apply_updates(p, updates), s

        self.step = jax.jit(step)
        p, s = jax.device_put((params0(), opt.init(params0())), DEVICE)
        for i in range(2 * STEPS):
            p, s = self.step(p, s)
            if i + 1 == STEPS:
                self.at_save = {"params": p, "opt_state": s}
        self.at_end = {"params": p, "opt_state": s}
        assert self.traces == 1

    def template(self) -> dict[str, Any]:
        """What a user restores into: fresh params and a fresh ``init``."""
        return {"params": params0(), "opt_state": self.opt.init(params0())}

    def check_resume(self, restored: dict[str, Any]) -> None:
        assert_bit_identical(restored, self.at_save)
        p, s = jax.device_put((restored["params"], restored["opt_state"]), DEVICE)
        for _ in range(STEPS):
            p, s = self.step(p, s)
        assert_bit_identical({"params": p, "opt_state": s}, self.at_end)
        assert self.traces == 1, "the restored state retraced the step (dtype or weak type)"


@functools.cache
def run(row_id: str) -> Run:
    return Run(row_id)


def via_bytes(r: Run) -> Any:
    return checkpoint.from_bytes(r.template(), checkpoint.to_bytes(r.at_save))


def via_state_dict(r: Run) -> Any:
    # stored as a plain nested dict of arrays, as a checkpoint library would store it
    state = checkpoint.to_state_dict(r.at_save)
    stored = flax.serialization.msgpack_restore(flax.serialization.msgpack_serialize(state))
    return checkpoint.from_state_dict(r.template(), stored)


def via_plain_flax(r: Run) -> Any:
    # plain flax after `import gradtx.checkpoint` (schedules registered)
    data = flax.serialization.to_bytes(r.at_save)
    return flax.serialization.from_bytes(r.template(), data)


@pytest.mark.parametrize("row_id", list(ROWS))
def test_run_is_finite(row_id):
    r = run(row_id)
    for x in jax.tree.leaves(r.at_end):
        if not is_key(x):
            assert np.all(np.isfinite(np.asarray(x))), row_id


@pytest.mark.parametrize("path", [via_bytes, via_state_dict], ids=["bytes", "state_dict"])
@pytest.mark.parametrize("row_id", list(ROWS))
def test_gradtx_checkpoint_resume_is_bit_identical(row_id, path):
    r = run(row_id)
    r.check_resume(path(r))


@pytest.mark.parametrize("row_id", list(ROWS))
def test_plain_flax_resume_is_bit_identical(row_id):
    r = run(row_id)
    if has_key(r.at_save):
        # msgpack cannot hold typed PRNG keys; gradtx.checkpoint stores their key data
        with pytest.raises(TypeError, match="PRNGKey"):
            via_plain_flax(r)
        return
    r.check_resume(via_plain_flax(r))


@pytest.mark.parametrize("checkpointer", ["standard", "pytree"])
def test_orbax_resume_is_bit_identical(tmp_path, checkpointer):
    """One orbax save of every row's params and state (one directory), then each row
    restored into its own fresh template, as a user restores: ``StandardCheckpointer``
    with the abstract tree of ``opt.init``, ``PyTreeCheckpointer`` with the template
    and its restore args."""
    runs = {row_id: run(row_id) for row_id in ROWS}
    saved = {k: r.at_save for k, r in runs.items()}
    target = {k: r.template() for k, r in runs.items()}
    if checkpointer == "standard":
        ckptr = ocp.StandardCheckpointer()
        ckptr.save(tmp_path / "all", saved)
        ckptr.wait_until_finished()
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        restored = ckptr.restore(tmp_path / "all", abstract)
    else:
        ckptr = ocp.PyTreeCheckpointer()
        ckptr.save(tmp_path / "all", args=ocp.args.PyTreeSave(saved))
        restore_args = ocp.checkpoint_utils.construct_restore_args(target)
        restored = ckptr.restore(
            tmp_path / "all", args=ocp.args.PyTreeRestore(target, restore_args=restore_args)
        )
    for k, r in runs.items():
        r.check_resume(restored[k])


def params_f32() -> dict[str, Any]:
    return jax.tree.map(lambda x: x.astype(np.float32), params0())


def optax_pairs() -> dict[str, tuple[Any, Any]]:
    return {
        "adam": (optax.adam(0.01), gradtx.adam(0.01)),
        "sgd_momentum": (optax.sgd(0.1, momentum=0.9), gradtx.sgd(0.1, momentum=0.9)),
        "chain_clip_adam": (
            optax.chain(optax.clip_by_global_norm(1.0), optax.adam(0.01)),
            gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adam(0.01)),
        ),
        "inject_hyperparams_adam": (
            optax.inject_hyperparams(optax.adam)(learning_rate=0.01),
            gradtx.inject_hyperparams(gradtx.adam)(learning_rate=0.01),
        ),
    }


def leaf_paths(tree: Any) -> list[tuple[str, Any]]:
    return [
        (jax.tree_util.keystr(k), jax.typeof(x))
        for k, x in jax.tree_util.tree_leaves_with_path(tree)
    ]


def test_optax_and_gradtx_states_cross_restore_through_orbax(tmp_path):
    """A state saved by optax restores into a gradtx template (and the other way round)
    with orbax, and training continues as if the other library had run all along.
    float32 params: in bfloat16 the two libraries' numbers differ by rounding (and
    optax's inject_hyperparams(adam) moments turn float32 after a step)."""
    libs = ("optax", "gradtx")
    saved, end, steps = {}, {}, {}
    for name, pair in optax_pairs().items():
        for lib, opt in zip(libs, pair, strict=True):

            def step(p, s, opt=opt):
                updates, s = opt.update(grads_of(p), s, p)
                return optax.apply_updates(p, updates), s

            steps[name, lib] = jax.jit(step)
            p, s = jax.device_put((params_f32(), opt.init(params_f32())), DEVICE)
            for i in range(2 * STEPS):
                p, s = steps[name, lib](p, s)
                if i + 1 == STEPS:
                    saved[name, lib] = {"params": p, "opt_state": s}
            end[name, lib] = {"params": p, "opt_state": s}
        # the same leaves under the same key paths: what orbax and flax store
        o, g = (opt.init(params_f32()) for opt in pair)
        assert leaf_paths(o) == leaf_paths(g), name
    tree = {f"{name}/{lib}": v for (name, lib), v in saved.items()}
    ckptr = ocp.StandardCheckpointer()
    ckptr.save(tmp_path / "both", tree)
    ckptr.wait_until_finished()
    # restore each library's checkpoint into the other library's fresh template
    target = {}
    for name, pair in optax_pairs().items():
        for lib, other in zip(libs, reversed(pair), strict=True):
            p = params_f32()
            target[f"{name}/{lib}"] = {"params": p, "opt_state": other.init(p)}
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    restored = ckptr.restore(tmp_path / "both", abstract)
    for name in optax_pairs():
        for lib, other in zip(libs, reversed(libs), strict=True):
            got = restored[f"{name}/{lib}"]
            # the other library's tree types, this library's saved numbers
            assert jax.tree.structure(got) == jax.tree.structure(target[f"{name}/{lib}"])
            want = saved[name, lib]
            for x, y in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
                np.testing.assert_array_equal(np.asarray(x), np.asarray(y), strict=True)
            # msgpack: gradtx.checkpoint restores the other library's bytes too
            from_msgpack = checkpoint.from_bytes(
                target[f"{name}/{lib}"], flax.serialization.to_bytes(want)
            )
            for x, y in zip(jax.tree.leaves(from_msgpack), jax.tree.leaves(got), strict=True):
                np.testing.assert_array_equal(np.asarray(x), np.asarray(y), strict=True)
            # three more steps with the other library: its own uninterrupted numbers
            p, s = got["params"], got["opt_state"]
            for _ in range(STEPS):
                p, s = steps[name, other](p, s)
            resumed = {"params": p, "opt_state": s}
            assert jax.tree.structure(resumed) == jax.tree.structure(end[name, other])
            uninterrupted = jax.tree.leaves(end[name, other])
            for x, y in zip(jax.tree.leaves(resumed), uninterrupted, strict=True):
                np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6, strict=True)


def test_the_orbax_example_in_the_docs_runs():
    doc = (pathlib.Path(__file__).parents[1] / "docs" / "hyperparams.md").read_text()
    code = doc.split("### With orbax", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/hyperparams.md", "exec"), namespace)
    key = namespace["restored"]["opt_state"][0].rng_key
    assert is_key(key) and jnp.array_equal(
        jax.random.key_data(key), jax.random.key_data(namespace["state"][0].rng_key)
    )
