"""Optimiser states, schedules included, round-trip through flax serialization, and
training resumed from a checkpoint is bit-identical to uninterrupted training."""

import dataclasses

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx import checkpoint, schedules

RNG = np.random.default_rng(0)
X = RNG.normal(size=(16, 3)).astype(np.float32)
Y = (X @ np.array([1.0, -2.0, 0.5], np.float32) + 0.3).astype(np.float32)


def loss(p):
    return jnp.mean((X @ p["w"] + p["b"] - Y) ** 2)


def params0():
    return {"w": np.zeros(3, np.float32), "b": np.zeros((), np.float32)}


def make_optimizer():
    lr = schedules.warmup(schedules.cosine_decay(0.05, decay_steps=30), warmup_steps=5)
    return gradtx.chain(
        gradtx.clip_by_global_norm(1.0),
        gradtx.inject_hyperparams(gradtx.adam)(learning_rate=lr, b1=0.85),
        gradtx.reduce_on_plateau(factor=0.5, patience=3),
    )


OPT = make_optimizer()
TRACES = []


@jax.jit
def step(p, s):
    TRACES.append(1)
    value, grads = jax.value_and_grad(loss)(p)
    updates, s = OPT.update(grads, s, p, value=value)
    return gradtx.apply_updates(p, updates), s


def train(p, s, n):
    for _ in range(n):
        p, s = step(p, s)
    return p, s


def assert_bit_identical(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert np.asarray(x).dtype == np.asarray(y).dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture(scope="module")
def uninterrupted():
    return train(params0(), OPT.init(params0()), 20)


def test_resume_from_msgpack_bytes_is_bit_identical(uninterrupted):
    p, s = train(params0(), OPT.init(params0()), 10)
    data = flax.serialization.to_bytes({"params": p, "opt_state": s})  # plain flax
    template = {"params": params0(), "opt_state": OPT.init(params0())}  # fresh template
    restored = flax.serialization.from_bytes(template, data)
    sched = restored["opt_state"][1].hyperparams_states["learning_rate_schedule"]
    assert (
        isinstance(sched, schedules.warmup)
        and sched == s[1].hyperparams_states["learning_rate_schedule"]
    )
    assert int(restored["opt_state"][1].count) == 10
    p2, s2 = train(restored["params"], restored["opt_state"], 10)
    assert_bit_identical(p2, uninterrupted[0])
    assert_bit_identical(s2, uninterrupted[1])
    assert len(TRACES) == 1  # the restored state reuses the compiled step


def test_resume_from_state_dict_is_bit_identical(uninterrupted):
    p, s = train(params0(), OPT.init(params0()), 10)
    state_dict = checkpoint.to_state_dict(s)
    lr = state_dict["1"]["hyperparams_states"]["learning_rate_schedule"]
    assert set(lr) == {"schedule", "start_value"}  # key-path names of the schedule
    assert set(lr["schedule"]) == {"init_value", "alpha", "exponent"}
    # through msgpack as a plain nested dict, as a checkpoint library would store it
    state_dict = flax.serialization.msgpack_restore(
        flax.serialization.msgpack_serialize(state_dict)
    )
    restored = checkpoint.from_state_dict(OPT.init(params0()), state_dict)
    p2, s2 = train(jax.tree.map(np.copy, p), restored, 10)
    assert_bit_identical(p2, uninterrupted[0])


def test_a_restored_schedule_can_be_swapped_for_another():
    s = OPT.init(params0())
    restored = checkpoint.from_bytes(OPT.init(params0()), checkpoint.to_bytes(s))
    new_lr = schedules.warmup(schedules.cosine_decay(0.01, decay_steps=30), warmup_steps=5)
    swapped = gradtx.set_hyperparams(restored, learning_rate=new_lr)
    np.testing.assert_allclose(
        swapped[1].hyperparams_states["learning_rate_schedule"](7), new_lr(7), rtol=1e-6
    )
    with pytest.raises(ValueError, match="structure"):  # different static warmup_steps
        gradtx.set_hyperparams(
            restored,
            learning_rate=schedules.warmup(schedules.cosine_decay(0.01, 30), warmup_steps=6),
        )


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class UserSchedule:
    """A user's own pytree schedule, unknown to flax until registered."""

    base: jax.Array
    decay: jax.Array
    every: int = dataclasses.field(metadata={"static": True})

    def __call__(self, step):
        return self.base * self.decay ** (step // self.every)


def test_any_pytree_schedule_is_registered_generically():
    opt = gradtx.inject_hyperparams(gradtx.sgd)(
        learning_rate=UserSchedule(0.1, 0.5, every=2), momentum=0.9
    )
    s = opt.init(params0())
    with pytest.raises(TypeError):  # flax alone cannot serialize an unknown class
        flax.serialization.msgpack_serialize(flax.serialization.to_state_dict(s))
    restored = checkpoint.from_bytes(opt.init(params0()), checkpoint.to_bytes(s))
    assert isinstance(restored.hyperparams_states["learning_rate_schedule"], UserSchedule)
    assert_bit_identical(restored, s)
    other = gradtx.inject_hyperparams(gradtx.sgd)(learning_rate=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="learning_rate"):
        checkpoint.from_bytes(other.init(params0()), checkpoint.to_bytes(s))


def test_typed_prng_keys_round_trip_as_key_data_with_their_impl():
    key = jax.random.key(3, impl="rbg")
    opt = gradtx.add_noise(0.01, 0.55, key)
    s = opt.init(params0())
    _, s = opt.update(jax.tree.map(np.ones_like, params0()), s)
    state_dict = checkpoint.to_state_dict(s)
    assert state_dict["rng_key"].dtype == np.uint32  # msgpack and NumPy can hold it
    with pytest.raises(TypeError, match="PRNGKey"):  # plain flax cannot
        flax.serialization.to_bytes(s)
    for restored in (
        checkpoint.from_bytes(opt.init(params0()), checkpoint.to_bytes(s)),
        checkpoint.from_state_dict(opt.init(params0()), state_dict),
    ):
        assert jax.random.key_impl(restored.rng_key) == jax.random.key_impl(key)
        np.testing.assert_array_equal(
            jax.random.key_data(restored.rng_key), jax.random.key_data(s.rng_key)
        )
        assert int(restored.count) == 1
    threefry = gradtx.add_noise(0.01, 0.55, 0).init(params0())
    with pytest.raises(ValueError, match=r"PRNG key at \.rng_key"):
        checkpoint.from_bytes(threefry, checkpoint.to_bytes(s))
