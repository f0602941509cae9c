"""Shared test harness: the problem (a tree with a matrix, a vector and a scalar, and a
sequence of random gradients), the runners for gradtx/optax (JAX) and for the NumPy
references, and the tables of cases that the tests and ``report_errors.py`` share.

The references themselves live in :mod:`transforms_ref` and never import gradtx or optax;
this module is the bridge.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

import gradtx

from . import transforms_ref as R

SHAPES = {"matrix": (3, 4), "vector": (4,), "scalar": ()}
N_STEPS = 60


def eager_jitted(schedule: Callable) -> Callable:
    """``schedule`` as it is for NumPy/Python steps (the references) and traced steps
    (jit), and jitted for an eager JAX step.

    An eager step count is a concrete integer, for which ``c**k`` is ``lax.integer_pow``
    specialised on ``k``: a new program compiled for every step (60 per test process, ~20
    ms each). Jitted, the eager tests evaluate the test's schedule as the jitted tests do
    (``k`` traced: one program for every step); the transformations under test still run
    eagerly.
    """
    jitted = jax.jit(schedule)

    @functools.wraps(schedule)
    def fn(k):
        if isinstance(k, jax.Array) and not isinstance(k, jax.core.Tracer):
            return jitted(k)
        return schedule(k)

    return fn


@eager_jitted
def decay_schedule(k):
    """A learning-rate schedule usable both by JAX (traced ``k``) and by the references."""
    return 0.01 * 0.97**k


def wd_schedule(k):
    return 0.1 / (1.0 + 0.05 * k)


def make_problem(n_steps: int = N_STEPS, seed: int = 0, dtype: Any = jnp.float32):
    """Params (a dict of arrays) and ``n_steps`` gradients stacked on a leading axis.

    Each step's gradient is scaled by a log-normal factor so magnitudes vary over the run
    (clipping and the adaptive step sizes see both small and large gradients).
    """
    rng = np.random.default_rng(seed)
    params = {k: jnp.asarray(rng.normal(size=s), dtype) for k, s in SHAPES.items()}
    scales = np.exp(rng.normal(size=n_steps))
    grads = {
        k: jnp.asarray(
            rng.normal(size=(n_steps, *s)) * scales.reshape((-1,) + (1,) * len(s)), dtype
        )
        for k, s in SHAPES.items()
    }
    return params, grads


def step_fn(tx) -> Callable:
    """One optimisation step: ``(grads, state, params) -> (updates, state, new_params)``."""

    def step(g, state, p):
        u, state = tx.update(g, state, p)
        return u, state, gradtx.apply_updates(p, u)

    return step


def unstack(tree: Any) -> list[Any]:
    """The slices ``jax.tree.map(lambda x: x[i], tree)`` along the leading axis, as JAX
    arrays of the same values, dtypes and placement, each leaf a host-to-device copy of
    a NumPy view: ``x[i]`` of a JAX array is two eager ops (``dynamic_slice``,
    ``squeeze``) per leaf and step, the loop's main cost outside the step itself."""
    leaves = jax.tree.leaves(tree)
    if not all(isinstance(x, jax.Array) and not x.weak_type and not x.committed
               for x in leaves):  # fmt: skip
        return [jax.tree.map(lambda x, i=i: x[i], tree) for i in range(leaves[0].shape[0])]
    host = jax.tree.map(np.asarray, tree)
    return [jax.tree.map(lambda x, i=i: jax.device_put(x[i]), host)
            for i in range(leaves[0].shape[0])]  # fmt: skip


def run_steps(step: Callable, state: Any, params: Any, grads: Any) -> Any:
    """Runs ``step`` in a Python loop over the leading axis of ``grads``; returns the
    updates stacked on a leading axis. ``step`` may be jitted (compiled once, reused)."""
    out = []
    for g in unstack(grads):
        u, state, params = step(g, state, params)
        out.append(u)
    return jax.tree.map(lambda *xs: jnp.stack(xs), *out)


def run_scan(tx, params: Any, grads: Any) -> Any:
    """Runs ``tx`` over the gradients inside one ``lax.scan`` (call it under ``jit``)."""
    step = step_fn(tx)

    def body(carry, g):
        state, p = carry
        u, state, p = step(g, state, p)
        return (state, p), u

    _, updates = jax.lax.scan(body, (tx.init(params), params), grads)
    return updates


