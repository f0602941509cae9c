"""reduce_on_plateau against a NumPy reference of torch's rule and against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx

# A scripted loss: a fast drop, plateaus, small (rtol-sized) gains, a late drop.
VALUES = np.array(
    [10, 9, 8, 8, 8.25, 8, 8, 7.999, 8, 8, 6, 6, 6.5, 6, 6, 6, 6, 5.5, 5.5, 5.5]
    + [5.5, 5.5, 5.5, 5.5, 5.5, 5.5, 5.5, 4, 4, 4, 4, 4, 4, 4, 4, 3.75, 4, 4, 4, 4]
    + [4, 4, 4, 4, 4, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2],
    np.float32,
)

# factor, patience, rtol, atol, cooldown, accumulation_size, min_scale
CONFIGS = [
    (0.5, 2, 1e-4, 0.0, 0, 1, 0.0),
    (0.1, 3, 1e-4, 0.0, 2, 1, 0.01),
    (0.3, 1, 0.0, 0.5, 0, 3, 0.0),
    (0.5, 4, 0.05, 0.1, 1, 2, 0.2),
    (0.1, 10, 1e-4, 0.0, 0, 1, 0.0),  # optax's and torch's defaults
    (0.8, 1, 1e-3, 0.0, 3, 1, 0.0),
]
NAMES = ("factor", "patience", "rtol", "atol", "cooldown", "accumulation_size", "min_scale")


def torch_rule_reference(
    values, factor, patience, rtol, atol, cooldown, accumulation_size, min_scale
):
    """torch.optim.lr_scheduler.ReduceLROnPlateau.step (mode='min') written out, with
    torch's patience = ours - 1 (torch lowers after ``num_bad_epochs > patience``) and
    its threshold test combined as ``current < best * (1 - rtol) - atol``; fed the mean
    of every ``accumulation_size`` values. Returns the scale after each value."""
    torch_patience = patience - 1
    scale, best, num_bad, cooldown_counter = 1.0, np.inf, 0, 0
    window, out = [], []
    for v in values:
        window.append(float(v))
        if len(window) == accumulation_size:
            current = np.mean(window)
            window = []
            if current < best * (1 - rtol) - atol:
                best, num_bad = current, 0
            else:
                num_bad += 1
            if cooldown_counter > 0:  # torch: in_cooldown
                cooldown_counter -= 1
                num_bad = 0
            if num_bad > torch_patience:
                scale = max(scale * factor, min_scale)
                cooldown_counter = cooldown
                num_bad = 0
        out.append(scale)
    return np.array(out)


def scale_trajectory(hparams, values):
    """Every hyperparameter is traced: one compilation serves all configurations."""
    tx = gradtx.reduce_on_plateau(**hparams)
    params = jnp.zeros(2, jnp.float32)

    def body(state, v):
        updates, state = tx.update(jnp.ones(2, jnp.float32), state, params, value=v)
        return state, (state.scale, updates)

    return jax.lax.scan(body, tx.init(params), values)[1]


def stacked_configs():
    cols = list(zip(*CONFIGS, strict=True))
    return {
        n: jnp.asarray(c, jnp.int32 if isinstance(c[0], int) else jnp.float32)
        for n, c in zip(NAMES, cols, strict=True)
    }


def test_matches_the_numpy_reference_of_torchs_rule_for_every_config():
    scales, updates = jax.jit(jax.vmap(scale_trajectory, in_axes=(0, None)))(
        stacked_configs(), VALUES
    )
    for i, cfg in enumerate(CONFIGS):
        expected = torch_rule_reference(VALUES, *cfg)
        np.testing.assert_allclose(scales[i], expected, rtol=1e-6, err_msg=str(cfg))
        np.testing.assert_allclose(updates[i], np.stack([expected] * 2, axis=1), rtol=1e-6)
    # the scripted sequence does exercise the rule: every config reduces at least once
    assert all(scales[i, -1] < 1 for i in range(len(CONFIGS)))


@pytest.mark.parametrize("cfg", [CONFIGS[1], CONFIGS[3]])
def test_scale_trajectory_equals_optax_contrib(cfg):
    kwargs = dict(zip(NAMES, cfg, strict=True))
    ours = gradtx.reduce_on_plateau(**kwargs)
    theirs = optax.contrib.reduce_on_plateau(**kwargs)
    p = jnp.zeros(2, jnp.float32)
    s, o = ours.init(p), theirs.init(p)
    update, oupdate = jax.jit(ours.update), jax.jit(theirs.update)
    for v in VALUES:
        _, s = update(jnp.ones(2), s, value=v)
        _, o = oupdate(jnp.ones(2), o, value=v)
        for field in ReduceFields:
            np.testing.assert_allclose(getattr(s, field), getattr(o, field), rtol=1e-6)


ReduceFields = gradtx.ReduceLROnPlateauState._fields


def test_in_a_chain_and_injected_as_data():
    """The scale multiplies the chain's updates; injected, its factor is state."""
    opt = gradtx.chain(
        gradtx.sgd(1.0), gradtx.inject_hyperparams(gradtx.reduce_on_plateau)(0.5, patience=2)
    )
    p = {"w": jnp.ones(3, jnp.float32)}
    g = {"w": jnp.array([1.0, -2.0, 0.5], jnp.float32)}
    update = jax.jit(opt.update)
    s = opt.init(p)
    for v in (3.0, 3.0, 3.0):  # improvement, then 2 bad evaluations: scale 0.5
        u, s = update(g, s, p, value=v)
    np.testing.assert_allclose(u["w"], -0.5 * g["w"])
    s = gradtx.set_hyperparams(s, factor=0.1)
    for v in (3.0, 3.0):
        u, s = update(g, s, p, value=v)
    np.testing.assert_allclose(u["w"], -0.05 * g["w"], rtol=1e-6)
    assert update._cache_size() == 1


def test_bad_input():
    with pytest.raises(ValueError, match=r"factor must be in \(0, 1\), got 1.5"):
        gradtx.reduce_on_plateau(factor=1.5)
    with pytest.raises(ValueError, match="patience must be an integer >= 1, got 0"):
        gradtx.reduce_on_plateau(patience=0)
    with pytest.raises(TypeError, match="cooldown must be an integer"):
        gradtx.reduce_on_plateau(cooldown=1.5)
    with pytest.raises(ValueError, match="accumulation_size"):
        gradtx.reduce_on_plateau(accumulation_size=-1)
    with pytest.raises(ValueError, match="rtol and atol"):
        gradtx.reduce_on_plateau(rtol=0.0, atol=0.0)
    with pytest.raises(ValueError, match="atol"):
        gradtx.reduce_on_plateau(atol=-1.0)
    with pytest.raises(ValueError, match="min_scale"):
        gradtx.reduce_on_plateau(min_scale=2.0)
    tx = gradtx.reduce_on_plateau()
    with pytest.raises(TypeError, match="value=loss"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
