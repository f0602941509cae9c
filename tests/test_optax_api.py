"""The optax-API wrappers (parameter groups and freezing, composition, averaging and
target networks, update timing) equal optax 0.2.8 and their NumPy references.

One table, :data:`CASES`: each row builds the same configuration from ``gradtx`` and
from ``optax`` and names its float64 NumPy reference. Every row runs 8 random steps with
and without jit (one compiled step for both libraries), and checks that

* the gradtx updates equal optax's (rtol 1e-5) and the reference's (rtol 1e-4);
* the state trees are the same: node types, field names, keys, leaf shapes and dtypes,
  at ``init`` and after the run, with equal values;
* an optax state restores into a gradtx template through flax serialization and back
  (so a checkpoint written with one library loads in the other).
"""

from __future__ import annotations

import doctest
import functools
import importlib
import inspect
import pathlib
import re

import chex
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from absl.testing import parameterized
from reference import optax_api_ref as A
from reference import transforms_ref as R
from reference.harness import assert_close, make_problem, run_reference, unstack

import gradtx

# Slow (many compiles): deselect with -m "not slow" for the fast core; CI runs it.
pytestmark = pytest.mark.slow

N_STEPS = 8  # under jit (one compiled step runs them all)
N_EAGER = 2  # without jit: each eager lax.cond compiles its branches again, so fewer steps
RTOL_REF, FLOOR_REF = 1e-4, 2e-6
RTOL_OPTAX = 1e-5

MASK = {"matrix": True, "vector": False, "scalar": True}
LABELS = {"matrix": "adam", "vector": "sgd", "scalar": "adam"}


def _not_vector(tree):
    return {k: k != "vector" for k in tree}


def _labels_fn(tree):
    return {k: "sgd" if k == "vector" else "adam" for k in tree}


def _decay_grad(g, p):
    return g + 0.1 * p


def _abs(tree):
    return jax.tree.map(jnp.abs, tree)


# name: (make(m) -> transformation, ref() -> NumPy reference)
CASES = {
    "masked": (
        lambda m: m.masked(m.adam(0.01), MASK),
        lambda: A.Masked(R.Adam(0.01), MASK),
    ),
    "masked_fn": (
        lambda m: m.masked(m.chain(m.clip_by_global_norm(1.0), m.sgd(0.1)), _not_vector),
        lambda: A.Masked(R.Chain(R.ClipByGlobalNorm(1.0), R.SGD(0.1)), MASK),
    ),
    "partition": (
        lambda m: m.partition({"adam": m.adam(0.01), "sgd": m.sgd(0.1, momentum=0.9)}, LABELS),
        lambda: A.Partition({"adam": R.Adam(0.01), "sgd": R.SGD(0.1, 0.9)}, LABELS),
    ),
    "multi_transform_fn": (
        lambda m: m.multi_transform(
            {"adam": m.adam(0.01), "sgd": m.sgd(0.1), "unused": m.sgd(5.0)}, _labels_fn
        ),
        lambda: A.Partition({"adam": R.Adam(0.01), "sgd": R.SGD(0.1)}, LABELS),
    ),
    "set_to_zero": (lambda m: m.set_to_zero(), lambda: A.SetToZero()),
    "freeze": (
        lambda m: m.chain(m.sgd(0.1), m.freeze({"matrix": False, "vector": True, "scalar": False})),
        lambda: R.Chain(
            R.SGD(0.1), A.Masked(A.SetToZero(), {"matrix": 0, "vector": 1, "scalar": 0})
        ),
    ),
    "selective_transform": (
        lambda m: m.selective_transform(
            m.adam(0.01), freeze_mask={"matrix": False, "vector": True, "scalar": False}
        ),
        lambda: A.Partition(
            {"train": R.Adam(0.01), "freeze": A.SetToZero()},
            {"matrix": "train", "vector": "freeze", "scalar": "train"},
        ),
    ),
    "conditionally_transform": (
        lambda m: m.conditionally_transform(m.adam(0.01), lambda step: step % 3 == 0),
        lambda: A.Conditionally(R.Adam(0.01), lambda t: t % 3 == 0, mask=False),
    ),
    "conditionally_mask": (
        lambda m: m.conditionally_mask(m.adam(0.01), lambda step: step % 2 == 1),
        lambda: A.Conditionally(R.Adam(0.01), lambda t: t % 2 == 1, mask=True),
    ),
    "named_chain": (
        lambda m: m.named_chain(("clip", m.clip_by_global_norm(1.0)), ("adam", m.adam(0.01))),
        lambda: R.Chain(R.ClipByGlobalNorm(1.0), R.Adam(0.01)),
    ),
    "stateless": (
        lambda m: m.stateless(lambda u, p: jax.tree.map(_decay_grad, u, p)),
        lambda: A.Stateless(_decay_grad),
    ),
    "stateless_with_tree_map": (
        lambda m: m.stateless_with_tree_map(_decay_grad),
        lambda: A.Stateless(_decay_grad),
    ),
    "with_extra_args_support": (
        lambda m: m.with_extra_args_support(m.adam(0.01)),
        lambda: R.Adam(0.01),
    ),
    "ema": (lambda m: m.ema(0.9), lambda: A.Ema(0.9)),
    "ema_no_debias": (lambda m: m.ema(0.8, debias=False), lambda: A.Ema(0.8, False)),
    "measure_with_ema": (
        lambda m: m.measure_with_ema(_abs, 0.7),
        lambda: R.Chain(A.Measure(np.abs), A.Ema(0.7)),
    ),
    "apply_every": (lambda m: m.apply_every(3), lambda: A.ApplyEvery(3)),
    "apply_every_in_chain": (
        lambda m: m.chain(m.apply_every(2), m.sgd(0.1)),
        lambda: R.Chain(A.ApplyEvery(2), R.SGD(0.1)),
    ),
}