def run_reference(ref: R.Ref, params: Any, grads: Any) -> dict[str, np.ndarray]:
    """Runs a NumPy reference in float64 on the same params and gradients; returns the
    updates stacked on a leading axis."""
    p = R.to64(params)
    g_all = R.to64(grads)
    n = next(iter(g_all.values())).shape[0]
    ref.init(p)
    out = []
    for i in range(n):
        u = ref.update({k: v[i] for k, v in g_all.items()}, p)
        p = R.tmap(np.add, p, u)
        out.append(u)
    return {k: np.stack([u[k] for u in out]) for k in p}


def assert_close(actual: Any, expected: Any, rtol: float, floor: float) -> None:
    """``|a - e| <= rtol |e| + floor * max|e|`` leaf by leaf.

    ``floor`` is relative to the largest expected update of the leaf: it covers the
    elements that are differences of nearly equal terms (e.g. NAdam's momentum
    correction, centred RMSProp's variance), where float32 rounding is absolute.
    """
    for k in expected:
        e = np.asarray(expected[k], np.float64)
        a = np.asarray(actual[k], np.float64)
        chex.assert_trees_all_close(a, e, rtol=rtol, atol=floor * float(np.max(np.abs(e))))


def max_rel_error(actual: Any, expected: Any, floor: float = 1e-6) -> float:
    """The largest ``|a - e| / (|e| + floor * max|e|)`` over every element."""
    worst = 0.0
    for k in expected:
        e = np.asarray(expected[k], np.float64)
        a = np.asarray(actual[k], np.float64)
        denom = np.abs(e) + floor * float(np.max(np.abs(e)))
        worst = max(worst, float(np.max(np.abs(a - e) / denom)))
    return worst


class Case(NamedTuple):
    """An optimiser configuration: ``make(module)`` builds it from ``gradtx`` or, when
    ``in_optax``, from ``optax`` with the same call; ``ref()`` builds its NumPy reference."""

    name: str
    make: Callable[[Any], Any]
    ref: Callable[[], R.Ref]
    in_optax: bool
    source: str  # what the reference is written from


