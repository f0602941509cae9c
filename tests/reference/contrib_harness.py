"""The bridge for the optax.contrib tests (issue 15): runs a table of cases through
gradtx.contrib and optax.contrib in ONE compiled function (each case a ``lax.scan`` over
the steps), eagerly for the no-jit check, and compares state trees and signatures.

A case is ``(name, make, ref, in_optax, extra)``: ``make(contrib_module)`` builds the
transformation from ``gradtx.contrib`` or ``optax.contrib`` with the same call, ``ref()``
its float64 NumPy reference (or None), ``extra`` the keyword arguments of ``update``.
"""

from __future__ import annotations

import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib

import gradtx
import gradtx.contrib

from .harness import make_problem, run_reference, unstack

N_STEPS = 50


def problem(n_steps: int = N_STEPS, seed: int = 0):
    return make_problem(n_steps, seed)


def run_reference_on(ref, params, grads):
    """The float64 reference's updates over ``grads`` (``harness.run_reference``)."""
    return run_reference(ref, params, grads)


def _step(tx, extra):
    def step(g, state, p):
        u, state = tx.update(g, state, p, **extra)
        return u, state, gradtx.apply_updates(p, u)

    return step


def scan(tx, params, grads, extra=None):
    """The updates of ``tx`` over ``grads`` (stacked on a leading axis), in a scan."""
    step = _step(tx, extra or {})

    def body(carry, g):
        state, p = carry
        u, state, p = step(g, state, p)
        return (state, p), u

    return jax.lax.scan(body, (tx.init(params), params), grads)[1]


def run_jitted(cases, params, grads):
    """``name -> (gradtx updates, optax updates or None)`` for every case, compiled once."""

    @jax.jit
    def all_cases(params, grads):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {
                name: (
                    scan(make(gradtx.contrib), params, grads, extra),
                    scan(make(optax.contrib), params, grads, extra) if in_optax else None,
                )
                for name, make, _, in_optax, extra in cases
            }

    return all_cases(params, grads)


def run_eager(tx, params, grads, extra=None):
    """The same run without jit: a Python loop of eager ``update`` calls."""
    step = _step(tx, extra or {})
    state, p, out = tx.init(params), params, []
    for g in unstack(grads):
        u, state, p = step(g, state, p)
        out.append(u)
    return jax.tree.map(lambda *xs: jnp.stack(xs), *out)


def skeleton(tree):
    """A state tree as checkpoints see it: field names, leaf shapes and dtypes."""

    def node(x):
        if isinstance(x, tuple) and hasattr(x, "_fields"):
            return (x._fields, tuple(node(c) for c in x))
        if isinstance(x, (tuple, list)):
            return tuple(node(c) for c in x)
        if isinstance(x, dict):
            return {k: node(v) for k, v in sorted(x.items())}
        if x is None:
            return None
        return (np.shape(x), str(jnp.result_type(x)))

    return node(tree)


def signature_matches(name: str, callable_defaults: tuple[str, ...] = ()) -> None:
    """optax.contrib's parameters, in order, kind and default; gradtx's extras after
    them, keyword-only. Defaults named in ``callable_defaults`` (functions, which never
    compare equal) are compared by their value at a few steps."""
    ours = list(inspect.signature(getattr(gradtx.contrib, name)).parameters.values())
    theirs = list(inspect.signature(getattr(optax.contrib, name)).parameters.values())
    assert [(p.name, p.kind) for p in ours[: len(theirs)]] == [
        (p.name, p.kind) for p in theirs
    ], name
    for a, b in zip(ours, theirs, strict=False):
        if a.name in callable_defaults:
            steps = jnp.arange(4)
            np.testing.assert_allclose(a.default(steps), b.default(steps))
        else:
            assert a.default == b.default, (name, a.name, a.default, b.default)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in ours[len(theirs):]), name


def state_moves_both_ways(make, params, grad, extra=None, rtol=1e-5):
    """The same state skeleton as optax's, and optax's state leaves loaded into gradtx's
    tree give optax's next update (a checkpoint moves both ways)."""
    ours_tx, theirs_tx = make(gradtx.contrib), make(optax.contrib)
    ours, theirs = ours_tx.init(params), theirs_tx.init(params)
    assert skeleton(ours) == skeleton(theirs)
    moved = jax.tree.unflatten(jax.tree.structure(ours), jax.tree.leaves(theirs))
    u_ours, _ = ours_tx.update(grad, moved, params, **(extra or {}))
    u_theirs, _ = theirs_tx.update(grad, theirs, params, **(extra or {}))
    for a, b in zip(jax.tree.leaves(u_ours), jax.tree.leaves(u_theirs), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=1e-7)
