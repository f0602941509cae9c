"""Silent wrong answers at the edges (issue 11), table-driven over ``tests/constructors.py``.

* Class 4, divisions by zero and square roots of negative numbers: every
  :data:`TRANSFORMS` row gives finite updates for the centred-RMSProp scenario
  (``g = 1000 + 1e-3 N(0, 1)``, 200 steps), for all-zero gradients (exact zeros where the
  math says so) and, for every row that takes a learning rate, for a schedule that starts
  at exactly 0. Jitted programs of ``_xla.ROWS_PER_PROGRAM`` rows each (the rows run
  side by side).
* Class 6, rules that assume positive values: ``reduce_on_plateau`` and the LR range test
  make the same decisions for a loss sequence ``L`` and for ``L + c`` (``c`` negative
  too), and handle flat negative sequences.
* Class 7, steps past the int32 range: every :data:`SCHEDULES` row gives its value at
  ``2**31 - 1`` for steps ``2**31 - 1``, ``2**31`` and ``3e9`` as Python ints, NumPy
  ``int64``/``uint64`` and floats, eagerly and under ``jit``.

The audit behind these tests is ``docs/numerics.md``.
"""

from __future__ import annotations

import functools
import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _xla import in_chunks
from constructors import SCHEDULES, TRANSFORMS, build

import gradtx
from gradtx import schedules

# Slow (many compiles): deselect with -m "not slow" for the fast core; CI runs it.
pytestmark = pytest.mark.slow

ROWS = {row.id: row for row in TRANSFORMS}
TABLE_IDS = tuple(ROWS)
# a vector, a scalar and a matrix (rows such as freeze(ndim <= 1) leave the matrix free)
PARAMS = {
    "w": jnp.asarray([0.5, -1.0, 2.0], jnp.float32),
    "b": jnp.asarray(0.3, jnp.float32),
    "m": jnp.asarray([[0.1, -0.2], [0.3, 0.4]], jnp.float32),
}
N_STEPS = 200


def _run(tx, extra, params, grads):
    """``lax.scan`` of ``tx`` over the stacked ``grads``: the updates of every step."""

    def body(carry, g):
        state, p = carry
        u, state = tx.update(g, state, p, **extra)
        return (state, gradtx.apply_updates(p, u)), u

    _, updates = jax.lax.scan(body, (tx.init(params), params), grads)
    return updates


@functools.partial(jax.jit, static_argnames="ids")
def _run_rows(grads, ids):
    """The rows ``ids`` of TRANSFORMS over the same gradients, in one program (called per
    chunk of rows by ``_xla.in_chunks``)."""
    return {i: _run(build(ROWS[i]), ROWS[i].extra_args, PARAMS, grads) for i in ids}


def _stacked(fn, n=N_STEPS):
    return {k: fn(k, (n, *np.shape(v))) for k, v in PARAMS.items()}


def _nonfinite(updates):
    return [k for k, u in updates.items() if not np.all(np.isfinite(np.asarray(u)))]


# --- class 4: divisions by zero, square roots of negative numbers --------------------


# Rows that diverge in the centred scenario by their own math (no learning rate, a
# gradient of 1000 on a linear loss): the params pass 1e18 within a few steps and the
# exact update then leaves float32's range. They must be finite until then.
DIVERGES_WITHOUT_A_LEARNING_RATE = {
    "scale_by_param_block_norm": "u = |p| g: |p| grows ~1000x a step, u passes 3.4e38",
    "scale_by_param_block_rms": "u = rms(p) g: rms(p) grows ~1000x a step",
    "scale_by_trust_ratio": "u = |p| g / |g|: |p| doubles a step, past 3.4e38 at ~128",
    "scale_by_lbfgs": "no line search on a linear loss: pairs (s, y) with y ~ noise give "
    "ever larger steps (as optax.scale_by_lbfgs)",
    # learning-rate-free rows (issue 11 audit, branch kf11): the step is estimated from the
    # distance travelled, which a linear loss makes unbounded; optax.contrib's give their
    # first non-finite update at the same step
    "dadapt_adamw": "D-adaptation's d grows with |x - x0| on a linear loss; |p| passes 1e18 "
    "at step 65 and the decoupled decay d * wd * p overflows at 71 (optax: the same)",
    "prodigy": "Prodigy's d grows with |x - x0| on a linear loss; |p| passes 1e18 at step "
    "173, where its state and the update overflow (optax: the same)",
    "scale_by_cocob": "coin betting: the wealth, and so the bet, grows exponentially on a "
    "linear loss; |p| passes 1e18 at step 105, overflow at 163 (optax.contrib.cocob: same)",
}
HUGE = 1e18  # below it every square (and every update of these rows) fits in float32


