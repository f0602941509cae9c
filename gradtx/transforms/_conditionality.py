"""Conditional updates: run the inner transformation only at the steps a predicate
selects (optax's ``conditionally_transform`` and ``conditionally_mask``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.base import GradientTransformationExtraArgs, OptState, _with_extra_args
from gradtx.tree._core import safe_increment, zero_count

ConditionFn = Callable[..., Any]  # (step, **extra_args) -> bool scalar


class ConditionallyTransformState(NamedTuple):
    """State of :func:`conditionally_transform` (optax's fields and order)."""

    inner_state: Any  # the inner transformation's state
    step: jax.Array  # shape=(), dtype=int32: calls of update so far


class ConditionallyMaskState(NamedTuple):
    """State of :func:`conditionally_mask` (optax's fields and order)."""

    step: jax.Array  # shape=(), dtype=int32: calls of update so far
    inner_state: OptState  # the inner transformation's state


def _check(inner: Any, should_transform_fn: Any, forward_extra_args: Any, who: str):
    if not callable(should_transform_fn):
        raise TypeError(f"{who}: should_transform_fn must be callable, got {should_transform_fn!r}")
    if not isinstance(forward_extra_args, (bool, np.bool_)):
        raise TypeError(f"{who}: forward_extra_args must be a bool, got {forward_extra_args!r}")
    return _with_extra_args(inner, f"{who}: inner")


def _condition(fn, step, extra_args, forward):
    ok = jnp.asarray(fn(step, **(extra_args if forward else {})))
    if ok.shape != ():
        raise ValueError(f"should_transform_fn must return a scalar, got shape {ok.shape}")
    return ok.astype(bool)


def conditionally_transform(
    inner: Any, should_transform_fn: ConditionFn, forward_extra_args: bool = False
) -> GradientTransformationExtraArgs:
    r"""Runs ``inner`` only at the steps where ``should_transform_fn(step)`` is true;
    at the other steps the updates pass through unchanged and ``inner``'s state is kept.

    .. math::
        (u_t, s_{t+1}) = \begin{cases} \mathrm{inner}(g_t, s_t) & c(t) \\
        (g_t, s_t) & \text{otherwise} \end{cases}, \qquad t = 0, 1, \ldots

    Selected with ``lax.cond`` (jittable). As ``optax.conditionally_transform``.

    Args:
      inner: the transformation to run.
      should_transform_fn: ``c(step, **extra_args) -> bool scalar``; ``step`` is the
        int32 count of previous ``update`` calls.
      forward_extra_args: pass ``update``'s keyword ``extra_args`` to
        ``should_transform_fn`` too (default ``False``).

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs`; state
      :class:`ConditionallyTransformState`.

    Raises:
      TypeError: for a non-transformation ``inner`` or a non-callable predicate.

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> tx = gradtx.conditionally_transform(gradtx.scale(10.0), lambda step: step % 2 == 0)
      >>> state = tx.init(jnp.ones(()))
      >>> u0, state = tx.update(jnp.ones(()), state)
      >>> u1, state = tx.update(jnp.ones(()), state)
      >>> float(u0), float(u1)
      (10.0, 1.0)
    """
    inner = _check(inner, should_transform_fn, forward_extra_args, "conditionally_transform")

    def init_fn(params):
        return ConditionallyTransformState(inner_state=inner.init(params), step=zero_count())

    def update_fn(updates, state, params=None, **extra_args):
        ok = _condition(should_transform_fn, state.step, extra_args, forward_extra_args)
        new_updates, new_inner = jax.lax.cond(
            ok,
            lambda _: inner.update(updates, state.inner_state, params, **extra_args),
            lambda _: (updates, state.inner_state),
            None,
        )
        return new_updates, ConditionallyTransformState(new_inner, safe_increment(state.step))

    return GradientTransformationExtraArgs(init_fn, update_fn)


def conditionally_mask(
    inner: Any, should_transform_fn: ConditionFn, forward_extra_args: bool = False
) -> GradientTransformationExtraArgs:
    r"""Runs ``inner`` only at the steps where ``should_transform_fn(step)`` is true;
    at the other steps the updates are zero and ``inner``'s state is kept.

    .. math::
        (u_t, s_{t+1}) = \begin{cases} \mathrm{inner}(g_t, s_t) & c(t) \\
        (0, s_t) & \text{otherwise} \end{cases}, \qquad t = 0, 1, \ldots

    Selected with ``lax.cond`` (jittable). As ``optax.conditionally_mask``.

    Args:
      inner: the transformation to run.
      should_transform_fn: ``c(step, **extra_args) -> bool scalar``; ``step`` is the
        int32 count of previous ``update`` calls.
      forward_extra_args: pass ``update``'s keyword ``extra_args`` to
        ``should_transform_fn`` too (default ``False``).

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs`; state
      :class:`ConditionallyMaskState`.

    Raises:
      TypeError: for a non-transformation ``inner`` or a non-callable predicate.

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> tx = gradtx.conditionally_mask(gradtx.scale(10.0), lambda step: step >= 1)
      >>> state = tx.init(jnp.ones(()))
      >>> u0, state = tx.update(jnp.ones(()), state)
      >>> u1, state = tx.update(jnp.ones(()), state)
      >>> float(u0), float(u1)
      (0.0, 10.0)
    """
    inner = _check(inner, should_transform_fn, forward_extra_args, "conditionally_mask")

    def init_fn(params):
        return ConditionallyMaskState(step=zero_count(), inner_state=inner.init(params))

    def update_fn(updates, state, params=None, **extra_args):
        ok = _condition(should_transform_fn, state.step, extra_args, forward_extra_args)

        def do(_):
            return inner.update(updates, state.inner_state, params, **extra_args)

        def skip(_):
            out = jax.eval_shape(do, None)[0]
            return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), out), state.inner_state

        new_updates, new_inner = jax.lax.cond(ok, do, skip, None)
        return new_updates, ConditionallyMaskState(safe_increment(state.step), new_inner)

    return GradientTransformationExtraArgs(init_fn, update_fn)


__all__ = [
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "conditionally_mask",
    "conditionally_transform",
]