# ema with a bfloat16 accumulator, and MultiSteps with optax's new arguments: equality with
# optax and state trees only (tests/test_accumulation.py checks MultiSteps against its
# NumPy reference). name: (make(m), (rtol, atol) against optax)
OPTAX_ONLY = {
    # gradtx computes decay * m in float32, optax in bfloat16: equal to bf16 rounding
    "ema_bf16_accumulator": (lambda m: m.ema(0.9, accumulator_dtype=jnp.bfloat16), (1e-2, 1e-2)),
    "multisteps_accumulator_dtype_skip_large": (
        lambda m: m.MultiSteps(
            m.adam(0.05),
            2,
            should_skip_update_fn=functools.partial(m.skip_large_updates, max_squared_norm=15.0),
            accumulator_dtype=jnp.float32,
        ).gradient_transformation(),
        (RTOL_OPTAX, 1e-7),
    ),
    "multisteps_skip_not_finite_sum": (
        lambda m: m.MultiSteps(
            m.sgd(0.1), 3, use_grad_mean=False, should_skip_update_fn=m.skip_not_finite
        ).gradient_transformation(),
        (RTOL_OPTAX, 1e-7),
    ),
}


def skeleton(tree):
    """The state tree as plain data: node types (by name), fields, keys, and each leaf's
    shape and dtype. Equal skeletons mean a checkpoint moves between the libraries."""
    if tree is None:
        return None
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return (type(tree).__name__, tuple((f, skeleton(getattr(tree, f))) for f in tree._fields))
    if isinstance(tree, dict):  # JAX flattens a dict in key order, an OrderedDict as is
        items = tree.items() if type(tree) is not dict else sorted(tree.items())
        return (type(tree).__name__, tuple((k, skeleton(v)) for k, v in items))
    if isinstance(tree, (tuple, list)):
        return (type(tree).__name__, tuple(skeleton(x) for x in tree))
    x = jnp.asarray(tree)
    return ("leaf", x.shape, str(x.dtype))


def _step_both(tx_g, tx_o):
    def step(g, sg, so, pg, po):
        ug, sg = tx_g.update(g, sg, pg)
        uo, so = tx_o.update(g, so, po)
        return ug, uo, sg, so, gradtx.apply_updates(pg, ug), optax.apply_updates(po, uo)

    return step


def _n_steps(variant):
    return N_EAGER if variant.type == chex.ChexVariantType.WITHOUT_JIT else N_STEPS


def _run_both(variant, tx_g, tx_o, params, grads):
    step = variant(_step_both(tx_g, tx_o))
    sg, so = tx_g.init(params), tx_o.init(params)
    assert skeleton(sg) == skeleton(so), "init state trees differ"
    pg = po = params
    ugs, uos = [], []
    for g in unstack(grads):
        ug, uo, sg, so, pg, po = step(g, sg, so, pg, po)
        ugs.append(ug)
        uos.append(uo)
    stack = lambda us: jax.tree.map(lambda *xs: jnp.stack(xs), *us)  # noqa: E731
    return stack(ugs), stack(uos), sg, so


