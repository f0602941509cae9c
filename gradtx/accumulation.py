"""Gradient accumulation: one optimiser step every ``k`` micro-batches.

When memory caps the batch, accumulate the gradients of ``k`` micro-batches and apply
the optimiser once with their mean: for a loss that is a mean over examples and
micro-batches of equal size this *is* one step on the concatenated batch of ``k``
times the size, for every optimiser (the optimiser only ever sees the mean gradient).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx._base import GradientTransformation, OptState, Params, Updates, _as_transformation
from gradtx._tree import (
    cast_like,
    check_updates,
    compute_dtype,
    safe_increment,
    zero_count,
    zeros_like,
)
from gradtx.hyperparams import own_buffers

ShouldSkipUpdateFn = Callable[[Updates, jax.Array, Params | None], tuple[jax.Array, Any]]


class MultiStepsState(NamedTuple):
    """State of :class:`MultiSteps` (the fields and their order are optax's)."""

    mini_step: jax.Array  # shape=(), dtype=int32: micro-batches accumulated in this window
    gradient_step: jax.Array  # shape=(), dtype=int32: inner optimiser steps taken so far
    inner_opt_state: Any  # the wrapped optimiser's state, untouched between its steps
    acc_grads: Any  # running mean (or sum) of this window's gradients, like params, >= f32
    skip_state: Any = ()  # whatever should_skip_update_fn returned last


def _no_skip(updates: Updates, gradient_step: jax.Array, params: Params | None):
    del updates, gradient_step, params
    return jnp.asarray(False), ()


class MultiSteps:
    r"""Accumulates gradients over ``k`` calls and applies ``opt`` once with their mean.

    On call ``j = 1, ..., k`` of a window the gradient is folded into a running mean
    (Welford's update, numerically stable):

    .. math::
        a_j = a_{j-1} + \frac{g_j - a_{j-1}}{j}, \qquad a_0 = 0,

    (``a_j = a_{j-1} + g_j`` when ``use_grad_mean=False``). Calls ``1..k-1`` return
    zero updates and leave the inner optimiser's state exactly as it was; call ``k``
    returns ``opt.update(a_k, inner_state, params)``, advances the inner state, and
    resets the window. ``k = every_k_schedule(gradient_step)`` may change from one
    inner step to the next (a growing effective batch size), where ``gradient_step``
    counts the inner steps taken so far. The inner step is selected with ``lax.cond``
    (no Python branching on traced values), so ``update`` is jittable and the inner
    optimiser is not evaluated on the ``k-1`` accumulation calls.

    Arguments and semantics are those of ``optax.MultiSteps`` (state
    :class:`MultiStepsState` has optax's fields; ``has_updated`` and
    ``gradient_transformation`` likewise). ``should_skip_update_fn(updates,
    gradient_step, params) -> (bool scalar, skip_state)`` rejects a micro-batch
    entirely: the state is left as if the call had not happened (only ``skip_state``
    is stored) and zero updates are returned. Differences from optax: with the default
    ``accumulator_dtype=None`` a float64 parameter accumulates in float64 (optax's
    default ``float32`` rounds it), and a bad argument raises at construction.

    Args:
      opt: the inner gradient transformation (gradtx or optax).
      every_k_schedule: the number of micro-batches per inner step, an ``int >= 1`` or
        a function of ``gradient_step`` returning one (an int32 scalar under ``jit``).
      use_grad_mean: average the accumulated gradients (default) or sum them.
      should_skip_update_fn: optional micro-batch rejection rule, see above
        (:func:`gradtx.skip_not_finite`, :func:`gradtx.skip_large_updates`).
      accumulator_dtype: dtype of ``acc_grads``. Default ``None``: the wider of
        float32 and each parameter's dtype, which is float32 (optax's default) for
        float32, bfloat16 and float16 parameters and float64 for float64 ones.

    Example::

        opt = gradtx.MultiSteps(gradtx.adam(1e-3), every_k_schedule=4)
        state = opt.init(params)
        for micro_batch in micro_batches:              # 4 calls = one Adam step
            grads = jax.grad(loss)(params, micro_batch)
            updates, state = opt.update(grads, state, params)
            params = gradtx.apply_updates(params, updates)  # zeros on 3 calls of 4

    Reference: the ``MultiSteps`` wrapper of optax (DeepMind, 2020); gradient
    accumulation as in Ott et al., *Scaling Neural Machine Translation*, WMT 2018.
    """

    def __init__(
        self,
        opt: GradientTransformation,
        every_k_schedule: int | Callable[[jax.Array], Any],
        use_grad_mean: bool = True,
        should_skip_update_fn: ShouldSkipUpdateFn | None = None,
        accumulator_dtype: Any | None = None,
    ) -> None:
        if not (callable(getattr(opt, "init", None)) and callable(getattr(opt, "update", None))):
            raise TypeError(
                f"opt must be a gradient transformation (an object with callable .init and "
                f".update), got {type(opt).__name__}"
            )
        if callable(every_k_schedule):
            self._every_k = every_k_schedule
        else:
            _checks.positive_int("every_k_schedule", every_k_schedule)
            k_const = int(every_k_schedule)
            self._every_k = lambda step: k_const
        if not isinstance(use_grad_mean, (bool, np.bool_)):
            raise TypeError(f"use_grad_mean must be a bool, got {use_grad_mean!r}")
        if should_skip_update_fn is not None and not callable(should_skip_update_fn):
            raise TypeError(
                f"should_skip_update_fn must be callable or None, got {should_skip_update_fn!r}"
            )
        self._opt = opt
        self._inner_init, self._inner_update = _as_transformation(opt, 0)
        self._use_grad_mean = bool(use_grad_mean)
        self._should_skip = should_skip_update_fn or _no_skip
        try:
            self._acc_dtype = None if accumulator_dtype is None else jnp.dtype(accumulator_dtype)
        except TypeError:
            raise TypeError(
                f"accumulator_dtype must be a dtype or None, got {accumulator_dtype!r}"
            ) from None
        if self._acc_dtype is not None and not jnp.issubdtype(self._acc_dtype, jnp.inexact):
            raise TypeError(
                f"accumulator_dtype must be a floating-point dtype, got {accumulator_dtype!r}"
            )

    def _acc_dtype_for(self, p: Any) -> Any:
        return compute_dtype(p) if self._acc_dtype is None else self._acc_dtype

    @property
    def inner_opt(self) -> GradientTransformation:
        """The wrapped optimiser."""
        return self._opt

    def _k(self, gradient_step: jax.Array) -> jax.Array:
        k = self._every_k(gradient_step)
        if not isinstance(k, jax.core.Tracer):
            k_value = np.asarray(k)
            if k_value.shape != () or k_value.dtype.kind not in "iu" or int(k_value) < 1:
                raise ValueError(
                    f"every_k_schedule({int(gradient_step)}) must be an integer >= 1, got {k!r}"
                )
        return jnp.asarray(k, jnp.int32)

    def init(self, params: Params) -> MultiStepsState:
        """``mini_step = gradient_step = 0``, zero accumulators, ``opt.init(params)``."""
        gradient_step = zero_count()
        self._k(gradient_step)  # validates a concrete schedule value early
        _, skip_state = self._should_skip(zeros_like(params), gradient_step, params)
        # should_skip_update_fn may return the params or its own arrays: the state owns
        # copies (a donated step would otherwise delete the caller's buffers).
        skip_state = own_buffers(skip_state)
        return MultiStepsState(
            mini_step=zero_count(),
            gradient_step=gradient_step,
            inner_opt_state=self._inner_init(params),
            acc_grads=jax.tree.map(
                lambda p: jnp.zeros(jnp.shape(p), self._acc_dtype_for(p)), params
            ),
            skip_state=skip_state,
        )

    def update(
        self,
        updates: Updates,
        state: MultiStepsState,
        params: Params | None = None,
        **extra_args: Any,
    ) -> tuple[Updates, MultiStepsState]:
        """Folds ``updates`` into the window; every ``k``-th call, one inner step."""
        check_updates(updates, state.acc_grads)
        k = self._k(state.gradient_step)
        skip, skip_state = self._should_skip(updates, state.gradient_step, params)
        skip = jnp.asarray(skip)
        if skip.shape != () or skip.dtype != jnp.bool_:
            raise ValueError(
                "should_skip_update_fn must return a boolean scalar as its first output, "
                f"got dtype {skip.dtype} and shape {skip.shape}"
            )

        n = state.mini_step
        if self._use_grad_mean:
            acc = jax.tree.map(
                lambda g, a: a + (g.astype(a.dtype) - a) / (n + 1).astype(a.dtype),
                updates,
                state.acc_grads,
            )
        else:
            acc = jax.tree.map(lambda g, a: a + g.astype(a.dtype), updates, state.acc_grads)

        def inner_step(_):
            new_updates, new_inner = self._inner_update(
                cast_like(acc, updates), state.inner_opt_state, params, **extra_args
            )
            return new_updates, cast_like(new_inner, state.inner_opt_state)

        out_shapes = jax.eval_shape(inner_step, None)[0]

        def hold(_):
            zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), out_shapes)
            return zeros, state.inner_opt_state

        emit = n >= k - 1
        step_now = jnp.logical_and(emit, jnp.logical_not(skip))
        new_updates, new_inner = jax.lax.cond(step_now, inner_step, hold, None)

        def select(if_skip, if_emit, otherwise):
            return jax.tree.map(
                lambda s, e, o: jnp.where(skip, s, jnp.where(emit, e, o)),
                if_skip,
                if_emit,
                otherwise,
            )

        mini_step, gradient_step, acc_grads = select(
            (n, state.gradient_step, state.acc_grads),
            (jnp.zeros_like(n), safe_increment(state.gradient_step), zeros_like(acc)),
            (safe_increment(n), state.gradient_step, acc),
        )
        return new_updates, MultiStepsState(
            mini_step=mini_step,
            gradient_step=gradient_step,
            inner_opt_state=new_inner,
            acc_grads=acc_grads,
            skip_state=skip_state,
        )

    def has_updated(self, state: MultiStepsState | OptState) -> jax.Array:
        """True right after a call that took an inner step (``mini_step == 0`` and
        ``gradient_step > 0``), as optax's."""
        return jnp.logical_and(state.mini_step == 0, state.gradient_step > 0)

    def gradient_transformation(self) -> GradientTransformation:
        """The wrapper as a plain :class:`gradtx.GradientTransformation` (to chain it)."""
        return GradientTransformation(self.init, self.update)


__all__ = ["MultiSteps", "MultiStepsState"]