def test_centred_rmsprop_scenario_is_finite_for_every_row():
    """``E[g^2] - E[g]^2`` rounds below 0 for ``g = 1000 + 1e-3 N(0, 1)``: before the
    clamp, centred RMSProp gave NaN in about a fifth of 200 steps."""
    rng = np.random.default_rng(0)
    grads = _stacked(lambda k, s: jnp.asarray(1000 + 1e-3 * rng.normal(size=s), jnp.float32))
    out = in_chunks(_run_rows, TABLE_IDS, grads)
    for i in DIVERGES_WITHOUT_A_LEARNING_RATE:
        updates = {k: np.asarray(u, np.float64) for k, u in out.pop(i).items()}
        # the params each step saw: p_0 + the updates before it (not cumsum - u, which is
        # NaN at the step whose own update is infinite)
        seen = {
            k: np.asarray(PARAMS[k], np.float64)
            + np.concatenate([np.zeros_like(u[:1]), np.cumsum(u, axis=0)[:-1]])
            for k, u in updates.items()
        }
        size = np.max([np.max(np.abs(p.reshape(N_STEPS, -1)), axis=1) for p in seen.values()], 0)
        assert np.any(size > HUGE), i  # it does diverge
        until = int(np.argmax(size > HUGE))
        finite = [np.all(np.isfinite(u[:until])) for u in updates.values()]
        assert until > 0 and all(finite), (i, until)
    bad = {i: _nonfinite(u) for i, u in out.items() if _nonfinite(u)}
    assert not bad, bad
    # the case of the issue, by itself: finite at every one of the 200 steps
    alone = _run(gradtx.rmsprop(1e-3, centered=True), {}, PARAMS, grads)
    assert all(np.all(np.isfinite(np.asarray(u))) for u in alone.values())


# Rows whose update is not 0 for a zero gradient, and why (every other row: exactly 0).
NONZERO_FOR_ZERO_GRADIENTS = {
    "adadelta": "weight_decay * p is added to the gradient",
    "adamw": "decoupled weight decay lr * wd * p",
    "multi_transform": "its matrix group runs adamw (decoupled weight decay)",
    "adabound": "weight_decay * p is added to the gradient",
    "add_decayed_weights": "g + wd * p",
    "add_noise": "adds N(0, sigma_t^2)",
    "yogi": "m_0 = initial_accumulator_value = 1e-6, as optax",
    "scale_by_yogi": "m_0 = initial_accumulator_value = 1e-6, as optax",
    "adafactor_momentum_wd": "weight_decay_rate * p is added",
    "adamaxw": "decoupled weight decay lr * wd * p",
    "nadamw": "decoupled weight decay lr * wd * p",
    "lion": "decoupled weight decay lr * wd * p",
    "adan": "weight decay lr * wd * p (optax's chain, not the paper's proximal form)",
    "novograd": "weight_decay * p is added to the normalised gradient",
    "lamb": "weight_decay * p is added before the trust ratio",
    "lars": "weight_decay * p is added before the trust ratio",
    "lars_masked_nesterov": "weight_decay * p on the matrix",
    "asgd": "torch's decay p * (1 - lambd * eta), lambd = 1e-4",
    "fromage": "p / sqrt(1 + lr^2) shrinks the params",
    "keep_params_nonnegative": "projects the negative params to 0",
    "add_noise_key": "adds N(0, sigma_t^2)",
    "noisy_sgd": "adds N(0, sigma_t^2)",
    # contrib rows (each checked exactly 0 with its weight decay / noise at 0, branch kf11)
    "schedule_free_adamw": "decoupled weight decay lr * wd * y in the base AdamW",
    "prodigy": "decoupled weight decay lr * d * wd * p",
    "dadapt_adamw": "decoupled weight decay lr * d * wd * p",
    "dog": "weight_decay * p is added to the gradient",
    "cocob": "weight_decay * p is added to the gradient",
    "madgrad": "weight_decay * p is added to the gradient",
    "momo": "weight decay: p / (1 + lr * wd)",
    "ademamix": "decoupled weight decay lr * wd * p",
    "simplified_ademamix": "decoupled weight decay lr * wd * p",
    "acprop": "decoupled weight decay lr * wd * p",
    "muon_torch_match_rms_adamw": "decoupled weight decay lr * wd * p (weight_decay=0.1)",
    "soap": "decoupled weight decay lr * wd * p (default weight_decay=0.01, as optax)",
    "soap_1d_merge_refresh2": "decoupled weight decay lr * wd * p (default 0.01, as optax)",
    "sophia": "decoupled weight decay lr * wd * p (default weight_decay=1e-4, as optax)",
    "dpsgd": "adds N(0, (noise_multiplier * l2_norm_clip)^2) to the clipped sum",
    "hutchinson_estimator_diag_hessian": "its output is obj_fn's Hessian diagonal estimate "
    "(|p|^2: 2), not a function of the gradient",
}


