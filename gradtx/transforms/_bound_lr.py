"""AdaBound's dynamic bounds as a composable transform (``bound_lr``): clips each
per-parameter step size into bounds that tighten towards a final SGD rate (Luo et al.,
ICLR 2019). Split from :mod:`gradtx.transforms._adam`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule
from gradtx.transforms._adam import _check_moments, _dtypes
from gradtx.tree._core import (
    MOMENT,
    SQUARED,
    bias_correction,
    check_updates,
    ema,
    map_outputs,
    safe_increment,
    state_like,
    zero_count,
)


class BoundLrState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32
    mu: Any  # first moment m_t (not bias-corrected), like params
    nu: Any  # second moment v_t = E|g|^2, shaped like params, real
    nu_max: Any  # running max of v_t (AMSBound), real; None for AdaBound


def bound_lr(
    learning_rate: ScalarOrSchedule = 1e-3,
    final_lr: float = 0.1,
    gamma: float = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    *,
    amsbound: bool = False,
    mu_dtype: Any | None = None,
    base_lr: float | None = None,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""AdaBound/AMSBound: Adam's per-parameter step size clipped into bounds that
    converge to SGD's learning rate.

    .. math::

        \eta_t = \frac{\alpha_t \sqrt{1-\beta_2^t}}{(1-\beta_1^t)(\sqrt{v_t} + \epsilon)},\quad
        \eta^{l}_t = \alpha^*_t\Big(1 - \frac{1}{\gamma t + 1}\Big),\quad
        \eta^{u}_t = \alpha^*_t\Big(1 + \frac{1}{\gamma t}\Big),\quad
        u_t = -\,\mathrm{clip}(\eta_t, \eta^l_t, \eta^u_t)\, m_t

    with ``m_t``, ``v_t`` Adam's (un-corrected) moments, ``t = 1, 2, ...``, and the
    final rate ``alpha*_t = final_lr * alpha_t / base_lr`` following the learning rate
    ``alpha_t`` as in the authors' PyTorch code, where ``base_lr`` is the lr the
    optimiser was built with and a torch scheduler then changes ``alpha_t``. With
    ``amsbound=True``, ``v_t`` is replaced by its running maximum.

    ``base_lr`` (keyword-only, default None) is that reference lr, ``> 0``. By default:
    a number ``learning_rate`` is its own base (``alpha*_t = final_lr``); a
    :mod:`gradtx.schedules` schedule's base is its ``base_value`` (the lr the torch
    scheduler would be attached to: ``warmup(s, W)``'s is ``s``'s, not the 0 the warmup
    starts at; a decaying schedule's is its initial value; see ``Schedule.base_value``);
    a plain callable's is its value at step 0. Where the lr is handed over as a number
    on every step (:func:`gradtx.inject_hyperparams`, :func:`gradtx.lr_range_test`) the
    caller supplies the base it was built with (``gradtx.schedules._inject.base_lr_context``);
    an explicit ``base_lr`` wins. A base known at construction to be 0 raises
    ``ValueError`` (the bounds would divide by it); a traced base of 0 leaves
    ``final_lr`` unscaled rather than dividing by 0.
    ``v_t`` averages ``|g_t|^2`` (real for complex parameters, so the bounds act on a
    real step size); ``mu_dtype``/``nu_dtype`` set the storage dtypes (default: the state
    dtype policy, docs/dtypes.md).

    The output is the final, negative step (this transform plays the part of both
    ``scale_by_adam`` and ``scale_by_learning_rate``), because the clipping acts on the
    step size before it multiplies ``m_t``. It composes with the other transforms: the
    reference's L2 weight decay is ``chain(add_decayed_weights(wd), bound_lr(...))``.
    optax has no AdaBound.

    Args:
        learning_rate: :math:`\alpha_t`, a float ``>= 0`` or a schedule (default 1e-3,
            the reference's).
        final_lr: the SGD rate :math:`\alpha^*` the bounds converge to, a number
            ``>= 0`` (default 0.1).
        gamma: :math:`\gamma > 0`, the bounds' convergence speed (default 1e-3).
        b1: :math:`\beta_1` in ``[0, 1)`` (default 0.9).
        b2: :math:`\beta_2` in ``[0, 1)`` (default 0.999).
        eps: :math:`\epsilon \ge 0` (default 1e-8).
        amsbound: keyword-only, use the running maximum of :math:`v_t` (default
            ``False``).
        mu_dtype: keyword-only storage dtype of ``mu`` (default ``None``: the policy).
        base_lr: keyword-only reference lr ``> 0`` (default ``None``: see above).
        nu_dtype: keyword-only storage dtype of ``nu``/``nu_max``, real floating.

    Returns:
        A :class:`gradtx.GradientTransformation` with state ``BoundLrState``
        (``count``, ``mu``, ``nu``; ``nu_max``, ``None`` unless ``amsbound``). Its
        updates are the final steps (negative for a positive gradient).

    Raises:
        ValueError: ``learning_rate`` ``None``, negative or infinite; a negative
            ``final_lr`` or ``eps``; ``gamma <= 0``; ``b1``/``b2`` outside ``[0, 1)``;
            ``base_lr <= 0``; a schedule whose base value is known to be ``<= 0``
            without ``base_lr``.
        TypeError: a callable ``final_lr`` (it follows the schedule by itself) or
            ``base_lr``; a dtype that is not floating; a non-float gradient.

    Reference: Luo et al., *Adaptive Gradient Methods with Dynamic Bound of Learning
    Rate*, ICLR 2019 (github.com/Luolc/AdaBound).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.bound_lr(1.0, final_lr=0.1, gamma=1.0)
        >>> u, state = tx.update(jnp.array([1.0, -2.0]), tx.init(jnp.zeros(2)))
        >>> # eta_1 = 10 / |g| is clipped to the upper bound 0.1 * (1 + 1) = 0.2:
        >>> [round(x, 4) for x in u.tolist()]  # -0.2 * m_1 = -0.2 * 0.1 g
        [-0.02, 0.04]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    if callable(final_lr):
        raise TypeError(
            "final_lr must be a number (it follows the learning-rate schedule by itself, as "
            f"final_lr * lr_t / lr_0), got the callable {final_lr!r}"
        )
    _checks.non_negative("final_lr", final_lr)
    _checks.positive("gamma", gamma)
    _check_moments(b1, b2, eps, 0.0)
    mu_dtype, nu_dtype = _dtypes(mu_dtype, nu_dtype)
    base = _bound_base_lr(learning_rate, base_lr)

    def init_fn(params):
        return BoundLrState(
            count=zero_count(),
            mu=state_like(params, MOMENT, mu_dtype),
            nu=state_like(params, SQUARED, nu_dtype),
            nu_max=state_like(params, SQUARED, nu_dtype) if amsbound else None,
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.nu)
        count = safe_increment(state.count)
        if callable(learning_rate):
            lr = jnp.asarray(learning_rate(state.count), jnp.float32)
        else:
            lr = jnp.asarray(learning_rate, jnp.float32)
        if base is None:
            final = final_lr  # a number lr is its own base
        else:
            ref = jnp.asarray(base() if callable(base) else base, jnp.float32)
            final = jnp.where(ref > 0, final_lr * lr / jnp.where(ref > 0, ref, 1.0), final_lr)
        t = count.astype(jnp.float32)
        lower = final * (1 - 1 / (gamma * t + 1))
        upper = final * (1 + 1 / (gamma * t))
        step = lr * jnp.sqrt(bias_correction(b2, count)) / bias_correction(b1, count)

        def one(g, m, v, v_max=None):
            m_new, v_new = ema(g, m, b1, 1), ema(g, v, b2, 2)
            denom_v = jnp.maximum(v_max, v_new) if amsbound else v_new
            eta = jnp.clip(step / (jnp.sqrt(denom_v) + eps), lower, upper)
            out = (
                (-eta * m_new).astype(g.dtype),
                m_new.astype(m.dtype),
                v_new.astype(v.dtype),
            )
            return out + ((denom_v.astype(v_max.dtype),) if amsbound else ())

        trees = (updates, state.mu, state.nu) + ((state.nu_max,) if amsbound else ())
        out = map_outputs(one, *trees)
        return out[0], BoundLrState(
            count=count, mu=out[1], nu=out[2], nu_max=out[3] if amsbound else None
        )

    return GradientTransformation(init_fn, update_fn)


def _bound_base_lr(learning_rate: Any, base_lr: Any) -> Any:
    """``bound_lr``'s reference lr: None (a number lr, its own base), a value, or a
    function of nothing evaluated inside ``update`` (a schedule's, possibly traced)."""
    from gradtx.schedules._inject import current_base_lr, schedule_base_value

    if base_lr is None and not callable(learning_rate) and current_base_lr() is not None:
        base_lr = current_base_lr()
    if base_lr is not None:
        if callable(base_lr):
            raise TypeError(f"base_lr must be a number, got the callable {base_lr!r}")
        _checks.positive("base_lr", base_lr)
        return base_lr
    if not callable(learning_rate):
        return None
    value = _checks._concrete(schedule_base_value(learning_rate))
    if value is not None and value <= 0:
        raise ValueError(
            f"bound_lr: the learning-rate schedule's base value is {value!r}, but the bounds "
            "scale final_lr by lr_t / base_lr; pass base_lr= (the lr the schedule is relative "
            f"to) for {learning_rate!r}"
        )
    return lambda: schedule_base_value(learning_rate)


__all__ = ["BoundLrState", "bound_lr"]