def _check_states(sg, so, rtol=RTOL_OPTAX, atol=1e-7):
    assert skeleton(sg) == skeleton(so), "state trees differ after the run"
    chex.assert_trees_all_close(jax.tree.leaves(sg), jax.tree.leaves(so), rtol=rtol, atol=atol)
    # flax serialization: an optax state restores into a gradtx template and back.
    restored = flax.serialization.from_state_dict(sg, flax.serialization.to_state_dict(so))
    assert skeleton(restored) == skeleton(sg)
    chex.assert_trees_all_equal(jax.tree.leaves(restored), jax.tree.leaves(so))
    back = flax.serialization.from_state_dict(so, flax.serialization.to_state_dict(sg))
    chex.assert_trees_all_equal(jax.tree.leaves(back), jax.tree.leaves(sg))


class EqualsOptaxAndReference(chex.TestCase, parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*[(name, *row) for name, row in CASES.items()])
    def test_case(self, make, ref):
        params, grads = make_problem(_n_steps(self.variant))
        ug, uo, sg, so = _run_both(self.variant, make(gradtx), make(optax), params, grads)
        chex.assert_trees_all_close(ug, uo, rtol=RTOL_OPTAX, atol=1e-7)
        assert_close(ug, run_reference(ref(), params, grads), RTOL_REF, FLOOR_REF)
        _check_states(sg, so)

    # jit only: tests/test_accumulation.py runs MultiSteps without jit.
    @chex.variants(with_jit=True)
    @parameterized.named_parameters(*[(name, *row) for name, row in OPTAX_ONLY.items()])
    def test_optax_only(self, make, tol):
        params, grads = make_problem(N_STEPS)
        ug, uo, sg, so = _run_both(self.variant, make(gradtx), make(optax), params, grads)
        chex.assert_trees_all_close(ug, uo, rtol=tol[0], atol=tol[1])
        _check_states(sg, so, *tol)


# --- Lookahead: params and updates are (fast, slow) pairs --------------------------------

CURV = {"matrix": np.linspace(0.5, 2.0, 12).reshape(3, 4), "vector": np.arange(1.0, 5.0)}


def _quad_grad(p):
    """The gradient of ``sum(c x^2) / 2``: ``c x``."""
    return {k: CURV[k] * v for k, v in p.items()}


@pytest.mark.parametrize("use_jit", [True, False], ids=["jit", "no_jit"])
@pytest.mark.parametrize("reset_state", [False, True], ids=["keep", "reset"])
def test_lookahead_equals_optax_and_reference(use_jit, reset_state):
    params0 = {k: jnp.asarray(np.cos(v), jnp.float32) for k, v in CURV.items()}
    curv = {k: jnp.asarray(v, jnp.float32) for k, v in CURV.items()}
    n, k, alpha = 7, 3, 0.5

    def run(m):
        opt = m.lookahead(m.sgd(0.1, momentum=0.9), k, alpha, reset_state=reset_state)
        params = m.LookaheadParams.init_synced(params0)
        state = opt.init(params)
        skel = skeleton(state)

        def step(params, state):
            g = jax.tree.map(jnp.multiply, curv, params.fast)
            u, state = opt.update(g, state, params)
            return m.apply_updates(params, u), state

        step = jax.jit(step) if use_jit else step
        out = []
        for _ in range(n):
            params, state = step(params, state)
            out.append(params)
        return out, state, skel

    (g_out, g_state, g_skel), (o_out, o_state, o_skel) = run(gradtx), run(optax)
    assert g_skel == o_skel and skeleton(g_state) == skeleton(o_state)
    assert type(g_out[0]).__name__ == "LookaheadParams" and g_out[0]._fields == ("fast", "slow")
    chex.assert_trees_all_close(
        [tuple(p) for p in g_out], [tuple(p) for p in o_out], rtol=RTOL_OPTAX, atol=1e-7
    )
    start = {k: np.cos(v) for k, v in CURV.items()}
    fasts, slows = A.lookahead_run(R.SGD(0.1, 0.9), _quad_grad, start, n, k, alpha, reset_state)
    for got, fast, slow in zip(g_out, fasts, slows, strict=True):
        assert_close(got.fast, fast, RTOL_REF, FLOOR_REF)
        assert_close(got.slow, slow, RTOL_REF, FLOOR_REF)