def test_zero_gradients_from_step_0_give_finite_updates_for_every_row():
    """Zero gradients make every second moment 0 (``0/0`` where the denominator has no
    eps) and the global norm 0 (``g / 0`` in clipping): finite everywhere, and exactly 0
    where the update is a multiple of the gradient's history."""
    grads = _stacked(lambda k, s: jnp.zeros(s, jnp.float32))
    out = in_chunks(_run_rows, TABLE_IDS, grads)
    bad = {i: _nonfinite(u) for i, u in out.items() if _nonfinite(u)}
    assert not bad, bad
    assert set(NONZERO_FOR_ZERO_GRADIENTS) <= set(ROWS)
    biggest = {
        i: max(float(np.max(np.abs(np.asarray(u)))) for u in updates.values())
        for i, updates in out.items()
    }
    # every row that breaks the rule, named with its largest update
    wrong = {i: b for i, b in biggest.items() if (b > 0) != (i in NONZERO_FOR_ZERO_GRADIENTS)}
    assert not wrong, wrong


# Rows whose leaves outside a mask pass the gradient through unchanged (no learning rate
# reaches them): those leaves are not 0 at step 0.
PASS_THROUGH = {"masked": ("w", "b")}
# Rows whose first update is not 0 at lr 0, and why.
NONZERO_AT_LR_0 = {
    "adafactor_momentum_wd": "optax's adafactor adds weight_decay_rate * p after the lr",
    "keep_params_nonnegative": "projects the negative params (w, m) to 0 whatever the lr",
}
ZERO_START = schedules.warmup(schedules.constant(0.01), 5)  # 0.0 at step 0, then 0.002, ...


# Factories whose learning_rate is not a step size that a schedule can give (rprop's is
# the initial per-element step size: a float, as optax's); _ZeroStartModule keeps them.
NOT_SCHEDULABLE = {
    "rprop": "learning_rate is the initial step size (a float, as optax)",
    "scale_by_rprop": "learning_rate is the initial step size (a float, as optax)",
    "optimistic_adam": "learning_rate is the optimism's alpha too (a float, as optax 0.2.8)",
    "asgd": "torch's eta_t = lr / (1 + lambd lr t)^alpha takes a float lr",
}


