"""Non-finite steps: skip an update whose gradients hold NaN/Inf, or zero the NaNs.

A few NaN steps (an overflow in mixed precision, a bad batch) must not destroy a run:
:func:`apply_if_finite` drops such a step before it reaches the optimiser's moments,
:func:`zero_nans` replaces NaN entries by zero and records where it did.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation, _as_transformation
from gradtx.tree._core import cast_like, check_updates, safe_increment, zero_count


class ApplyIfFiniteState(NamedTuple):
    """State of :func:`apply_if_finite` (the fields and their order are optax's)."""

    notfinite_count: jax.Array  # shape=(), dtype=int32: consecutive non-finite steps
    last_finite: jax.Array  # shape=(), dtype=bool: was the last gradient finite
    total_notfinite: jax.Array  # shape=(), dtype=int32: non-finite steps in the whole run
    inner_state: Any  # the wrapped optimiser's state


def _all_finite(tree: Any) -> jax.Array:
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.asarray(True)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def apply_if_finite(
    inner: GradientTransformation, max_consecutive_errors: int
) -> GradientTransformation:
    r"""Skips any update whose gradients contain a NaN or an Inf, up to a limit.

    With ``f_t`` = "every entry of ``g_t`` is finite" and ``c_t`` the number of
    consecutive non-finite steps up to and including ``t``:

    .. math::
        c_t = \begin{cases} 0 & f_t \\ c_{t-1} + 1 & \text{otherwise}\end{cases},\qquad
        (u_t, s_t) = \begin{cases} \mathrm{inner}(g_t, s_{t-1}) & f_t \lor
        c_t > \text{max\_consecutive\_errors} \\ (0, s_{t-1}) & \text{otherwise}\end{cases}

    A skipped step returns zero updates (so ``apply_updates`` leaves the params as they
    are) and keeps the inner state exactly as it was (no NaN enters Adam's moments, no
    step is counted). After more than ``max_consecutive_errors`` consecutive
    non-finite steps the wrapper gives up and lets the update through (NaNs included),
    so a run that has really diverged fails visibly instead of silently standing still;
    this is optax's rule. ``total_notfinite`` counts every non-finite step of the run.
    The choice uses ``lax.cond``: jittable, and the inner update is not evaluated on a
    skipped step. Same semantics and state fields as ``optax.apply_if_finite``.

    Args:
        inner: the wrapped gradient transformation (gradtx or optax).
        max_consecutive_errors: how many consecutive non-finite steps to skip, an
            ``int >= 0`` (no default, as in optax).

    Returns:
        A :class:`gradtx.GradientTransformation` whose state is
        :class:`ApplyIfFiniteState` (``notfinite_count``, ``last_finite``,
        ``total_notfinite``, ``inner_state``; optax's fields in optax's order). Its
        ``update`` passes ``params`` and extra keyword arguments on to ``inner``.

    Raises:
        TypeError: ``inner`` has no callable ``init`` and ``update``; or (from
            ``update``) a gradient leaf is not floating point.
        ValueError: ``max_consecutive_errors`` is not an ``int >= 0`` (a bool is
            rejected too).

    References:
        optax's ``apply_if_finite`` (DeepMind); dynamic loss scaling, Micikevicius et
        al., *Mixed Precision Training*, ICLR 2018, skips such steps the same way.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.apply_if_finite(gradtx.sgd(0.1), max_consecutive_errors=1)
        >>> params = jnp.array([1.0, 2.0])
        >>> state = opt.init(params)
        >>> u, state = opt.update(jnp.array([jnp.nan, 1.0]), state)  # skipped
        >>> u.tolist(), int(state.notfinite_count), int(state.total_notfinite)
        ([0.0, 0.0], 1, 1)
        >>> u, state = opt.update(jnp.array([1.0, 1.0]), state)  # finite: applied
        >>> [round(x, 4) for x in u.tolist()], int(state.notfinite_count)
        ([-0.1, -0.1], 0)
        >>> bool(state.last_finite), int(state.total_notfinite)
        (True, 1)
    """
    _checks.transformation("inner", inner)
    if (
        isinstance(max_consecutive_errors, bool)
        or not isinstance(max_consecutive_errors, int)
        or max_consecutive_errors < 0
    ):
        raise ValueError(
            f"max_consecutive_errors must be an integer >= 0, got {max_consecutive_errors!r}"
        )
    inner_init, inner_update = _as_transformation(inner, 0)

    def init_fn(params):
        return ApplyIfFiniteState(
            notfinite_count=zero_count(),
            last_finite=jnp.asarray(True),
            total_notfinite=zero_count(),
            inner_state=inner_init(params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        check_updates(updates)
        finite = _all_finite(updates)
        notfinite_count = jnp.where(finite, zero_count(), safe_increment(state.notfinite_count))

        def apply(_):
            new_updates, new_inner = inner_update(updates, state.inner_state, params, **extra_args)
            return new_updates, cast_like(new_inner, state.inner_state)

        out_shapes = jax.eval_shape(apply, None)[0]

        def reject(_):
            zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), out_shapes)
            return zeros, state.inner_state

        go = jnp.logical_or(finite, notfinite_count > max_consecutive_errors)
        new_updates, new_inner = jax.lax.cond(go, apply, reject, None)
        return new_updates, ApplyIfFiniteState(
            notfinite_count=notfinite_count,
            last_finite=finite,
            total_notfinite=jnp.where(
                finite, state.total_notfinite, safe_increment(state.total_notfinite)
            ),
            inner_state=new_inner,
        )

    return GradientTransformation(init_fn, update_fn)


class ZeroNansState(NamedTuple):
    """State of :func:`zero_nans` (optax's): per parameter leaf, a bool scalar."""

    found_nan: Any  # like params, each leaf shape=(), dtype=bool: NaN in the last update


def zero_nans() -> GradientTransformation:
    r"""Replaces every NaN in the updates by 0 and records, per leaf, that it did.

    .. math::
        u_t = \begin{cases} 0 & g_t \text{ is NaN} \\ g_t & \text{otherwise}\end{cases}
        \quad\text{(elementwise)},\qquad
        \text{found\_nan}_\ell = \textstyle\bigvee_i \mathrm{isnan}(g_{t,\ell,i})

    ``+/-Inf`` entries are left as they are (only NaNs are replaced). The state is
    :class:`ZeroNansState`: one boolean per parameter leaf, True iff that leaf's last
    update held a NaN; it is a flag for monitoring, not a running count, exactly as in
    ``optax.zero_nans`` (for a count of skipped steps use :func:`apply_if_finite`'s
    ``total_notfinite``). Put it first in a chain so the optimiser never sees a NaN.

    Returns:
        A :class:`gradtx.GradientTransformation` without hyperparameters; its state is
        :class:`ZeroNansState` (``found_nan``: a tree like the params of bool scalars,
        all False after ``init``). ``update`` does not need the params.

    Raises:
        TypeError: (from ``update``) a gradient leaf is not floating point.

    Source: optax's ``zero_nans`` (DeepMind).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.zero_nans()
        >>> grads = {"a": jnp.array([1.0, jnp.nan, jnp.inf]), "b": jnp.array([2.0])}
        >>> state = opt.init(grads)
        >>> u, state = opt.update(grads, state)
        >>> u["a"].tolist(), u["b"].tolist()
        ([1.0, 0.0, inf], [2.0])
        >>> bool(state.found_nan["a"]), bool(state.found_nan["b"])
        (True, False)
    """

    def init_fn(params):
        return ZeroNansState(found_nan=jax.tree.map(lambda p: jnp.asarray(False), params))

    def update_fn(updates, state, params=None, **extra_args):
        del state, params, extra_args
        check_updates(updates)
        found = jax.tree.map(lambda g: jnp.any(jnp.isnan(g)), updates)
        cleaned = jax.tree.map(lambda g: jnp.where(jnp.isnan(g), jnp.zeros_like(g), g), updates)
        return cleaned, ZeroNansState(found_nan=found)

    return GradientTransformation(init_fn, update_fn)


__all__ = ["ApplyIfFiniteState", "ZeroNansState", "apply_if_finite", "zero_nans"]
