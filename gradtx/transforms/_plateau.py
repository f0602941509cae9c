"""Reduce the learning rate when a monitored value stops improving."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx.base import GradientTransformation
from gradtx.schedules._inject import _float_dtype
from gradtx.tree._core import check_updates, safe_increment, zero_count


class ReduceLROnPlateauState(NamedTuple):
    """The state of :func:`reduce_on_plateau` (the fields and order of optax's)."""

    scale: jax.Array  # shape=(), float: the factor applied to the updates
    best_value: jax.Array  # shape=(), float: the best (lowest) averaged value so far
    plateau_count: jax.Array  # shape=(), int32: evaluations without improvement
    cooldown_count: jax.Array  # shape=(), int32: evaluations left in the cooldown
    count: jax.Array  # shape=(), int32: values accumulated in the current window
    avg_value: jax.Array  # shape=(), float: the running mean of the current window


def _check_count(name: str, value: Any, low: int) -> None:
    """An integer hyperparameter ``>= low``: a Python/NumPy int or an integer array
    (a traced value, injected with :func:`gradtx.inject_hyperparams`, is not checked)."""
    if isinstance(value, jax.core.Tracer):
        return
    if isinstance(value, bool) or np.asarray(value).dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if np.asarray(value).size != 1 or int(np.asarray(value)) < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _unchanged(state: ReduceLROnPlateauState) -> ReduceLROnPlateauState:
    return state


def reduce_on_plateau(
    factor: float = 0.1,
    patience: int = 10,
    rtol: float = 1e-4,
    atol: float = 0.0,
    cooldown: int = 0,
    accumulation_size: int = 1,
    min_scale: float = 0.0,
) -> GradientTransformation:
    r"""Scales the updates by a factor that drops when the monitored value plateaus.

    ``update(updates, state, params=None, *, value)`` takes the monitored value (a loss
    on a mini-batch or a validation loss) and returns ``scale * updates``. The values
    are averaged over windows of ``accumulation_size`` calls; at the end of each window
    the mean ``v`` is one *evaluation*:

    * improvement if ``v < best - rtol * |best| - atol``: ``best = v``, ``plateau = 0``;
      otherwise ``plateau += 1`` (``best`` starts at ``+inf``, so the first evaluation
      is an improvement);
    * during a cooldown (``cooldown_count > 0``) the plateau count is reset to 0 and
      ``cooldown_count -= 1``;
    * otherwise, when ``plateau == patience``: ``scale = max(scale * factor,
      min_scale)``, ``plateau = 0``, ``cooldown_count = cooldown``.

    In equations, at a window end with mean ``v_k`` (``u_t = s_t g_t`` on every call):

    .. math::
        \text{improved}_k = v_k < b_{k-1} - \text{rtol}\,|b_{k-1}| - \text{atol},
        \qquad b_k = \begin{cases} v_k & \text{improved}_k \\ b_{k-1} &
        \text{otherwise}\end{cases},\qquad
        s_k = \max(s_{k-1} \cdot \text{factor},\ \text{min\_scale})
        \ \text{when the plateau count reaches patience.}

    The scale starts at 1 and only changes at window ends; the value passed on a call is
    counted before the updates of that call are scaled. Chain it after an optimiser to
    scale its learning rate::

        opt = gradtx.chain(gradtx.adam(1e-3), gradtx.reduce_on_plateau(patience=5))
        updates, state = opt.update(grads, state, params, value=loss)

    Defaults: ``factor=0.1, patience=10, rtol=1e-4, atol=0.0, cooldown=0,
    accumulation_size=1, min_scale=0.0`` (those of ``optax.contrib.reduce_on_plateau``,
    whose numbers this reproduces exactly). Everything is jittable (``lax.cond`` /
    ``jnp.where``, no Python branching on values).

    Differences: from **torch** ``ReduceLROnPlateau`` (``mode='min'``): torch lowers the
    lr once ``num_bad_epochs > patience``, i.e. after ``patience + 1`` evaluations
    without improvement; here (and in optax) after ``patience``. So torch's
    ``patience=p`` is ``patience=p + 1`` here. torch's ``threshold_mode='rel'`` is
    ``rtol=threshold, atol=0``, ``'abs'`` is ``rtol=0, atol=threshold``; its ``min_lr``
    is ``min_scale * lr``. From **optax**: the scale is kept in at least float32 (optax
    keeps it in the params' lowest float dtype, e.g. bfloat16) and cast to each
    update's dtype when applied; ``min_scale`` must be in ``[0, 1]``; calling
    ``update`` without ``value`` raises a ``TypeError`` saying so. Both optax and torch
    test ``v < (1 - rtol) * best - atol``, which equals the rule above for ``best >= 0``
    (same numbers) but not for a negative monitored value (a log-likelihood, a reward,
    a loss with a constant subtracted): there ``(1 - rtol) * best`` lies above ``best``,
    so a flat value counts as an improvement and the scale never drops, and a slightly
    worse value becomes the new best. Here a value counts as better only if it is lower
    by ``rtol * |best| + atol``, whatever the sign.

    Args:
        factor: the multiplier applied to the scale at each reduction, in ``(0, 1)``
            (default 0.1).
        patience: evaluations without improvement before a reduction, an
            ``int >= 1`` (default 10).
        rtol: relative improvement threshold, in ``[0, 1]`` (default 1e-4).
        atol: absolute improvement threshold, in the monitored value's units, ``>= 0``
            (default 0.0). At least one of ``rtol`` and ``atol`` must be positive.
        cooldown: evaluations after a reduction during which the plateau count stays
            at 0, an ``int >= 0`` (default 0).
        accumulation_size: calls averaged into one evaluation, an ``int >= 1``
            (default 1).
        min_scale: the lowest scale, in ``[0, 1]`` (default 0.0).

    Returns:
        A :class:`gradtx.GradientTransformation` whose ``update`` needs the keyword
        argument ``value`` (a real scalar) and whose state is
        :class:`ReduceLROnPlateauState` (optax's fields: ``scale``, ``best_value``,
        ``plateau_count``, ``cooldown_count``, ``count``, ``avg_value``; the floats at
        least float32, the counters int32 scalars).

    Raises:
        ValueError: ``factor`` outside ``(0, 1)``; ``rtol`` outside ``[0, 1]``;
            ``atol < 0``; ``rtol == atol == 0``; ``patience`` or ``accumulation_size``
            ``< 1``; ``cooldown < 0``; ``min_scale`` outside ``[0, 1]``.
        TypeError: ``patience``, ``cooldown`` or ``accumulation_size`` not an integer;
            (from ``update``) no ``value`` given, or a gradient leaf not floating point.

    References:
        ``optax.contrib.reduce_on_plateau``; torch's
        ``torch.optim.lr_scheduler.ReduceLROnPlateau``; the "reduce on plateau"
        heuristic of Keras/PyTorch; Bengio, *Practical recommendations for
        gradient-based training of deep architectures*, 2012.

    Example:
        A flat loss: the first evaluation sets ``best``, the next two do not improve,
        and at ``plateau == patience == 2`` the scale halves.

        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.reduce_on_plateau(factor=0.5, patience=2)
        >>> state = tx.init(jnp.zeros(2))
        >>> for loss in [1.0, 1.0, 1.0, 1.0]:
        ...     u, state = tx.update(jnp.ones(2), state, value=loss)
        ...     print(u.tolist(), int(state.plateau_count))
        [1.0, 1.0] 0
        [1.0, 1.0] 1
        [0.5, 0.5] 0
        [0.5, 0.5] 1
    """
    _checks.check_range("factor", factor, 0.0, 1.0, low_open=True, high_open=True)
    _checks.check_range("rtol", rtol, 0.0, 1.0)
    _checks.non_negative("atol", atol)
    if _checks._concrete(rtol) == 0.0 and _checks._concrete(atol) == 0.0:
        raise ValueError("at least one of rtol and atol must be positive, got rtol=0, atol=0")
    _check_count("patience", patience, 1)
    _check_count("cooldown", cooldown, 0)
    _check_count("accumulation_size", accumulation_size, 1)
    _checks.check_range("min_scale", min_scale, 0.0, 1.0)

    def init_fn(params):
        dtype = jnp.promote_types(_float_dtype(params), jnp.float32)
        return ReduceLROnPlateauState(
            scale=jnp.ones([], dtype),
            best_value=jnp.full([], jnp.inf, dtype),
            plateau_count=zero_count(),
            cooldown_count=zero_count(),
            count=zero_count(),
            avg_value=jnp.zeros([], dtype),
        )

    def evaluate(state: ReduceLROnPlateauState) -> ReduceLROnPlateauState:
        v = state.avg_value
        best = state.best_value
        # |best|, not best: (1 - rtol) * best lies *above* a negative best, so a
        # worse value would count as an improvement (and a flat one too, with atol=0).
        finite = jnp.isfinite(best)
        threshold = jnp.where(finite, best - rtol * jnp.abs(jnp.where(finite, best, 0)), best)
        improved = v < threshold - atol
        best = jnp.where(improved, v, best)
        plateau = jnp.where(improved, 0, safe_increment(state.plateau_count))
        in_cooldown = state.cooldown_count > 0
        reduce = jnp.logical_and(~in_cooldown, plateau == patience)
        scale = jnp.where(reduce, state.scale * factor, state.scale)
        scale = jnp.where(in_cooldown, scale, jnp.maximum(scale, min_scale))
        cooldown_count = jnp.where(
            in_cooldown, state.cooldown_count - 1, jnp.where(reduce, cooldown, 0)
        )
        return ReduceLROnPlateauState(
            scale=scale.astype(state.scale.dtype),
            best_value=best.astype(state.best_value.dtype),
            plateau_count=jnp.where(in_cooldown | reduce, 0, plateau).astype(jnp.int32),
            cooldown_count=cooldown_count.astype(jnp.int32),
            count=zero_count(),
            avg_value=jnp.zeros_like(state.avg_value),
        )

    def update_fn(updates, state, params=None, *, value=None, **extra_args):
        del params, extra_args
        if value is None:
            raise TypeError(
                "reduce_on_plateau.update needs the monitored value: "
                "update(updates, state, params, value=loss)"
            )
        check_updates(updates)
        count = safe_increment(state.count)
        avg = (state.count * state.avg_value + jnp.asarray(value, state.avg_value.dtype)) / count
        state = state._replace(avg_value=avg.astype(state.avg_value.dtype), count=count)
        # the same branch objects every call: lax.cond caches them, so an eager update
        # reuses its compiled cond instead of tracing and compiling one per call
        state = jax.lax.cond(count == accumulation_size, evaluate, _unchanged, state)
        updates = jax.tree.map(lambda g: state.scale.astype(g.dtype) * g, updates)
        return updates, state

    return GradientTransformation(init_fn, update_fn)