# --- target-network helpers ---------------------------------------------------------------


@pytest.mark.parametrize("use_jit", [True, False], ids=["jit", "no_jit"])
def test_incremental_and_periodic_update(use_jit):
    params, grads = make_problem(2)
    new = jax.tree.map(lambda x: x[0], grads)
    wrap = jax.jit if use_jit else (lambda f: f)
    for m in (gradtx, optax):
        inc = wrap(m.incremental_update)(new, params, 0.3)
        assert_close(inc, A.incremental_update(R.to64(new), R.to64(params), 0.3), 1e-6, 0.0)
        chex.assert_trees_all_close(inc, optax.incremental_update(new, params, 0.3), rtol=1e-6)
        for steps in (4, 5):
            per = wrap(m.periodic_update)(new, params, steps, 2)
            assert_close(per, A.periodic_update(R.to64(new), R.to64(params), steps, 2), 0, 0)


# --- tree_map_params ----------------------------------------------------------------------


def test_tree_map_params_equals_optax():
    params, _ = make_problem(1)
    specs = jax.tree.map(lambda x: f"spec{x.ndim}", params)
    for make in (
        lambda m: m.masked(m.adam(0.01), MASK),
        lambda m: m.partition({"adam": m.adam(0.01), "sgd": m.sgd(0.1, momentum=0.9)}, LABELS),
        lambda m: m.chain(m.clip_by_global_norm(1.0), m.ema(0.9), m.apply_every(2)),
    ):
        tx_g, tx_o = make(gradtx), make(optax)
        s_g, s_o = tx_g.init(params), tx_o.init(params)

        def f(_, spec):
            return spec

        def kw(m):
            masked_node = lambda v: isinstance(v, m.MaskedNode)  # noqa: E731
            return dict(transform_non_params=lambda _: "replicated", is_leaf=masked_node)

        mg = gradtx.tree_map_params(tx_g, f, s_g, specs, **kw(gradtx))
        mo = optax.tree_map_params(tx_o, f, s_o, specs, **kw(optax))
        assert skeleton_str(mg) == skeleton_str(mo)
        # optax's tree_map_params sees through gradtx's wrappers too.
        assert skeleton_str(optax.tree_map_params(tx_g, f, s_g, specs, **kw(gradtx))) == (
            skeleton_str(mo)
        )


def skeleton_str(tree):
    """Like :func:`skeleton` for a tree whose leaves are strings."""
    return skeleton(jax.tree.map(lambda s: np.zeros(len(s)), tree))


# --- semantics that the table does not reach ----------------------------------------------


def test_prefix_masks_and_extra_args():
    """A mask or label tree may be a prefix of the params; extra_args reach the inner
    transformation, masked like the updates when ``mask_compatible_extra_args``."""
    params = {"enc": {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}, "dec": {"w": jnp.ones(3)}}
    grads = jax.tree.map(lambda x: 0.5 * x, params)
    seen = {}

    def spy(updates, state, params=None, *, aux=None, **extra):
        seen["aux"] = aux
        return updates, state

    for m in (gradtx, optax):
        spy_tx = m.GradientTransformationExtraArgs(m.init_empty_state, spy)
        tx = m.masked(
            m.chain(m.sgd(1.0), spy_tx),
            {"enc": True, "dec": False},
            mask_compatible_extra_args=True,
        )
        u, _ = tx.update(grads, tx.init(params), params, aux=grads)
        assert isinstance(seen["aux"]["dec"], m.MaskedNode)
        np.testing.assert_array_equal(u["enc"]["w"], -0.5 * np.ones((2, 2)))
        np.testing.assert_array_equal(u["dec"]["w"], 0.5 * np.ones(3))
    tx = gradtx.partition(
        {"a": gradtx.sgd(1.0), "b": gradtx.set_to_zero()}, {"enc": "a", "dec": "b"}
    )
    u, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_array_equal(u["dec"]["w"], np.zeros(3))
    assert isinstance(gradtx.chain(), gradtx.GradientTransformationExtraArgs)


