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
from gradtx.base import GradientTransformation, OptState, Params, Updates, _as_transformation
from gradtx.schedules._inject import own_buffers
from gradtx.tree._core import (
    MOMENT,
    cast_like,
    check_updates,
    compute_dtype,
    safe_increment,
    state_dtype,
    zero_count,
    zeros_like,
)

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
            a function of ``gradient_step`` (an int32 scalar) returning one (an int32
            scalar under ``jit``).
        use_grad_mean: average the accumulated gradients (default True) or sum them.
        should_skip_update_fn: optional micro-batch rejection rule, see above
            (:func:`gradtx.skip_not_finite`, :func:`gradtx.skip_large_updates`); default
            None: no micro-batch is rejected.
        accumulator_dtype: dtype of ``acc_grads``. Default ``None``: the wider of
            float32 and each parameter's dtype, which is float32 (optax's default) for
            float32, bfloat16 and float16 parameters and float64 for float64 ones.

    Returns:
        (The constructor.) An object with ``init``, ``update``, ``has_updated``,
        ``gradient_transformation()`` and ``inner_opt``; its state is
        :class:`MultiStepsState` (``mini_step``, ``gradient_step``,
        ``inner_opt_state``, ``acc_grads``, ``skip_state``).

    Raises:
        TypeError: ``opt`` has no callable ``init``/``update``; ``use_grad_mean`` is not
            a bool; ``should_skip_update_fn`` is neither callable nor None;
            ``accumulator_dtype`` is not a floating-point dtype.
        ValueError: a constant ``every_k_schedule`` is not an integer ``>= 1``; a
            schedule returns a concrete value that is not (raised by ``init`` /
            ``update``); ``should_skip_update_fn`` does not return a boolean scalar
            first (raised by ``update``).

    References:
        the ``MultiSteps`` wrapper of optax (DeepMind, 2020); gradient accumulation as
        in Ott et al., *Scaling Neural Machine Translation*, WMT 2018.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.MultiSteps(gradtx.sgd(1.0), every_k_schedule=2)
        >>> params = jnp.array([0.0, 0.0])
        >>> state = opt.init(params)
        >>> u, state = opt.update(jnp.array([1.0, 2.0]), state, params)
        >>> u.tolist(), bool(opt.has_updated(state))  # call 1 of 2: held back
        ([0.0, 0.0], False)
        >>> u, state = opt.update(jnp.array([3.0, 6.0]), state, params)
        >>> u.tolist(), bool(opt.has_updated(state))  # call 2: -lr * mean gradient
        ([-2.0, -4.0], True)
        >>> int(state.gradient_step), int(state.mini_step)
        (1, 0)

    In a training loop, ``k`` calls of ``update`` (one per micro-batch) make one inner
    step; ``apply_updates`` is called every time (the held-back updates are zeros)::

        opt = gradtx.MultiSteps(gradtx.adam(1e-3), every_k_schedule=4)
        state = opt.init(params)
        for micro_batch in micro_batches:              # 4 calls = one Adam step
            grads = jax.grad(loss)(params, micro_batch)
            updates, state = opt.update(grads, state, params)
            params = gradtx.apply_updates(params, updates)  # zeros on 3 calls of 4
    """

    def __init__(
        self,
        opt: GradientTransformation,
        every_k_schedule: int | Callable[[jax.Array], Any],
        use_grad_mean: bool = True,
        should_skip_update_fn: ShouldSkipUpdateFn | None = None,
        accumulator_dtype: Any | None = None,
    ) -> None:
        _checks.transformation("opt", opt)
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
        if self._acc_dtype is None:
            return compute_dtype(p)
        # a complex parameter's accumulator stays complex (both parts are gradients)
        return state_dtype(jnp.result_type(p), MOMENT, self._acc_dtype)

    @property
    def inner_opt(self) -> GradientTransformation:
        """The wrapped optimiser ``opt``, as given to the constructor.

        Returns:
            The inner gradient transformation.

        Example:
            >>> import gradtx
            >>> inner = gradtx.sgd(0.1)
            >>> gradtx.MultiSteps(inner, 2).inner_opt is inner
            True
        """
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
        """The initial state: an empty window and the inner optimiser's initial state.

        ``mini_step = gradient_step = 0``, zero accumulators, ``opt.init(params)``; the
        skip rule's state is the second output of
        ``should_skip_update_fn(zeros_like(params), 0, params)`` (copied, so the state
        owns its buffers).

        Args:
            params: the parameter pytree (arrays of any shapes and dtypes).

        Returns:
            A :class:`MultiStepsState`: ``acc_grads`` zeros like ``params`` in the
            accumulator dtype, int32 scalar counters at 0.

        Raises:
            ValueError: ``every_k_schedule(0)`` is concrete and not an integer ``>= 1``.

        Example:
            >>> import gradtx, jax.numpy as jnp
            >>> opt = gradtx.MultiSteps(gradtx.sgd(0.1), every_k_schedule=3)
            >>> state = opt.init({"w": jnp.ones(2, jnp.bfloat16)})
            >>> int(state.mini_step), state.acc_grads["w"].dtype
            (0, dtype('float32'))
        """
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
        r"""Folds ``updates`` into the window; every ``k``-th call, one inner step.

        .. math::
            a_j = a_{j-1} + \frac{g_j - a_{j-1}}{j},\qquad
            u = \begin{cases} \mathrm{opt.update}(a_k, s, p) & j = k \\ 0 &
            j < k \end{cases}

        with ``k = every_k_schedule(gradient_step)`` and ``j = mini_step + 1``. A
        micro-batch rejected by ``should_skip_update_fn`` leaves the state unchanged
        (except ``skip_state``) and returns zeros.

        Args:
            updates: this micro-batch's gradients, a pytree of float arrays like the
                params.
            state: the :class:`MultiStepsState` from ``init`` or the last ``update``.
            params: the current params (needed by inner optimisers that use them).
            **extra_args: passed on to the inner ``update``.

        Returns:
            ``(updates, state)``: the inner optimiser's updates on the ``k``-th call and
            zeros (same tree, shapes and dtypes) otherwise; the new
            :class:`MultiStepsState`.

        Raises:
            TypeError: a gradient leaf is not floating point.
            ValueError: ``updates`` does not match the params' tree or shapes; a
                concrete ``k`` is not an integer ``>= 1``; ``should_skip_update_fn``
                does not return a boolean scalar first.

        Example:
            >>> import gradtx, jax.numpy as jnp
            >>> opt = gradtx.MultiSteps(gradtx.sgd(1.0), 2, use_grad_mean=False)
            >>> state = opt.init(jnp.zeros(1))
            >>> _, state = opt.update(jnp.array([1.0]), state)
            >>> u, state = opt.update(jnp.array([2.0]), state)
            >>> u.tolist()  # -lr * (1 + 2): the sum, not the mean
            [-3.0]
        """
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
        """True right after a call that took an inner step, as optax's.

        Args:
            state: a :class:`MultiStepsState` (or any state with ``mini_step`` and
                ``gradient_step`` fields).

        Returns:
            A bool scalar ``jax.Array``: ``mini_step == 0`` and ``gradient_step > 0``.

        Example:
            >>> import gradtx, jax.numpy as jnp
            >>> opt = gradtx.MultiSteps(gradtx.sgd(0.1), every_k_schedule=1)
            >>> state = opt.init(jnp.zeros(1))
            >>> bool(opt.has_updated(state))
            False
            >>> _, state = opt.update(jnp.ones(1), state)
            >>> bool(opt.has_updated(state))
            True
        """
        return jnp.logical_and(state.mini_step == 0, state.gradient_step > 0)

    def gradient_transformation(self) -> GradientTransformation:
        """The wrapper as a plain :class:`gradtx.GradientTransformation` (to chain it).

        Returns:
            ``GradientTransformation(self.init, self.update)``; its state is a
            :class:`MultiStepsState`.

        Example:
            >>> import gradtx, jax.numpy as jnp
            >>> tx = gradtx.MultiSteps(gradtx.sgd(0.1), 2).gradient_transformation()
            >>> isinstance(tx, gradtx.GradientTransformation)
            True
            >>> type(tx.init(jnp.zeros(1))).__name__
            'MultiStepsState'
        """
        return GradientTransformation(self.init, self.update)


__all__ = ["MultiSteps", "MultiStepsState"]