class _ZeroStartModule:
    """Stands for ``gradtx`` in a row's ``make``: each ``learning_rate`` (or
    ``schedule``) given as a number or a schedule becomes :data:`ZERO_START`. Arrays are
    left alone (``inject_hyperparams`` calls the inner factory with arrays)."""

    KEYS = ("learning_rate", "schedule", "step_size_fn")  # step_size_fn: scale_by_schedule

    def __init__(self) -> None:
        self.replaced = 0

    def _replaceable(self, value) -> bool:
        if isinstance(value, bool):
            return False
        if isinstance(value, int | float):
            return True
        return callable(value) and not hasattr(value, "update")

    def _wrap(self, fn):
        try:
            names = list(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            names = []

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            args = list(args)
            for key in self.KEYS:
                if key in kwargs and self._replaceable(kwargs[key]):
                    kwargs[key] = ZERO_START
                    self.replaced += 1
                elif key in names:
                    at = names.index(key)
                    if at < len(args) and self._replaceable(args[at]):
                        args[at] = ZERO_START
                        self.replaced += 1
            out = fn(*args, **kwargs)
            if callable(out) and not hasattr(out, "update"):  # a factory (inject_hyperparams)
                return self._wrap(out)
            return out

        return wrapped

    def __getattr__(self, name):
        attr = getattr(gradtx, name)
        if inspect.isfunction(attr) and name not in NOT_SCHEDULABLE:
            return self._wrap(attr)
        return attr  # modules (schedules), classes (MultiSteps)


def _zero_start_rows():
    rows = {}
    for row in TRANSFORMS:
        module = _ZeroStartModule()
        tx = row.make(module)
        if module.replaced:
            rows[row.id] = (tx, row.extra_args)
    return rows


def test_zero_start_table_covers_the_rows_taking_a_learning_rate():
    ids = set(_zero_start_rows())
    for expected in ("sgd", "adam", "adam_schedule", "rmsprop_centered_momentum", "adadelta"):
        assert expected in ids
    for expected in ("inject_hyperparams", "MultiSteps", "packed", "scale_by_schedule"):
        assert expected in ids
    assert not ids & {"identity", "scale", "trace", "scale_by_adam", "add_noise"}


def test_a_schedule_starting_at_exactly_0_gives_finite_updates_for_every_lr_row():
    """A warmup from 0: the first update is exactly 0 and every update is finite."""
    rows = _zero_start_rows()
    rng = np.random.default_rng(1)
    grads = _stacked(lambda k, s: jnp.asarray(rng.normal(size=s), jnp.float32), n=12)

    def run(grads, ids):
        return {i: _run(*rows[i], PARAMS, grads) for i in ids}

    out = in_chunks(jax.jit(run, static_argnames="ids"), tuple(rows), grads)
    bad = {i: _nonfinite(u) for i, u in out.items() if _nonfinite(u)}
    assert not bad, bad
    assert set(NONZERO_AT_LR_0) <= set(rows)
    moved = sorted(  # lr(0) = 0: the first update is 0
        (i, k)
        for i, updates in out.items()
        for k, u in updates.items()
        if not np.all(np.asarray(u)[0] == 0) and k not in PASS_THROUGH.get(i, ())
    )
    assert {i for i, _ in moved} == set(NONZERO_AT_LR_0), moved
    still = [i for i, u in out.items() if all(np.all(np.asarray(x) == 0) for x in u.values())]
    assert not still, still  # the lr rises after step 0: every row moves


def test_hyperparameters_that_make_a_denominator_0_are_rejected():
    bad = [
        (lambda: gradtx.adam(0.1, eps=0.0), "eps=0, eps_root=0"),
        (lambda: gradtx.scale_by_amsgrad(eps=0.0), "eps=0, eps_root=0"),
        (lambda: gradtx.scale_by_yogi(eps=0.0, initial_accumulator_value=0.0), "eps=0"),
        (lambda: gradtx.rmsprop(0.1, eps=0.0), "eps=0, initial_scale=0"),
        (lambda: gradtx.rmsprop(0.1, eps=0.0, initial_scale=1.0, centered=True), "eps=0"),
        (lambda: gradtx.adadelta(eps=0.0), "eps must be"),
        (lambda: gradtx.adam(0.1, b2=1 - 1e-9), "rounds to 1.0 in float32"),
        (lambda: gradtx.rmsprop(0.1, decay=0.99999999), "rounds to 1.0 in float32"),
    ]
    for make, match in bad:
        with pytest.raises(ValueError, match=match):
            make()
    # one positive term is enough
    gradtx.adam(0.1, eps=0.0, eps_root=1e-8)
    gradtx.scale_by_yogi(eps=0.0)
    gradtx.rmsprop(0.1, eps=0.0, initial_scale=1e-8)
    gradtx.adam(0.1, b2=1 - 1e-7)


# Factories whose denominator sqrt(v) + eps (+ eps_root, + the initial accumulator) is 0
# where the gradient has been 0, once every term is 0: the terms, given as data.
ZERO_EPS_AS_DATA = {
    "adam": (gradtx.adam, {"learning_rate": 0.1}, ("eps",)),
    "adamw": (gradtx.adamw, {"learning_rate": 0.1, "weight_decay": 0.0}, ("eps",)),
    "nadam": (gradtx.nadam, {"learning_rate": 0.1}, ("eps",)),
    "amsgrad": (gradtx.amsgrad, {"learning_rate": 0.1}, ("eps",)),
    # (the accumulators start at initial_accumulator_value: 0 from the start)
    "scale_by_yogi": (gradtx.scale_by_yogi, {"initial_accumulator_value": 0.0}, ("eps",)),
    "rmsprop": (gradtx.rmsprop, {"learning_rate": 0.1}, ("eps",)),
    "rmsprop_eps_outside": (
        gradtx.rmsprop, {"learning_rate": 0.1, "eps_in_sqrt": False}, ("eps",)
    ),
}


def test_eps_0_given_as_data_leaves_never_updated_coordinates_at_0():
    """``eps = 0`` cannot be rejected when it is data: injected and set to 0 with
    ``set_hyperparams`` (eagerly and inside ``jit``). A coordinate whose gradient has
    been 0 gets update 0 (was ``0 / 0 = NaN``); the others move, the same eagerly and
    under ``jit``."""
    params = {"w": jnp.asarray([1.0, 2.0, -1.0])}
    grads = [{"w": jnp.asarray([0.0, 1.0, -2.0])}, {"w": jnp.asarray([0.0, -0.5, 3.0])}]

    def run(opt, state):
        out = []
        for g in grads:
            u, state = opt.update(g, state, params)
            out.append(u["w"])
        return jnp.stack(out)

    for name, (factory, kwargs, zeros) in ZERO_EPS_AS_DATA.items():
        opt = gradtx.inject_hyperparams(factory)(**kwargs)
        state = gradtx.set_hyperparams(opt.init(params), **{z: 0.0 for z in zeros})
        eager = run(opt, state)
        traced = jax.jit(lambda s, opt=opt, zeros=zeros: run(  # noqa: B023
            opt, gradtx.set_hyperparams(s, **{z: jnp.float32(0) for z in zeros})
        ))(opt.init(params))
        for got in (eager, traced):
            assert np.all(np.isfinite(np.asarray(got))), name
            assert np.all(np.asarray(got)[:, 0] == 0), name
            assert np.all(np.asarray(got)[:, 1:] != 0), name
        np.testing.assert_allclose(np.asarray(eager), np.asarray(traced), rtol=1e-6, err_msg=name)


def test_global_norm_and_clipping_survive_float32_overflow():
    """Squares of 1e20 overflow float32: the norm is rescaled rather than inf (which
    clipping turned into a zero update)."""
    g = {"a": jnp.full((3,), 1e20, jnp.float32), "b": jnp.asarray(-1e20, jnp.float32)}
    np.testing.assert_allclose(float(gradtx.global_norm(g)), 2e20, rtol=1e-6)
    tx = gradtx.clip_by_global_norm(1.0)
    u, _ = jax.jit(tx.update)(g, tx.init(g))
    np.testing.assert_allclose(np.asarray(u["a"]), 0.5, rtol=1e-6)
    assert float(gradtx.global_norm({"a": jnp.asarray([jnp.inf, 1.0])})) == math.inf
    assert math.isnan(float(gradtx.global_norm({"a": jnp.asarray([jnp.nan, 1e30])})))


def test_block_norms_survive_float32_overflow():
    """The per-block norms of the trust ratio and the block scalings: params of 1e20
    (finite, squares overflow float32) give finite updates equal to the float64 math."""
    p = {"w": jnp.full((3,), 1e20, jnp.float32), "b": jnp.asarray(-4e25, jnp.float32)}
    g = {"w": jnp.asarray([1.0, -2.0, 2.0], jnp.float32), "b": jnp.asarray(0.5, jnp.float32)}
    norm = {"w": math.sqrt(3) * 1e20, "b": 4e25}
    factors = {  # u' = factor * u, per block
        "scale_by_trust_ratio": {"w": norm["w"] / 3.0, "b": norm["b"] / 0.5},  # |p| / |u|
        "scale_by_param_block_norm": norm,
        "scale_by_param_block_rms": {"w": 1e20, "b": 4e25},
    }
    for name, factor in factors.items():
        tx = getattr(gradtx, name)()
        u, _ = jax.jit(tx.update)(g, tx.init(p), p)
        for k in p:
            want = np.asarray(g[k], np.float64) * factor[k]
            np.testing.assert_allclose(np.asarray(u[k]), want, rtol=1e-6, err_msg=f"{name} {k}")


def test_noise_scale_with_a_zero_true_gradient():
    def est(small, big):
        return gradtx.gradient_noise_scale(
            sq_norm_small=jnp.asarray(small),
            sq_norm_big=jnp.asarray(big),
            batch_small=1,
            batch_big=4,
        ).b_simple

    assert float(est(0.0, 0.0)) == 0.0  # no gradient, no noise: not 0/0
    # |G|^2 = (4 * 0.25 - 1) / 3 = 0 with tr(Sigma) = 1: noise at any batch size
    assert float(est(1.0, 0.25)) == math.inf
    per_example = {"w": jnp.asarray([[1.0, -2.0], [-1.0, 2.0]])}  # mean 0, |G|^2 < 0
    assert np.isfinite(float(gradtx.gradient_noise_scale(per_example).b_simple))


# --- class 6: rules that assume positive values --------------------------------------

SHIFTS = (0.0, 5.0, -3.0, -1000.0, 1000.0)

# Sequences whose decisions do not hang on a tolerance: improvements by 1 or more
# (>> rtol * |best| + atol for every shift), flats, and worsening runs.
PLATEAU_SEQUENCES = {
    "flat": [0.0] * 12,
    "drop_then_flat": [4.0, 3.0, 2.0, 1.0] + [1.0] * 8,
    "slowly_worse": [0.0 + 1e-2 * i for i in range(12)],
    "worse_then_better": [0.0, 0.5, 0.75, 0.875, -2.0, -2.0, -2.0, -4.0, -4.0, -4.0, -4.0, -4.0],
    "small_gains": [0.0, -0.25, -0.5, -0.75, -1.0, -1.25, -1.5, -1.75, -2.0, -2.25, -2.5, -2.75],
}
# factor, patience, rtol, atol, cooldown, accumulation_size
PLATEAU_CONFIGS = {
    "torch_like": (0.1, 2, 1e-4, 0.0, 0, 1),
    "abs_only": (0.5, 2, 0.0, 0.5, 1, 1),  # gains of 0.25 never count, at any shift
    "windows": (0.5, 1, 1e-4, 0.1, 0, 2),
}


@functools.partial(jax.jit, static_argnames="config")
def _plateau_scales(values, config):
    factor, patience, rtol, atol, cooldown, acc = config
    tx = gradtx.reduce_on_plateau(factor, patience, rtol, atol, cooldown, acc)
    p = jnp.zeros(1, jnp.float32)

    def one(vals):
        def body(state, v):
            _, state = tx.update(jnp.ones(1), state, p, value=v)
            return state, (state.scale, state.best_value)

        return jax.lax.scan(body, tx.init(p), vals)[1]

    return jax.vmap(one)(values)


@pytest.mark.parametrize("config", PLATEAU_CONFIGS)
def test_plateau_decisions_do_not_change_with_a_constant_shift(config):
    names = list(PLATEAU_SEQUENCES)
    base = np.asarray([PLATEAU_SEQUENCES[n] for n in names], np.float32)
    shifted = np.concatenate([base + np.float32(c) for c in SHIFTS])
    scales, best = _plateau_scales(jnp.asarray(shifted), PLATEAU_CONFIGS[config])
    scales = np.asarray(scales).reshape(len(SHIFTS), len(names), -1)
    best = np.asarray(best).reshape(len(SHIFTS), len(names), -1)
    for j, c in enumerate(SHIFTS):
        for i, name in enumerate(names):
            np.testing.assert_array_equal(scales[j, i], scales[0, i], err_msg=f"{name} + {c}")
            np.testing.assert_allclose(best[j, i] - c, best[0, i], atol=1e-3, err_msg=name)
    flat = scales[:, names.index("flat")]
    assert np.all(flat[:, -1] < 1.0)  # a flat metric reduces the scale, at every level


def test_plateau_negative_flat_and_slowly_worsening_metrics():
    """The issue's cases: a flat -1.0 reduces after ``patience`` evaluations, and a
    slowly worsening negative metric never becomes the new best."""
    config = (0.1, 2, 1e-4, 0.0, 0, 1)
    values = jnp.asarray([[-1.0] * 6, [-10.0 + 1e-4 * i for i in range(6)]], jnp.float32)
    scales, best = map(np.asarray, _plateau_scales(values, config))
    np.testing.assert_allclose(scales[0], [1, 1, 0.1, 0.1, 0.01, 0.01], rtol=1e-6)
    np.testing.assert_array_equal(best[1], np.full(6, np.float32(-10.0)))


def _scripted_range_test(losses, **kwargs):
    """lr_range_test whose loss is scripted: the batch *is* the loss."""
    return gradtx.lr_range_test(
        lambda params, batch: batch + 0.0 * jnp.sum(params),
        jnp.zeros(2),
        lambda lr: gradtx.sgd(lr),
        [jnp.float32(v) for v in losses],
        min_lr=1e-4,
        max_lr=1.0,
        num_steps=len(losses) - 1,
        **kwargs,
    )


# Noise-free loss curves (the batch at step i+1 is the loss after step i) with one
# clearly steepest descent and one clear minimum (no ties for rounding to break).
VALLEY = [10.0, 9.9, 9.7, 9.3, 8.5, 7.0, 4.0, 3.0, 2.6, 2.4, 2.3, 2.25, 2.2, 2.18, 2.16, 2.15]
RANGE_SEQUENCES = {
    "valley_then_blowup": VALLEY + [3.0, 1e9, 1e9, 1e9],
    "valley_then_nan": VALLEY + [3.0, math.nan, 1.0, 1.0],
    "flat": [2.0] * 20,
    "slow_descent": [10.0 - 0.01 * i * i for i in range(20)],
}


@pytest.mark.parametrize("name", RANGE_SEQUENCES)
def test_lr_range_test_decisions_do_not_change_with_a_constant_shift(name):
    seq = RANGE_SEQUENCES[name]
    ref = _scripted_range_test(seq, smoothing=1.0)
    for c in SHIFTS[1:]:
        got = _scripted_range_test([v + c for v in seq], smoothing=1.0)
        assert got.stopped_early == ref.stopped_early, c
        np.testing.assert_array_equal(got.lrs, ref.lrs, err_msg=str(c))
        for a, b in ((got.suggested_lr, ref.suggested_lr), (got.lr_min_div10, ref.lr_min_div10)):
            assert a == b or (math.isnan(a) and math.isnan(b)), (c, a, b)
    if name.startswith("valley"):
        assert ref.stopped_early
    else:
        assert not ref.stopped_early  # flat or falling: no divergence, at any level


def test_lr_range_test_with_negative_losses_does_not_stop_at_once():
    """``smoothed > 4 * best`` with ``best = -1`` holds for a flat -1: the old rule
    stopped a run of negative losses at its second point."""
    result = _scripted_range_test([-1.0] * 12, smoothing=0.05)
    assert not result.stopped_early and len(result.losses) == 11
    from gradtx.training.lr_finder import _diverged

    table = [  # smoothed, best, threshold, diverged
        (4.1, 1.0, 4.0, True),
        (3.9, 1.0, 4.0, False),
        (-1.0, -1.0, 4.0, False),
        (2.1, -1.0, 4.0, True),  # a rise of 3.1 > (4 - 1) * |best|
        (1.9, -1.0, 4.0, False),  # a rise of 2.9
        (0.0, 0.0, 4.0, False),
        (1e-9, 0.0, 4.0, True),
        (5.0, 1.0, math.inf, False),
    ]
    for s, best, threshold, expected in table:
        assert _diverged(s, best, threshold) is expected, (s, best, threshold)
    with pytest.raises(ValueError, match="smoothing"):
        _scripted_range_test([1.0] * 4, smoothing=1e-17)


# --- class 7: steps past the int32 range ---------------------------------------------

MAX = 2**31 - 1
BIG_STEPS = (MAX, 2**31, 3_000_000_000)
SCHEDULE_ROWS = {name: make(schedules) for name, make in SCHEDULES}


def _at_max():
    return {n: float(s(jnp.int32(MAX))) for n, s in SCHEDULE_ROWS.items()}


def test_the_step_normaliser_saturates_every_type():
    """``as_step`` (used by every schedule's ``__call__``) for each type a step comes in."""
    from gradtx.schedules._base import as_step

    cases = [
        (3_000_000_000, MAX),
        (2**80, MAX),
        (-(2**40), 0),
        (2**31, MAX),
        (MAX, MAX),
        (np.int64(3_000_000_000), MAX),
        (np.uint64(3_000_000_000), MAX),
        (np.uint64(2**64 - 1), MAX),
        (np.int64(-5), 0),
        (3e9, MAX),
        (np.float64(2**31 - 0.5), MAX),
        (np.float32(2**31), MAX),
        (math.inf, MAX),
        (-math.inf, 0),
        (math.nan, 0),
        (5.9, 5),
        (np.asarray([1, 2**40, -3], np.int64), [1, MAX, 0]),
        (jnp.asarray(3_000_000_000, jnp.uint32), MAX),
        (jnp.asarray(7, jnp.int8), 7),
        (True, 1),
    ]
    for step, expected in cases:
        got = as_step(step)
        assert got.dtype == jnp.int32, step
        np.testing.assert_array_equal(np.asarray(got), expected, err_msg=repr(step))


def test_every_schedule_saturates_big_steps_eagerly():
    expected = _at_max()
    # the other types (uint64, floats, 2**80, ...) take the same path: see the as_step test
    steps = [np.asarray(BIG_STEPS, np.int64), 3_000_000_000]
    for name, s in SCHEDULE_ROWS.items():
        for k in steps:
            got = np.asarray(s(k))
            assert np.all(np.isfinite(got)), (name, k)
            np.testing.assert_array_equal(got, np.float32(expected[name]), err_msg=f"{name} {k!r}")
        if getattr(s, "_clamp_negative_steps", True):
            assert float(s(-(2**40))) == float(s(0)), name  # negative: clamped to 0
        else:  # optax's names keep optax's values at negative steps: saturate at -MAX
            assert float(s(-(2**40))) == float(s(-MAX)), name
            assert np.isfinite(float(s(-(2**40)))), name


def _jit_all(steps):
    return {n: s(steps) for n, s in SCHEDULE_ROWS.items()}


def test_every_schedule_saturates_big_steps_under_jit():
    """Without x64, jit takes a float or a uint32 step losslessly (int64 arguments are
    narrowed by JAX at the jit boundary, before gradtx sees them); with x64 on, int64,
    uint64 and float64 steps are traced as such and saturate inside."""
    expected = _at_max()
    steps32 = (np.asarray(BIG_STEPS, np.float32), np.asarray(BIG_STEPS, np.uint32))
    out = jax.jit(lambda ss: [_jit_all(s) for s in ss])(steps32)
    with jax.enable_x64(True):
        steps64 = tuple(np.asarray(BIG_STEPS, t) for t in (np.int64, np.uint64, np.float64))
        steps64 += (3_000_000_000,)  # a Python int: a weakly typed int64
        out += jax.jit(lambda ss: [_jit_all(s) for s in ss])(steps64)
    for values in out:
        for name, got in values.items():
            got = np.asarray(got)
            assert np.all(np.isfinite(got)), name
            np.testing.assert_array_equal(got, np.float32(expected[name]), err_msg=name)


def test_values_and_the_batch_size_schedule_take_big_steps():
    s = schedules.cosine_decay(0.1, 1000)
    np.testing.assert_array_equal(schedules.values(s, [0, 3_000_000_000]), np.float32([0.1, 0]))
    sched = gradtx.batch_size_schedule(128, [10, 20], 2, max_batch_size=400)
    for k in (3_000_000_000, np.int64(3_000_000_000), np.uint64(3_000_000_000), 2**70):
        assert sched(k) == 400 and sched.lr_multiplier(k) == 400 / 512
