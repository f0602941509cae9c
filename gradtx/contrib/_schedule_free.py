"""Schedule-free learning (Defazio et al., 2024): interpolation and averaging replace
momentum and the learning-rate schedule, as ``optax.contrib.schedule_free``.

Three sequences: ``z`` (the base optimiser's iterates, kept in the state), ``x`` (their
weighted average, where the model should be *evaluated*) and ``y = b1 x + (1 - b1) z``
(where gradients are taken: the params the training loop holds). ``x`` is not stored:
:func:`schedule_free_eval_params` recovers it from ``y`` and ``z``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import (
    GradientTransformationExtraArgs,
    _with_extra_args,
    chain,
)
from gradtx.contrib._lrfree_common import lowest_dtype, param_copy
from gradtx.optimizers._sgd import sgd
from gradtx.schedules._optax_names import warmup_constant_schedule
from gradtx.transforms._adagrad_rmsprop import scale_by_rms
from gradtx.transforms._modifiers import add_decayed_weights
from gradtx.transforms._scaling import scale_by_learning_rate
from gradtx.tree._core import cast, check_same_tree, check_updates, safe_increment


class ScheduleFreeState(NamedTuple):
    """State of :func:`schedule_free` (optax.contrib's fields, in its order)."""

    b1: jax.Array  # shape=(), the params' lowest dtype: the interpolation weight b1
    weight_sum: jax.Array  # shape=(), params' dtype: sum of the averaging weights so far
    step_count: jax.Array  # shape=(), dtype=int32: the 1-based step (starts at 1)
    max_lr: jax.Array  # shape=(), params' dtype: the largest learning rate seen so far
    base_optimizer_state: Any  # the base optimiser's state
    z: Any  # the base optimiser's iterates, like params (dtype state_dtype or params')


def schedule_free_eval_params(state: Any, params: Any) -> Any:
    r"""The params to evaluate a schedule-free model at: the average ``x``.

    .. math::
        x_t = \frac{y_t - (1 - \beta_1)\, z_t}{\beta_1}

    The training loop holds ``y`` (where gradients are taken); the averaged sequence
    ``x``, which gives the lower loss, is recovered from ``y`` and the state's ``z``.
    Use it for validation, test and checkpoints meant for inference; keep training on
    ``params``. Equal to ``optax.contrib.schedule_free_eval_params``.

    Args:
      state: a :class:`ScheduleFreeState` (or any state with fields ``b1`` and ``z``,
        such as a ``ScheduleFreeState`` returned by optax).
      params: the current (training) params ``y``.

    Returns:
      A tree like ``params``: ``x``.

    Raises:
      ValueError: ``state`` has no ``b1`` or ``z`` field (it is not a schedule-free
        state; for a chain, pass the schedule-free element of the state tuple).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gradtx, gradtx.contrib
      >>> tx = gradtx.contrib.schedule_free_sgd(0.1)
      >>> params = jnp.array([1.0, 2.0])
      >>> state = tx.init(params)
      >>> for _ in range(3):
      ...     u, state = tx.update(jax.grad(lambda p: jnp.sum(p**2))(params), state, params)
      ...     params = gradtx.apply_updates(params, u)
      >>> x = gradtx.contrib.schedule_free_eval_params(state, params)  # evaluate here
      >>> print(jnp.round(x, 4))
      [0.6459 1.2917]

    Reference: optax.contrib ``schedule_free_eval_params``; the authors'
    ``optimizer.eval()`` (facebookresearch/schedule_free).
    """
    b1 = getattr(state, "b1", None)
    z = getattr(state, "z", None)
    if b1 is None or z is None:
        raise ValueError(
            "schedule_free_eval_params needs a ScheduleFreeState (with fields b1 and z), "
            f"got {type(state).__name__}"
        )
    return jax.tree.map(lambda yi, zi: (yi - (1.0 - b1) * zi) / b1, params, z)


def schedule_free(
    base_optimizer: Any,
    learning_rate: Any,
    b1: Any = 0.9,
    weight_lr_power: Any = 2.0,
    state_dtype: Any | None = None,
    *,
    r: float = 0.0,
) -> GradientTransformationExtraArgs:
    r"""Makes ``base_optimizer`` schedule-free: interpolation and averaging replace its
    momentum and the learning-rate decay.

    With the base optimiser's step :math:`u_t` (e.g. :math:`-\gamma g_t` for SGD), the
    params :math:`y_t` the loop holds and the state's :math:`z_t`:

    .. math::
        x_t &= \big(y_t - (1-\beta_1) z_t\big) / \beta_1, \qquad
        z_{t+1} = z_t + u_t(\nabla f(y_t)), \\
        \gamma_{\max} &= \max_{s \le t} \gamma_s, \quad
        w_t = t^r \gamma_{\max}^{p}, \quad c_t = w_t / \textstyle\sum_{s \le t} w_s, \\
        x_{t+1} &= (1 - c_t)\, x_t + c_t z_{t+1}, \qquad
        y_{t+1} = \beta_1 x_{t+1} + (1 - \beta_1) z_{t+1},

    and the update is :math:`y_{t+1} - y_t`, formed without cancellation as
    :math:`(1-\beta_1)\Delta z + c_t\big(z_{t+1} - y_t - (1-\beta_1)\Delta z\big)`,
    :math:`\Delta z = z_{t+1} - z_t` (exactly 0 for a zero gradient; optax subtracts
    :math:`y_t` from :math:`y_{t+1}`, an error of up to an ulp of the params); ``t``
    counts from 1, ``p`` is ``weight_lr_power``. Evaluate at :math:`x`
    (:func:`schedule_free_eval_params`). Turn off the base optimiser's momentum
    (``b1=0`` for Adam). Equal to ``optax.contrib.schedule_free`` (same signature,
    numbers up to that rounding, state tree); the
    authors' update of ``y`` (``y <- lerp(y, z, c) + \gamma (\beta_1 (1 - c) - 1) g``)
    is the same map, written without ``x``.

    Args:
      base_optimizer: the base transformation (gradtx or optax), its learning rate
        included; its momentum should be off.
      learning_rate: the base optimiser's learning rate (a float or a schedule of the
        1-based step): it sets the averaging weights. Warmup, no decay.
      b1: :math:`\beta_1` in ``(0, 1]``, the interpolation weight (default 0.9; 0.95 or
        0.98 also work well).
      weight_lr_power: ``p``, the power of the largest learning rate so far in the
        averaging weights (default 2.0; 0 gives the uniform average).
      state_dtype: the dtype of ``z`` (default: the params', float32 for float16 params).
      r: keyword-only (the authors' ``r``, not in optax): polynomial weighting of the
        average, :math:`w_t = t^r \gamma_{\max}^p` (default 0, optax's rule).

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs`; its ``update`` needs the params
      and passes ``extra_args`` to the base optimiser. State: :class:`ScheduleFreeState`.

    Raises:
      ValueError: ``b1`` not in ``(0, 1]``; ``weight_lr_power < 0``; ``params=None``.
      TypeError: ``base_optimizer`` is not a gradient transformation.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gradtx, gradtx.contrib
      >>> tx = gradtx.contrib.schedule_free(gradtx.sgd(0.1), learning_rate=0.1)
      >>> params = jnp.array([1.0, -2.0])
      >>> state = tx.init(params)
      >>> u, state = tx.update(jnp.array([1.0, 1.0]), state, params)
      >>> print(jnp.round(gradtx.apply_updates(params, u), 4))  # y_1 = z_1 (c_1 = 1)
      [ 0.9 -2.1]

    Reference: Defazio et al., *The Road Less Scheduled*, NeurIPS 2024
    (arXiv:2405.15682); facebookresearch/schedule_free; optax.contrib ``schedule_free``.
    """
    base_optimizer = _with_extra_args(base_optimizer, "schedule_free: base_optimizer")
    _checks.check_range("b1", b1, 0.0, 1.0, low_open=True)
    _checks.non_negative("weight_lr_power", weight_lr_power)
    _checks.check_number("r", r)
    if state_dtype is not None:
        state_dtype = jnp.dtype(state_dtype)

    def init_fn(params):
        params_dtype = lowest_dtype(params)
        z = cast(params, state_dtype) if state_dtype is not None else param_copy(params)
        z = jax.tree.map(lambda t: jnp.array(t, copy=True), z)
        return ScheduleFreeState(
            b1=jnp.asarray(b1, dtype=params_dtype),
            weight_sum=jnp.zeros([], dtype=params_dtype),
            step_count=jnp.ones([], dtype=jnp.int32),
            max_lr=jnp.zeros([], dtype=params_dtype),
            base_optimizer_state=base_optimizer.init(params),
            z=z,
        )

    def update_fn(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(
                "schedule_free needs the params: call update(updates, state, params)"
            )
        check_updates(updates, params)
        check_same_tree(state.z, params, what="state's z", against="params")
        lr = learning_rate
        if callable(learning_rate):
            lr = jnp.asarray(learning_rate(state.step_count), dtype=state.max_lr.dtype)
        max_lr = jnp.maximum(state.max_lr, lr)
        weight = max_lr**weight_lr_power
        if r != 0:
            weight = weight * state.step_count.astype(weight.dtype) ** r
        next_total_weight = state.weight_sum + weight
        # c = w / sum(w); 0 while every weight is 0 (lr = 0 in warmup), NaN stays NaN
        ck = jnp.where(
            jnp.isnan(weight) | jnp.isnan(next_total_weight),
            jnp.full(weight.shape, jnp.nan),
            jnp.nan_to_num(weight / next_total_weight, nan=0.0, posinf=jnp.inf),
        )
        base_updates, base_state = base_optimizer.update(
            updates, state.base_optimizer_state, params, **extra_args
        )
        z = jax.tree.map(
            lambda zi, ui: jnp.asarray(zi + ui).astype(jnp.result_type(zi)),
            state.z, base_updates,
        )  # fmt: skip

        def step(yi, zi_prev, zi):
            # y_{t+1} - y_t with x_t = (y_t - (1 - b1) z_t) / b1 and x_{t+1} = lerp(x_t,
            # z_{t+1}, c), expanded: (1 - b1) dz + c ((z_{t+1} - y_t) - (1 - b1) dz),
            # dz = z_{t+1} - z_t. optax forms y_{t+1} and subtracts y_t: the update then
            # carries a rounding error of ulp(y) whatever its size (1 ulp, not 0, for a
            # zero gradient or lr 0). Equal to optax's up to that rounding.
            dz = zi - zi_prev
            rest = (1.0 - b1) * dz
            return (rest + ck * ((zi - yi) - rest)).astype(jnp.result_type(yi))

        new_updates = jax.tree.map(step, params, state.z, z)
        new_state = ScheduleFreeState(
            b1=state.b1,
            weight_sum=next_total_weight,
            step_count=safe_increment(state.step_count),
            max_lr=max_lr,
            base_optimizer_state=base_state,
            z=z,
        )
        return new_updates, new_state

    return GradientTransformationExtraArgs(init_fn, update_fn)


def _warmup(learning_rate: Any, warmup_steps: int | None) -> Any:
    if warmup_steps is None:
        return learning_rate
    _checks.positive_int("warmup_steps", warmup_steps)
    return warmup_constant_schedule(init_value=0, peak_value=learning_rate,
                                    warmup_steps=warmup_steps)  # fmt: skip


def _shifted(schedule: Any, b2: Any | None) -> Callable[[Any], Any]:
    """The authors' step size at the base optimiser's 0-based count ``c``: the schedule
    at the 1-based step ``c + 1`` (times ``sqrt(1 - b2^(c+1))`` for AdamW)."""

    def lr(count):
        t = jnp.asarray(count) + 1
        value = schedule(t) if callable(schedule) else schedule
        if b2 is not None:
            value = value * jnp.sqrt(1 - jnp.asarray(b2, jnp.float32) ** t.astype(jnp.float32))
        return value

    return lr


def schedule_free_sgd(
    learning_rate: Any = 1.0,
    warmup_steps: int | None = None,
    b1: Any = 0.9,
    weight_decay: Any | None = None,
    weight_lr_power: Any = 2.0,
    state_dtype: Any | None = None,
    *,
    r: float = 0.0,
    authors_convention: bool = False,
) -> GradientTransformationExtraArgs:
    r"""Schedule-free SGD: :func:`schedule_free` around plain SGD.

    .. math::
        z_{t+1} = z_t - \gamma_t \big(g_t + \lambda\, y_t\big),

    then the interpolation and averaging of :func:`schedule_free`, with
    :math:`\gamma_t` the learning rate after a linear warmup of ``warmup_steps`` and
    :math:`\lambda` = ``weight_decay`` (coupled, multiplied by the learning rate, as in
    PyTorch). Equal to ``optax.contrib.schedule_free_sgd``.

    With a warmup, optax evaluates the warmup at the base SGD's 0-based count (the
    first step of ``z`` is 0) and the averaging weights at the 1-based step; the
    authors (PyTorch ``SGDScheduleFree``) use ``(k+1)/warmup_steps`` for both.
    ``authors_convention=True`` gives the authors' rule.

    Args:
      learning_rate: the SGD step size :math:`\gamma` (default 1.0).
      warmup_steps: the length of a linear warmup from 0 (default None: none).
      b1: the interpolation weight :math:`\beta_1` in ``(0, 1]`` (default 0.9).
      weight_decay: :math:`\lambda` (default None: none).
      weight_lr_power: see :func:`schedule_free` (default 2.0).
      state_dtype: the dtype of ``z`` (default: the params').
      r: keyword-only, the authors' polynomial weighting (default 0).
      authors_convention: keyword-only (default False, optax's numbers): the warmup of
        the SGD step evaluated at the 1-based step, as in facebookresearch/schedule_free.

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs` (state :class:`ScheduleFreeState`).

    Raises:
      ValueError: a bad ``learning_rate``, ``warmup_steps``, ``b1`` or
        ``weight_lr_power``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gradtx, gradtx.contrib
      >>> tx = gradtx.contrib.schedule_free_sgd(0.2)
      >>> params = jnp.array([1.0, 2.0])
      >>> state = tx.init(params)
      >>> @jax.jit
      ... def step(params, state):
      ...     u, state = tx.update(2 * params, state, params)
      ...     return gradtx.apply_updates(params, u), state
      >>> for _ in range(100):
      ...     params, state = step(params, state)
      >>> x = gradtx.contrib.schedule_free_eval_params(state, params)
      >>> print(bool(jnp.sum(x**2) < 1e-2))
      True

    Reference: Defazio et al., *The Road Less Scheduled*, 2024; optax.contrib
    ``schedule_free_sgd``.
    """
    _checks.learning_rate("learning_rate", learning_rate)
    lr = _warmup(learning_rate, warmup_steps)
    sgd_lr = _shifted(lr, None) if authors_convention and warmup_steps is not None else lr
    # optax: chain(add_decayed_weights(wd), sgd(lr)) (the same state tree)
    optimizer = sgd(sgd_lr)
    if weight_decay is not None:
        optimizer = chain(add_decayed_weights(weight_decay), optimizer)
    return schedule_free(optimizer, learning_rate=lr, b1=b1, weight_lr_power=weight_lr_power,
                         state_dtype=state_dtype, r=r)  # fmt: skip


def schedule_free_adamw(
    learning_rate: Any = 0.0025,
    warmup_steps: int | None = None,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    weight_decay: Any = 0.0,
    weight_lr_power: Any = 2.0,
    state_dtype: Any | None = None,
    *,
    r: float = 0.0,
    authors_convention: bool = False,
) -> GradientTransformationExtraArgs:
    r"""Schedule-free AdamW: :func:`schedule_free` around Adam without momentum.

    .. math::
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
        z_{t+1} = z_t - \gamma_t \Big(\frac{g_t}{\sqrt{v_t / (1-\beta_2^t)} + \epsilon}
        + \lambda\, y_t\Big),

    then the interpolation and averaging of :func:`schedule_free` (weights from
    :math:`\gamma_t`). Equal to ``optax.contrib.schedule_free_adamw`` (same state tree:
    ``(ScaleByRmsState, EmptyState, EmptyState)`` inside the schedule-free state).

    The authors' code (PyTorch ``AdamWScheduleFree``) puts Adam's bias correction in
    the learning rate instead, :math:`\gamma_t = \gamma\,\mathrm{warmup}(t)
    \sqrt{1-\beta_2^t}`, which then also scales the weight decay and the averaging
    weights (a second warmup of the average over ~1/(1-b2) steps), with
    :math:`\epsilon` outside the uncorrected :math:`\sqrt{v_t}`; its warmup is
    evaluated at the 1-based step for the Adam step too. ``authors_convention=True``
    gives those numbers; the default is optax's.

    Args:
      learning_rate: :math:`\gamma` (default 0.0025).
      warmup_steps: the length of a linear warmup from 0 (default None: none).
      b1: the interpolation weight :math:`\beta_1` in ``(0, 1]`` (default 0.9).
      b2: the decay of the second moment, in ``[0, 1)`` (default 0.999).
      eps: added to the denominator, outside the root (default 1e-8).
      weight_decay: :math:`\lambda`, decoupled, at ``y`` (default 0).
      weight_lr_power: see :func:`schedule_free` (default 2.0).
      state_dtype: the dtype of ``z`` (default: the params').
      r: keyword-only, the authors' polynomial weighting (default 0).
      authors_convention: keyword-only (default False, optax's numbers): the
        facebookresearch/schedule_free rule described above.

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs` (state :class:`ScheduleFreeState`).

    Raises:
      ValueError: a bad ``learning_rate``, ``warmup_steps``, ``b1``, ``b2``, ``eps`` or
        ``weight_lr_power``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gradtx, gradtx.contrib
      >>> tx = gradtx.contrib.schedule_free_adamw(0.1)
      >>> params = jnp.array([1.0, 2.0])
      >>> state = tx.init(params)
      >>> @jax.jit
      ... def step(params, state):
      ...     u, state = tx.update(2 * params, state, params)
      ...     return gradtx.apply_updates(params, u), state
      >>> for _ in range(100):
      ...     params, state = step(params, state)
      >>> x = gradtx.contrib.schedule_free_eval_params(state, params)
      >>> print(bool(jnp.sum(x**2) < 0.05))
      True

    Reference: Defazio et al., *The Road Less Scheduled*, 2024; optax.contrib
    ``schedule_free_adamw``; facebookresearch/schedule_free ``AdamWScheduleFree``.
    """
    _checks.learning_rate("learning_rate", learning_rate)
    _checks.decay_rate("b2", b2)
    _checks.non_negative("eps", eps)
    lr = adam_lr = average_lr = _warmup(learning_rate, warmup_steps)
    if authors_convention:  # Adam's bias correction in the learning rate
        adam_lr = _shifted(lr, b2)

        def average_lr(step):
            return adam_lr(jnp.asarray(step) - 1)

    optimizer = chain(
        scale_by_rms(decay=b2, eps=eps, eps_in_sqrt=False, bias_correction=not authors_convention),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(adam_lr),
    )
    return schedule_free(optimizer, learning_rate=average_lr, b1=b1,
                         weight_lr_power=weight_lr_power, state_dtype=state_dtype, r=r)  # fmt: skip


__all__ = [
    "ScheduleFreeState",
    "schedule_free",
    "schedule_free_adamw",
    "schedule_free_eval_params",
    "schedule_free_sgd",
]