def test_whole_tree_freeze_and_named_chain_state_access():
    params, grads = make_problem(1)
    g = jax.tree.map(lambda x: x[0], grads)
    for m in (gradtx, optax):
        u, _ = m.freeze(True).update(g, m.freeze(True).init(params))
        assert all(not np.any(x) for x in jax.tree.leaves(u))
        tx = m.selective_transform(m.sgd(1.0), freeze_mask=False)
        u, _ = tx.update(g, tx.init(params), params)
        chex.assert_trees_all_close(u, jax.tree.map(jnp.negative, g))
    tx = gradtx.named_chain(("clip", gradtx.clip_by_global_norm(1.0)), ("adam", gradtx.adam(0.1)))
    assert int(tx.init(params)["adam"][0].count) == 0


def test_type_names_are_optax_names():
    for name in (
        "GradientTransformationExtraArgs",
        "TransformInitFn",
        "TransformUpdateFn",
        "TransformUpdateExtraArgsFn",
        "Schedule",
        "ScalarOrSchedule",
        "OptState",
        "Params",
        "Updates",
        "EmptyState",
        "MaskedNode",
        "MaskedState",
        "PartitionState",
        "MultiTransformState",
        "EmaState",
        "ApplyEvery",
        "LookaheadParams",
        "LookaheadState",
        "ConditionallyMaskState",
        "ConditionallyTransformState",
        "ShouldSkipUpdateFunction",
        "MaskOrFn",
    ):
        assert hasattr(optax, name) and hasattr(gradtx, name), name
        ours, theirs = getattr(gradtx, name), getattr(optax, name)
        if isinstance(theirs, type) and issubclass(theirs, tuple):
            assert ours._fields == theirs._fields, name
    assert issubclass(gradtx.GradientTransformationExtraArgs, gradtx.GradientTransformation)
    assert gradtx.multi_transform is gradtx.partition
    assert gradtx.init_empty_state(None) == gradtx.EmptyState()


# --- bad input: a ValueError/TypeError naming the parameter -------------------------------

ADAM = gradtx.adam(0.01)
PARAMS = {"matrix": jnp.ones((3, 4)), "vector": jnp.ones(4), "scalar": jnp.ones(())}

BAD = [
    ("masked_inner", lambda: gradtx.masked("adam", MASK), TypeError, "inner"),
    ("masked_mask_leaf", lambda: gradtx.masked(ADAM, {**MASK, "vector": 1}), TypeError, "mask"),
    (
        "masked_mask_tree",
        lambda: gradtx.masked(ADAM, {"matrix": True}).init(PARAMS),
        ValueError,
        "mask",
    ),
    (
        "masked_flag",
        lambda: gradtx.masked(ADAM, MASK, mask_compatible_extra_args="y"),
        TypeError,
        "mask_compatible_extra_args",
    ),
    ("partition_mapping", lambda: gradtx.partition([ADAM], LABELS), TypeError, "transforms"),
    ("partition_value", lambda: gradtx.partition({"adam": 3}, LABELS), TypeError, "transforms"),
    (
        "partition_labels",
        lambda: gradtx.partition({"adam": ADAM}, LABELS).init(PARAMS),
        ValueError,
        "param_labels",
    ),
    ("freeze_mask", lambda: gradtx.freeze({**MASK, "vector": "no"}), TypeError, "mask"),
    (
        "selective_freeze_mask",
        lambda: gradtx.selective_transform(ADAM, freeze_mask={"a": 2}),
        TypeError,
        "freeze_mask",
    ),
    ("cond_fn", lambda: gradtx.conditionally_mask(ADAM, 3), TypeError, "should_transform_fn"),
    ("cond_inner", lambda: gradtx.conditionally_transform(None, bool), TypeError, "inner"),
    (
        "cond_flag",
        lambda: gradtx.conditionally_transform(ADAM, bool, "y"),
        TypeError,
        "forward_extra_args",
    ),
    ("named_chain_pair", lambda: gradtx.named_chain(ADAM), TypeError, "named_chain"),
    (
        "named_chain_unique",
        lambda: gradtx.named_chain(("a", ADAM), ("a", ADAM)),
        ValueError,
        "names",
    ),
    ("stateless_f", lambda: gradtx.stateless(3), TypeError, "f must"),
    ("stateless_tree_map_f", lambda: gradtx.stateless_with_tree_map(None), TypeError, "f must"),
    ("with_extra_args_tx", lambda: gradtx.with_extra_args_support(1.0), TypeError, "tx"),
    ("ema_decay", lambda: gradtx.ema(1.5), ValueError, "decay"),
    ("ema_debias", lambda: gradtx.ema(0.9, debias="y"), TypeError, "debias"),
    ("measure", lambda: gradtx.measure_with_ema(3, 0.9), TypeError, "measure"),
    ("measure_decay", lambda: gradtx.measure_with_ema(_abs, -0.1), ValueError, "decay"),
    (
        "incremental_step_size",
        lambda: gradtx.incremental_update(PARAMS, PARAMS, 1.5),
        ValueError,
        "step_size",
    ),
    (
        "periodic_update_period",
        lambda: gradtx.periodic_update(PARAMS, PARAMS, 1, 0),
        ValueError,
        "update_period",
    ),
    ("lookahead_sync_period", lambda: gradtx.lookahead(ADAM, 0, 0.5), ValueError, "sync_period"),
    ("lookahead_alpha", lambda: gradtx.lookahead(ADAM, 2, 1.5), ValueError, "slow_step_size"),
    ("lookahead_reset", lambda: gradtx.lookahead(ADAM, 2, 0.5, "y"), TypeError, "reset_state"),
    ("lookahead_optimizer", lambda: gradtx.lookahead(None, 2, 0.5), TypeError, "fast_optimizer"),
    (
        "lookahead_params",
        lambda: gradtx.lookahead(ADAM, 2, 0.5).update(
            PARAMS, gradtx.lookahead(ADAM, 2, 0.5).init(PARAMS), PARAMS
        ),
        TypeError,
        "params",
    ),
    ("apply_every_k", lambda: gradtx.apply_every(0), ValueError, "k must"),
    (
        "multisteps_dtype",
        lambda: gradtx.MultiSteps(ADAM, 2, accumulator_dtype=jnp.int32),
        TypeError,
        "accumulator_dtype",
    ),
    (
        "multisteps_dtype_name",
        lambda: gradtx.MultiSteps(ADAM, 2, accumulator_dtype="nope"),
        TypeError,
        "accumulator_dtype",
    ),
    ("tree_map_params_initable", lambda: gradtx.tree_map_params(3, abs, {}), TypeError, "initable"),
]