OPTIMIZER_CASES = [
    Case("sgd", lambda m: m.sgd(0.1), lambda: R.SGD(0.1), True, "torch SGD algorithm"),
    Case(
        "sgd_momentum",
        lambda m: m.sgd(0.1, momentum=0.9),
        lambda: R.SGD(0.1, 0.9),
        True,
        "torch SGD algorithm",
    ),
    Case(
        "sgd_nesterov",
        lambda m: m.sgd(0.1, momentum=0.9, nesterov=True),
        lambda: R.SGD(0.1, 0.9, True),
        True,
        "torch SGD algorithm",
    ),
    Case(
        "sgd_schedule",
        lambda m: m.sgd(decay_schedule, momentum=0.5),
        lambda: R.SGD(decay_schedule, 0.5),
        True,
        "torch SGD algorithm",
    ),
    Case(
        "adagrad",
        lambda m: m.adagrad(0.1),
        lambda: R.Adagrad(0.1),
        True,
        "Duchi et al. 2011 (optax form)",
    ),
    Case(
        "rmsprop",
        lambda m: m.rmsprop(0.01),
        lambda: R.RMSProp(0.01),
        True,
        "Tieleman & Hinton 2012",
    ),
    Case(
        "rmsprop_centered",
        lambda m: m.rmsprop(0.01, centered=True),
        lambda: R.RMSProp(0.01, centered=True),
        True,
        "Graves 2013",
    ),
    Case(
        "rmsprop_torch_bc",
        lambda m: m.rmsprop(0.01, eps_in_sqrt=False, bias_correction=True),
        lambda: R.RMSProp(0.01, eps_in_sqrt=False, bias_correction=True),
        True,
        "Tieleman & Hinton 2012",
    ),
    Case(
        "rmsprop_momentum",
        lambda m: m.rmsprop(decay_schedule, initial_scale=0.1, momentum=0.9),
        lambda: R.RMSProp(decay_schedule, initial_scale=0.1, momentum=0.9),
        True,
        "Tieleman & Hinton 2012",
    ),
    Case(
        "rmsprop_centered_nesterov",
        lambda m: m.rmsprop(
            0.01, decay=0.95, centered=True, momentum=0.5, nesterov=True, eps_in_sqrt=False
        ),
        lambda: R.RMSProp(
            0.01, decay=0.95, centered=True, momentum=0.5, nesterov=True, eps_in_sqrt=False
        ),
        True,
        "Graves 2013",
    ),
    Case(
        "adadelta",
        lambda m: m.adadelta(0.5),
        lambda: R.Adadelta(0.5),
        True,
        "Zeiler 2012 / torch Adadelta",
    ),
    Case(
        "adadelta_wd",
        lambda m: m.adadelta(1.0, rho=0.8, eps=1e-4, weight_decay=0.1),
        lambda: R.Adadelta(1.0, rho=0.8, eps=1e-4, weight_decay=0.1),
        True,
        "Zeiler 2012 / torch Adadelta",
    ),
    Case("adam", lambda m: m.adam(0.01), lambda: R.Adam(0.01), True, "Kingma & Ba 2015"),
    Case(
        "adam_schedule",
        lambda m: m.adam(decay_schedule, b1=0.8, b2=0.99, eps_root=1e-8),
        lambda: R.Adam(decay_schedule, b1=0.8, b2=0.99, eps_root=1e-8),
        True,
        "Kingma & Ba 2015",
    ),
    Case(
        "adamw",
        lambda m: m.adamw(0.01, weight_decay=0.1),
        lambda: R.Adam(0.01, weight_decay=0.1),
        True,
        "Loshchilov & Hutter 2019",
    ),
    Case(
        "adamw_mask_schedule",
        lambda m: m.adamw(
            0.01, weight_decay=wd_schedule, mask={"matrix": True, "vector": False, "scalar": True}
        ),
        lambda: R.Adam(
            0.01, weight_decay=wd_schedule, mask={"matrix": True, "vector": False, "scalar": True}
        ),
        True,
        "Loshchilov & Hutter 2019",
    ),
    Case("amsgrad", lambda m: m.amsgrad(0.01), lambda: R.AMSGrad(0.01), True, "Reddi et al. 2018"),
    Case(
        "nadam",
        lambda m: m.nadam(0.01),
        lambda: R.Adam(0.01, nesterov=True),
        True,
        "Dozat 2016 (optax form)",
    ),
    Case(
        "yogi",
        lambda m: m.yogi(0.01),
        lambda: R.Yogi(0.01),
        True,
        "Zaheer et al. 2018 (optax form)",
    ),
    Case(
        "adabound",
        lambda m: m.adabound(),
        lambda: R.AdaBoundTorch(),
        False,
        "Luolc/AdaBound adabound.py (port)",
    ),
    Case(
        "adabound_fast_bounds_wd",
        lambda m: m.adabound(0.01, final_lr=0.05, gamma=0.05, weight_decay=0.01),
        lambda: R.AdaBoundTorch(0.01, final_lr=0.05, gamma=0.05, weight_decay=0.01),
        False,
        "Luolc/AdaBound adabound.py (port)",
    ),
    Case(
        "adabound_schedule",
        lambda m: m.adabound(decay_schedule, final_lr=0.05, gamma=0.05),
        lambda: R.AdaBoundTorch(decay_schedule, final_lr=0.05, gamma=0.05),
        False,
        "Luolc/AdaBound adabound.py (port)",
    ),
    Case(
        "amsbound",
        lambda m: m.amsbound(),
        lambda: R.AdaBoundTorch(amsbound=True),
        False,
        "Luolc/AdaBound adabound.py (port)",
    ),
    Case(
        "amsbound_schedule_wd",
        lambda m: m.amsbound(decay_schedule, final_lr=0.05, gamma=0.05, weight_decay=0.01),
        lambda: R.AdaBoundTorch(
            decay_schedule, final_lr=0.05, gamma=0.05, weight_decay=0.01, amsbound=True
        ),
        False,
        "Luolc/AdaBound adabound.py (port)",
    ),
]
