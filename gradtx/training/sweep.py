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
from gradtx.base import GradientTransformation, _as_transformation, apply_updates


class TrainResult(NamedTuple):
    """What :func:`scan_train` and :func:`vmap_sweep` return (with a leading axis of
    size N for a sweep)."""

    params: Any  # the trained parameters
    opt_state: Any  # the final optimiser state
    losses: jax.Array  # shape=(num_steps,): the loss before each update


def stack_schedules(*schedules: Any) -> Any:
    r"""Stacks N pytrees of one structure (schedules, dicts of hyperparameters, params)
    into one whose leaves have a leading axis of size N.

    .. math::
        \mathrm{stack}(s^{(1)}, \dots, s^{(N)})_\ell = [\,s^{(1)}_\ell, \dots,
        s^{(N)}_\ell\,] \quad \text{for every leaf } \ell

    i.e. ``jax.tree.map(lambda *x: jnp.stack(x), *schedules)``; the static fields of a
    schedule (its kind, step counts) stay static. The result is what
    :func:`vmap_sweep` maps over; a stacked schedule called with a step returns the N
    values. A gradtx extension: optax schedules are closures and cannot be stacked.

    Args:
        *schedules: N ``>= 1`` pytrees of one structure (gradtx schedules of one kind
            and static fields, numbers, dicts of them, parameter trees).

    Returns:
        One pytree of that structure whose leaves are ``jax.Array`` s of shape
        ``(N, *leaf_shape)``.

    Raises:
        ValueError: no schedule is given; or naming the first one whose structure
            differs (a different kind or different static fields such as step counts:
            those cannot share a compiled function).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> scheds = gradtx.stack_schedules(*[gradtx.schedules.cosine_decay(lr, 10)
        ...                                   for lr in (0.1, 0.2)])
        >>> [round(x, 4) for x in scheds.init_value.tolist()], scheds.decay_steps
        ([0.1, 0.2], 10)
        >>> [round(x, 4) for x in scheds(5).tolist()]  # both schedules at step 5
        [0.05, 0.1]
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

    .. math::
        \ell_t, g_t = \mathrm{value\_and\_grad}(\mathrm{loss\_fn})(p_t, b_t),\quad
        (u_t, S_t) = \mathrm{opt.update}(g_t, S_{t-1}, p_t),\quad p_{t+1} = p_t + u_t

    A gradtx helper; optax has none.

    Args:
        make_optimizer: ``hparams -> GradientTransformation`` (gradtx or optax), called
            inside the traced function (e.g. ``gradtx.sgd`` or
            ``lambda s: gradtx.sgd(s, momentum=0.9)``).
        loss_fn: ``loss_fn(params, batch) -> scalar``.
        num_steps: the number of training steps, an ``int >= 1``.
        per_step_data: keyword-only (default False): ``data`` holds one batch per step
            along its leading axis instead of one batch used at every step.

    Returns:
        The jitted ``run(hparams, params, data) -> TrainResult``: the final params,
        the final optimiser state and ``losses`` of shape ``(num_steps,)`` (the loss
        before each update).

    Raises:
        ValueError: ``num_steps`` is not a positive integer.
        TypeError: ``make_optimizer`` or ``loss_fn`` is not callable.

    Example:
        SGD with lr 0.5 on ``|w - 2|^2 / 2`` halves the distance every step:

        >>> import gradtx, jax.numpy as jnp
        >>> def loss_fn(w, y):
        ...     return 0.5 * jnp.sum((w - y) ** 2)
        >>> run = gradtx.scan_train(gradtx.sgd, loss_fn, num_steps=3)
        >>> result = run(0.5, jnp.zeros(1), jnp.array([2.0]))
        >>> result.losses.tolist(), result.params.tolist()
        ([2.0, 0.5, 0.125], [1.75])

        With a schedule and momentum: ``gradtx.scan_train(lambda s: gradtx.sgd(s,
        momentum=0.9), loss_fn, 100)(gradtx.schedules.cosine_decay(0.1, 100), params,
        (X, y))``.
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
    For run ``i`` (with :func:`scan_train`'s step):

    .. math::
        p^{(i)}_{t+1} = p^{(i)}_t + u^{(i)}_t, \qquad (u^{(i)}_t, S^{(i)}_t) =
        \mathrm{make\_optimizer}(h^{(i)}).\mathrm{update}(\nabla
        \mathrm{loss}(p^{(i)}_t, b_t), S^{(i)}_{t-1}, p^{(i)}_t)

    A gradtx extension: optax schedules are closures, so N optax runs are N
    compilations.

    Args:
        make_optimizer: ``hparams -> GradientTransformation``, called inside the traced
            function with one run's (unbatched) hyperparameters.
        loss_fn: ``loss_fn(params, batch) -> scalar``.
        num_steps: the number of training steps of every run, an ``int >= 1``.
        per_step_data: keyword-only (default False): ``data`` holds one batch per step
            along its leading axis (after the run axis when ``shared_data=False``).
        shared_params: keyword-only (default False): ``params`` is one copy, the start
            of every run, instead of N stacked copies.
        shared_data: keyword-only (default True): every run sees the same ``data``;
            False: ``data`` is stacked per run on a leading axis N.

    Returns:
        The jitted, vmapped ``sweep(hparams, params, data) -> TrainResult`` with a
        leading axis N on every leaf (``losses``: shape ``(N, num_steps)``).

    Raises:
        ValueError: ``num_steps`` is not a positive integer.
        TypeError: ``make_optimizer`` or ``loss_fn`` is not callable.

    References:
        The idea: Bergstra & Bengio, *Random search for hyper-parameter optimization*,
        JMLR 2012 (run many settings, keep the best); batching them is JAX's ``vmap``.

    Example:
        Two constant learning rates, one compiled function, shared start and data:

        >>> import gradtx, jax.numpy as jnp
        >>> def loss_fn(w, y):
        ...     return 0.5 * jnp.sum((w - y) ** 2)
        >>> sweep = gradtx.vmap_sweep(gradtx.sgd, loss_fn, num_steps=3, shared_params=True)
        >>> lrs = gradtx.stack_schedules(gradtx.schedules.constant(0.5),
        ...                              gradtx.schedules.constant(1.0))
        >>> result = sweep(lrs, jnp.zeros(1), jnp.array([2.0]))
        >>> result.losses.tolist()  # lr 1 solves it in one step
        [[2.0, 0.5, 0.125], [2.0, 0.0, 0.0]]

        Warm-up plus cosine at four peaks: ``gradtx.stack_schedules(*[
        gradtx.schedules.warmup(gradtx.schedules.cosine_decay(lr, 500), 50) for lr in
        (0.01, 0.03, 0.1, 0.3)])``, then ``sweep(scheds, params, (X, y)).losses`` has
        shape ``(4, 550)``.
    """
    train = _train_fn(make_optimizer, loss_fn, num_steps, per_step_data)
    in_axes = (0, None if shared_params else 0, None if shared_data else 0)
    return jax.jit(jax.vmap(train, in_axes=in_axes))
