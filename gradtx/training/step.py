"""One compiled optimiser step: ``update`` and ``apply_updates`` fused, buffers donated.

An optimiser step reads the parameters, gradients and state and writes new parameters
and state. Compiled as one function, XLA fuses the optimiser math with the parameter
write (no intermediate ``updates`` array reaches memory), and donating the parameter and
state buffers lets it write the results in place (no second copy of the model, zero
temporary bytes). :func:`make_step` builds that function for any transformation, gradtx
or optax; :func:`update_and_apply` is the same step, not compiled, to call inside a
larger jitted training step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import jax

from gradtx import _checks
from gradtx.base import OptState, Params, Updates, apply_updates

log = logging.getLogger("gradtx.native")

__all__ = ["make_step", "update_and_apply"]


def update_and_apply(
    tx: Any, params: Params, grads: Updates, state: OptState, **extra_args: Any
) -> tuple[Params, OptState]:
    r"""One optimiser step: ``u, s' = tx.update(g, s, p)``, ``p' = p + u``.

    On CPU, when ``tx`` ends in an optimiser the native kernel covers (Adam, AdamW,
    NAdam, Yogi, AMSGrad, SGD with momentum, Adagrad, RMSProp) and every leaf is float32,
    the step is one fused in-place pass over all leaves (:mod:`gradtx.native`; the links
    before the optimiser, e.g. clipping, run first in pure JAX). Otherwise, and on every
    other backend, it is exactly the pure-JAX step above. Call it inside your own
    ``jax.jit`` training step (donate params and state there), or use :func:`make_step`
    for a compiled step on its own.

    Args:
      tx: any gradtx or optax gradient transformation.
      params: the parameters, a pytree of arrays.
      grads: the gradients, a pytree with ``params``' structure and shapes.
      state: ``tx``'s state for ``params``.
      **extra_args: passed to ``tx.update`` (e.g. ``value=loss``).

    Returns:
      ``(new_params, new_state)``, with ``params``' structure and dtypes.

    Raises:
      ValueError, TypeError: as ``tx.update`` (mismatched trees, integer gradients).

    Example:
      >>> import jax.numpy as jnp
      >>> import gradtx
      >>> opt = gradtx.sgd(0.1)
      >>> params = {"w": jnp.ones(2)}
      >>> params, state = gradtx.update_and_apply(opt, params, {"w": jnp.ones(2)},
      ...                                         opt.init(params))
      >>> params["w"].tolist()
      [0.8999999761581421, 0.8999999761581421]
    """
    from gradtx.native import _backend

    plan = _backend.plan(tx, params, grads, state)
    if isinstance(plan, str):
        log.debug("gradtx.native: pure-JAX step (%s)", plan)
        return pure_update_and_apply(tx, params, grads, state, **extra_args)
    return jax.lax.platform_dependent(
        params, grads, state,
        cpu=lambda p, g, s: _backend.run(plan, p, g, s, **extra_args),
        default=lambda p, g, s: pure_update_and_apply(tx, p, g, s, **extra_args),
    )


def pure_update_and_apply(
    tx: Any, params: Params, grads: Updates, state: OptState, **extra_args: Any
) -> tuple[Params, OptState]:
    """:func:`update_and_apply` without the native kernel: always the pure-JAX step."""
    updates, state = tx.update(grads, state, params, **extra_args)
    return apply_updates(params, updates), state


def make_step(
    tx: Any, *, donate: bool = True, donate_grads: bool = False, jit: bool = True
) -> Callable[..., tuple[Params, OptState]]:
    r"""Builds a compiled optimiser step ``step(params, grads, state) -> (params, state)``.

    The step is :func:`update_and_apply` under ``jax.jit``, with the ``params`` and
    ``state`` buffers donated by default (``donate=True``): the arrays passed in are
    consumed and must not be used afterwards; keep the returned ones. Donating makes the
    step in-place (zero temporary bytes for the elementwise optimisers). Set
    ``donate_grads=True`` to donate the gradients too, ``jit=False`` for the plain
    function. ``tx`` is any gradtx or optax transformation; works with
    :func:`gradtx.pack` parameters. The math of one call is

    .. math::
        (u_t, s_t) = \mathrm{tx.update}(g_t, s_{t-1}, p_{t-1}), \qquad p_t = p_{t-1} + u_t

    computed by :func:`gradtx.update_and_apply` (on CPU, for the optimisers the native
    kernel covers and float32 leaves, one fused in-place pass).

    Args:
        tx: any gradtx or optax gradient transformation.
        donate: donate the ``params`` and ``state`` buffers (default True): the arrays
            passed in are deleted by the call. Only used with ``jit=True``.
        donate_grads: donate the ``grads`` buffers too (default False).
        jit: compile the step with ``jax.jit`` (default True); ``False`` returns the
            plain Python function (nothing donated), to call inside your own ``jit``.

    Returns:
        ``step(params, grads, state, **extra_args) -> (new_params, new_state)``: params
        and grads are pytrees of the same structure and shapes, ``state`` is ``tx``'s
        state; ``extra_args`` go to ``tx.update``. The new params keep the params'
        dtypes.

    Raises:
        TypeError: ``tx`` has no callable ``init`` and ``update``; the step raises what
            ``tx.update`` raises (mismatched trees, integer gradients).

    Differs from optax, which has no such helper (users write the jit themselves).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.sgd(0.5)
        >>> step = gradtx.make_step(opt)
        >>> params = {"w": jnp.array([1.0, 2.0])}
        >>> state = opt.init(params)
        >>> params, state = step(params, {"w": jnp.array([1.0, -2.0])}, state)
        >>> params["w"].tolist()  # w - 0.5 * g; the old params were donated
        [0.5, 3.0]

    In a training loop, always keep the returned arrays::

        for batch in data:
            grads = grad_fn(params, batch)
            params, state = step(params, grads, state)
    """
    return build_step(update_and_apply, tx, donate=donate, donate_grads=donate_grads, jit=jit)


def build_step(
    apply_fn: Callable[..., tuple[Params, OptState]],
    tx: Any,
    *,
    donate: bool,
    donate_grads: bool,
    jit: bool,
) -> Callable[..., tuple[Params, OptState]]:
    """``step(params, grads, state, **extra) = apply_fn(tx, params, grads, state, **extra)``,
    jitted with the chosen buffers donated: the body of :func:`make_step` and of
    ``gradtx.native.make_step``, which differ only in ``apply_fn``."""
    _checks.transformation("make_step: tx", tx)

    def step(params, grads, state, **extra_args):
        return apply_fn(tx, params, grads, state, **extra_args)

    if not jit:
        return step
    donated = ((0, 2) if donate else ()) + ((1,) if donate_grads else ())
    return jax.jit(step, donate_argnums=tuple(sorted(donated)))
