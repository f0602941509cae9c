"""D-Adaptation for AdamW (Defazio & Mishchenko, 2023): Adam whose step size ``d`` is a
lower bound on the distance to the solution, as ``optax.contrib.dadapt_adamw``."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformationExtraArgs
from gradtx.contrib._lrfree_common import (
    check_update_args,
    d_adapt_fields,
    grown_estimate,
    l1_norm,
    real_vdot,
    scaled_estimate,
)
from gradtx.tree._core import abs_sq, compute_dtype, map_outputs


class DAdaptAdamWState(NamedTuple):
    """State of :func:`dadapt_adamw` (optax.contrib's fields, in its order)."""

    exp_avg: Any  # like params: EMA of d_hat * g
    exp_avg_sq: Any  # like params: EMA of g^2 (per real part for complex params)
    grad_sum: Any  # like params: s, the EMA (decay sqrt(b2)) of d_hat * g
    estim_lr: jax.Array  # shape=(), params' lowest real dtype: the estimate d
    numerator_weighted: jax.Array  # shape=(), same dtype: the weighted <g, s / a> sum
    count: jax.Array  # shape=(), dtype=int32: the number of updates so far


def dadapt_adamw(
    learning_rate: Any = 1.0,
    betas: tuple[Any, Any] = (0.9, 0.999),
    eps: Any = 1e-8,
    estim_lr0: Any = 1e-6,
    weight_decay: Any = 0.0,
    *,
    use_bias_correction: bool = True,
) -> GradientTransformationExtraArgs:
    r"""D-Adaptation AdamW: Adam with a learning rate ``d`` estimated on the fly.

    With :math:`\gamma_k` = ``learning_rate`` (0-based step ``k``), the bias correction
    :math:`b_k = \sqrt{1-\beta_2^{k+1}} / (1-\beta_1^{k+1})`, :math:`\hat d_k = d_k
    \gamma_k b_k`, :math:`\rho = \sqrt{\beta_2}` and :math:`a_k = \sqrt{v_k} + \epsilon`:

    .. math::
        r_{k+1} &= \rho\, r_k + (1-\rho)\, \hat d_k \langle g_k, s_k / a_k \rangle, \\
        m_{k+1} &= \beta_1 m_k + (1-\beta_1) \hat d_k g_k, \quad
        v_{k+1} = \beta_2 v_k + (1-\beta_2) g_k^2, \quad
        s_{k+1} = \rho\, s_k + (1-\rho) \hat d_k g_k, \\
        d_{k+1} &= \max\Big(d_k, \frac{r_{k+1}}{(1-\rho) \lVert s_{k+1} \rVert_1}\Big),
        \quad u_k = -\lambda \hat d_k x_k - \frac{m_{k+1}}{\sqrt{v_{k+1}} + \epsilon},

    with :math:`d_0` = ``estim_lr0`` and :math:`\lambda` = ``weight_decay``
    (decoupled). Equal to ``optax.contrib.dadapt_adamw`` (signature, defaults, numbers,
    state tree).

    Where the authors' code (facebookresearch/dadaptation ``DAdaptAdam``) differs: its
    default is ``use_bias_correction=False`` (:math:`b_k = 1`), optax always corrects
    (gradtx too, by default; pass ``use_bias_correction=False`` for the authors'
    default); its default weight decay is coupled (``decouple=False``), optax's and
    gradtx's is decoupled (the authors' ``decouple=True``, AdamW). When
    :math:`\lVert s\rVert_1 = 0` the authors skip the step and optax's ``d`` becomes NaN
    (0/0); gradtx keeps ``d``. A complex entry counts as two real coordinates.

    Args:
      learning_rate: :math:`\gamma`, a multiplier of ``d`` (default 1.0) or a schedule of
        the 0-based step.
      betas: :math:`(\beta_1, \beta_2)`, each in ``[0, 1)`` (default (0.9, 0.999)).
      eps: :math:`\epsilon \ge 0` (default 1e-8).
      estim_lr0: :math:`d_0 > 0`, the initial estimate (default 1e-6).
      weight_decay: :math:`\lambda \ge 0`, decoupled (default 0).
      use_bias_correction: keyword-only (default True, optax's rule; the authors'
        default is False).

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs`; its ``update`` needs the params.
      State: :class:`DAdaptAdamWState`.

    Raises:
      ValueError: a beta outside ``[0, 1)``, ``eps < 0``, ``estim_lr0 <= 0`` or
        ``weight_decay < 0``; ``params=None`` at update.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gradtx, gradtx.contrib
      >>> tx = gradtx.contrib.dadapt_adamw()
      >>> params = jnp.array([1.0, 2.0])
      >>> state = tx.init(params)
      >>> @jax.jit
      ... def step(params, state):
      ...     u, state = tx.update(2 * params, state, params)
      ...     return gradtx.apply_updates(params, u), state
      >>> for _ in range(200):
      ...     params, state = step(params, state)
      >>> print(bool(state.estim_lr > 0.01), bool(jnp.sum(params**2) < 0.1))
      True True

    Reference: Defazio & Mishchenko, *Learning-Rate-Free Learning by D-Adaptation*, ICML
    2023 (arXiv:2301.07733); facebookresearch/dadaptation; optax.contrib
    ``dadapt_adamw``.
    """
    beta1, beta2 = betas
    _checks.decay_rate("betas[0]", beta1)
    _checks.decay_rate("betas[1]", beta2)
    _checks.non_negative("eps", eps)
    _checks.positive("estim_lr0", estim_lr0)
    _checks.non_negative("weight_decay", weight_decay)
    _checks.learning_rate("learning_rate", learning_rate)
    sb2 = beta2**0.5

    def init_fn(params):
        return DAdaptAdamWState(**d_adapt_fields(params, estim_lr0))

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        check_update_args("dadapt_adamw", updates, params, state.exp_avg)
        d = state.estim_lr
        dlr, count_inc = scaled_estimate(
            d, learning_rate, state.count, (beta1, beta2), use_bias_correction
        )

        def weighted(s, eas):
            return (s / (jnp.sqrt(eas) + eps),)

        (s_weighted,) = map_outputs(weighted, state.grad_sum, state.exp_avg_sq, empty=(updates,))
        numerator_acum = real_vdot(updates, s_weighted)

        def moments(g, ea, eas, s):
            g = g.astype(compute_dtype(g))
            new_ea = beta1 * ea + (1 - beta1) * dlr * g
            new_eas = beta2 * eas + (1 - beta2) * abs_sq(g)
            new_s = sb2 * s + (1 - sb2) * dlr * g
            return new_ea.astype(ea.dtype), new_eas.astype(eas.dtype), new_s.astype(s.dtype)

        exp_avg, exp_avg_sq, grad_sum = map_outputs(
            moments, updates, state.exp_avg, state.exp_avg_sq, state.grad_sum,
            empty=(updates, updates, updates),
        )
        numerator = (sb2 * state.numerator_weighted + (1 - sb2) * dlr * numerator_acum).astype(
            d.dtype
        )
        new_d = grown_estimate(d, numerator, l1_norm(grad_sum), scale=1 - sb2)

        def step(ea, eas, p):
            u = -weight_decay * dlr * p - ea / (jnp.sqrt(eas) + eps)
            return (u.astype(jnp.result_type(p)),)

        (new_updates,) = map_outputs(step, exp_avg, exp_avg_sq, params, empty=(updates,))
        return new_updates, DAdaptAdamWState(
            exp_avg, exp_avg_sq, grad_sum, new_d, numerator, count_inc
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)


__all__ = ["DAdaptAdamWState", "dadapt_adamw"]
