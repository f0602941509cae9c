"""Hyperparameter sweeps in one compiled function: train N copies under N schedules.

A gradtx schedule is a pytree, so a *stacked batch* of N schedules of one kind and
structure (:func:`stack_schedules`) is an ordinary batched pytree that ``jax.vmap``
maps over. Building the optimiser *inside* the traced function from the traced
schedule (``gradtx.sgd(schedule, momentum=0.9)``) then gives one jitted, vmapped
training loop (``lax.scan`` over the steps) that trains N copies of a model at once,
with the numbers of N separate runs. In optax a schedule is a closure: N schedules are
N compilations, and they cannot be vmapped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx._base import GradientTransformation, _as_transformation, apply_updates


class TrainResult(NamedTuple):
    """What :func:`scan_train` and :func:`vmap_sweep` return (with a leading axis of
    size N for a sweep)."""

    params: Any  # the trained parameters
    opt_state: Any  # the final optimiser state
    losses: jax.Array  # shape=(num_steps,): the loss before each update


def stack_schedules(*schedules: Any) -> Any:
    """Stacks N pytrees of one structure (schedules, dicts of hyperparameters, params)
    into one whose leaves have a leading axis of size N:
    ``jax.tree.map(lambda *x: jnp.stack(x), *schedules)``.

    Raises ``ValueError`` naming the first one whose structure differs (a different
    kind or different static fields such as step counts: those cannot share a
    compiled function).

    Example::

        scheds = gradtx.stack_schedules(*[gradtx.schedules.cosine_decay(lr, 100)
                                          for lr in (0.01, 0.03, 0.1)])
    """
    if not schedules:
        raise ValueError("stack_schedules needs at least one schedule, got none")
    first = jax.tree.structure(schedules[0])
    for i, s in enumerate(schedules[1:], start=1):
        if jax.tree.structure(s) != first:
            raise ValueError(
                f"schedule {i} has a different structure from schedule 0, so they cannot "
                f"be stacked:\n  0: {first}\n  {i}: {jax.tree.structure(s)}"
            )
    return jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *schedules)


def _train_fn(
    make_optimizer: Callable[[Any], GradientTransformation],
    loss_fn: Callable[[Any, Any], jax.Array],
    num_steps: int,
    per_step_data: bool,
) -> Callable[[Any, Any, Any], TrainResult]:
    _checks.positive_int("num_steps", num_steps)
    if not callable(make_optimizer):
        raise TypeError(f"make_optimizer must be callable, got {make_optimizer!r}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {loss_fn!r}")

    def train(hparams: Any, params: Any, data: Any) -> TrainResult:
        init, update = _as_transformation(make_optimizer(hparams), 0)
        grad_fn = jax.value_and_grad(loss_fn)

        def step(carry, batch):
            params, state = carry
            loss, grads = grad_fn(params, batch)
            updates, state = update(grads, state, params, value=loss)
            return (apply_updates(params, updates), state), loss

        if per_step_data:
            (params, state), losses = jax.lax.scan(step, (params, init(params)), data)
        else:
            (params, state), losses = jax.lax.scan(
                lambda c, _: step(c, data), (params, init(params)), None, length=num_steps
            )
        return TrainResult(params, state, losses)

    return train


def scan_train(
    make_optimizer: Callable[[Any], GradientTransformation],
    loss_fn: Callable[[Any, Any], jax.Array],
    num_steps: int,
    *,
    per_step_data: bool = False,
) -> Callable[[Any, Any, Any], TrainResult]:
    r"""One training run as one jitted function: ``run(hparams, params, data)``.

    ``opt = make_optimizer(hparams)`` is built inside the traced function, then
    ``num_steps`` steps of ``p_{t+1} = p_t + u_t``, ``(u_t, S_t) = opt.update(
    \nabla loss_fn(p_t, batch_t), S_{t-1}, p_t, value=loss)`` run in a ``lax.scan``.
    ``batch_t`` is ``data`` at every step (full batch) or, with
    ``per_step_data=True``, ``data``'s slice ``t`` along the leading axis (of size
    ``num_steps``). The loss is passed as ``value`` so :func:`gradtx.reduce_on_plateau`
    works in the chain. Returns a :class:`TrainResult`.

    ``hparams`` is any pytree: a schedule, a dict of numbers and schedules. Schedules
    of one kind and structure share the compiled function, so N separate runs cost one
    compilation.

    Example::

        run = gradtx.scan_train(lambda s: gradtx.sgd(s, momentum=0.9), loss_fn, 100)
        result = run(gradtx.schedules.cosine_decay(0.1, 100), params, (X, y))
    """
    return jax.jit(_train_fn(make_optimizer, loss_fn, num_steps, per_step_data))


def vmap_sweep(
    make_optimizer: Callable[[Any], GradientTransformation],
    loss_fn: Callable[[Any, Any], jax.Array],
    num_steps: int,
    *,
    per_step_data: bool = False,
    shared_params: bool = False,
    shared_data: bool = True,
) -> Callable[[Any, Any, Any], TrainResult]:
    r"""N training runs under N schedules as ONE jitted, vmapped function.

    Returns ``sweep(hparams, params, data)`` where ``hparams`` is a stacked batch of N
    schedules (or any pytree of hyperparameters) from :func:`stack_schedules`;
    ``params`` holds N copies stacked on a leading axis (or one copy, shared as the
    starting point of every run, with ``shared_params=True``); ``data`` is shared by
    every run (default) or stacked per run (``shared_data=False``). Each run is
    :func:`scan_train`'s loop:
    ``sweep(hparams, params, data).params[i] == scan_train(...)(hparams[i],
    params[i], data).params`` (tested to rtol 1e-5: batching may reorder float sums).
    The result is a :class:`TrainResult` whose leaves have a leading axis N
    (``losses`` has shape ``(N, num_steps)``).

    A new batch of schedules of the same kind, structure and N reuses the compiled
    function. Defaults: ``per_step_data=False, shared_params=False, shared_data=True``.

    Example::

        scheds = gradtx.stack_schedules(*[gradtx.schedules.warmup(
            gradtx.schedules.cosine_decay(lr, 500), 50) for lr in (0.01, 0.03, 0.1, 0.3)])
        sweep = gradtx.vmap_sweep(lambda s: gradtx.sgd(s, momentum=0.9), loss_fn, 550,
                                  shared_params=True)
        result = sweep(scheds, params, (X, y))   # result.losses: (4, 550)

    The idea: Bergstra & Bengio, *Random search for hyper-parameter optimization*,
    JMLR 2012 (run many settings, keep the best); batching them is JAX's ``vmap``.
    """
    train = _train_fn(make_optimizer, loss_fn, num_steps, per_step_data)
    in_axes = (0, None if shared_params else 0, None if shared_data else 0)
    return jax.jit(jax.vmap(train, in_axes=in_axes))