@pytest.mark.parametrize("make,exc,match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_raises_naming_the_parameter(make, exc, match):
    with pytest.raises(exc, match=re.escape(match)):
        make()


# --- signatures, the param-groups page and the docstring examples ------------------------

SAME_SIGNATURE = (
    "masked partition multi_transform set_to_zero freeze selective_transform "
    "conditionally_mask conditionally_transform named_chain stateless stateless_with_tree_map "
    "with_extra_args_support init_empty_state tree_map_params ema measure_with_ema "
    "incremental_update periodic_update lookahead apply_every skip_not_finite "
    "skip_large_updates MultiSteps"
).split()


@pytest.mark.parametrize("name", SAME_SIGNATURE)
def test_signature_starts_with_optax_parameters(name):
    """optax's parameters, in optax's order, kinds and defaults; gradtx extras after.
    The one difference: MultiSteps' accumulator_dtype defaults to None (float32 for
    every non-float64 parameter, as optax's float32; float64 keeps float64)."""
    ours = list(inspect.signature(getattr(gradtx, name)).parameters.values())
    theirs = list(inspect.signature(getattr(optax, name)).parameters.values())
    assert [p.name for p in ours[: len(theirs)]] == [p.name for p in theirs]
    assert [p.kind for p in ours[: len(theirs)]] == [p.kind for p in theirs]
    for o, t in zip(ours, theirs, strict=False):
        if (name, o.name) == ("MultiSteps", "accumulator_dtype"):
            assert o.default is None
            continue
        assert o.default == t.default, (name, o.name)


def test_param_groups_page_runs():
    """Every ``python`` block of docs/param_groups.md, in order, in one namespace (its
    own asserts check the groups: decay on kernels only, the head's lr, optax restore)."""
    page = pathlib.Path(__file__).parent.parent / "docs" / "param_groups.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    assert len(blocks) >= 5
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)  # noqa: S102
    assert set(namespace["state"].inner_states) == {"train", "freeze"}


DOCTEST_MODULES = [
    "gradtx.base",
    "gradtx.transforms._masking",
    "gradtx.transforms._combining",
    "gradtx.transforms._freezing",
    "gradtx.transforms._conditionality",
    "gradtx.transforms._averaging",
    "gradtx.transforms._accumulating",
]


@pytest.mark.parametrize("module", DOCTEST_MODULES)
def test_docstring_examples_run(module):
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0 and result.failed == 0, result
