"""Prodigy (Mishchenko & Defazio, 2023): Adam whose step size ``d`` is estimated from the
distance travelled, as ``optax.contrib.prodigy``."""

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
    param_copy,
    real_vdot,
    scaled_estimate,
)
from gradtx.tree._core import abs_sq, compute_dtype, map_outputs


class ProdigyState(NamedTuple):
    """State of :func:`prodigy` (optax.contrib's fields, in its order)."""

    exp_avg: Any  # like params: EMA of d * g
    exp_avg_sq: Any  # like params: EMA of (d * g)^2 (per real part for complex params)
    grad_sum: Any  # like params: s, the weighted sum of d * g
    params0: Any  # like params: the initial params x_0
    estim_lr: jax.Array  # shape=(), params' lowest real dtype: the estimate d
    numerator_weighted: jax.Array  # shape=(), same dtype: the weighted <g, x_0 - x> sum
    count: jax.Array  # shape=(), dtype=int32: the number of updates so far


def prodigy(
    learning_rate: Any = 1.0,
    betas: tuple[Any, Any] = (0.9, 0.999),
    beta3: Any | None = None,
    eps: Any = 1e-8,
    estim_lr0: Any = 1e-6,
    estim_lr_coef: Any = 1.0,
    weight_decay: Any = 0.0,
    safeguard_warmup: bool = False,
    *,
    use_bias_correction: bool = True,
) -> GradientTransformationExtraArgs:
    r"""Prodigy: Adam with a learning rate ``d`` learnt from the distance to the start.

    With :math:`\gamma_k` = ``learning_rate`` (at the 0-based step ``k``), the bias
    correction :math:`b_k = \sqrt{1-\beta_2^{k+1}} / (1-\beta_1^{k+1})` and
    :math:`\hat d_k = d_k \gamma_k b_k`:

    .. math::
        m_{k+1} &= \beta_1 m_k + (1-\beta_1) d_k g_k, \quad
        v_{k+1} = \beta_2 v_k + (1-\beta_2) d_k^2 g_k^2, \\
        r_{k+1} &= \beta_3 r_k + \tfrac{d_k}{d_0} \hat d_k \langle g_k, x_0 - x_k\rangle,
        \quad s_{k+1} = \beta_3 s_k + \tfrac{d_k}{d_0} \hat d_k g_k, \\
        d_{k+1} &= \max\Big(d_k,\ c\,\frac{r_{k+1}}{\lVert s_{k+1}\rVert_1}\Big), \quad
        u_k = -\hat d_k \Big(\lambda x_k + \frac{m_{k+1}}{\sqrt{v_{k+1}} + d_{k+1}\epsilon}
        \Big),

    with :math:`d_0` = ``estim_lr0``, ``c`` = ``estim_lr_coef``, :math:`\lambda` =
    ``weight_decay`` (decoupled) and :math:`\beta_3 = \sqrt{\beta_2}` by default; with
    ``safeguard_warmup`` the ``s`` update uses :math:`d_k` instead of :math:`\hat d_k`.
    Equal to ``optax.contrib.prodigy`` (signature, defaults, numbers, state tree).

    Where the authors' code (konstmish/prodigy) differs: its default is
    ``use_bias_correction=False`` (:math:`b_k = 1`); optax always corrects, and so does
    gradtx by default (``use_bias_correction=False`` gives the authors' default). When
    :math:`\lVert s\rVert_1 = 0` (every gradient so far zero) the authors skip the step;
    optax divides by zero and ``d`` becomes NaN; gradtx keeps ``d`` (the step is then 0,
    as the authors'). A complex entry counts as two real coordinates (the real split).

    float16 params: :math:`x_0`, the moments and ``d`` are float32 (the state policy),
    but the distance :math:`x_0 - x_k` is read off the params the loop holds, which
    float16 rounds after every step; near 0 the first steps (about :math:`d_0`) are
    float16 subnormals with 4-5 significant bits, and ``d`` grows from the rounded
    distance. Measured (params 0, gradient 300, 10 steps): final params 2.7e-2 relative
    from the float32 run (optax.contrib.prodigy, whose state is float16 there: NaN). Keep
    a float32 copy of float16 params for the optimiser where that matters.

    Args:
      learning_rate: :math:`\gamma`, a multiplier of ``d`` (default 1.0) or a schedule of
        the 0-based step.
      betas: :math:`(\beta_1, \beta_2)`, each in ``[0, 1)`` (default (0.9, 0.999)).
      beta3: :math:`\beta_3` in ``[0, 1)`` (default None: :math:`\sqrt{\beta_2}`).
      eps: :math:`\epsilon` (scaled by ``d``; default 1e-8).
      estim_lr0: :math:`d_0 > 0`, the initial estimate (default 1e-6).
      estim_lr_coef: ``c > 0``, multiplies the estimate (default 1.0).
      weight_decay: :math:`\lambda \ge 0`, decoupled (default 0).
      safeguard_warmup: use :math:`d_k`, not :math:`\hat d_k`, in ``s`` (default False;
        helps with a warmup schedule).
      use_bias_correction: keyword-only (default True, optax's rule; the authors'
        default is False).

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs`; its ``update`` needs the params.
      State: :class:`ProdigyState`.

    Raises:
      ValueError: a beta outside ``[0, 1)``, ``eps < 0``, ``estim_lr0 <= 0``,
        ``estim_lr_coef <= 0`` or ``weight_decay < 0``; ``params=None`` at update.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gradtx, gradtx.contrib
      >>> tx = gradtx.contrib.prodigy()
      >>> params = jnp.array([1.0, 2.0])
      >>> state = tx.init(params)
      >>> @jax.jit
      ... def step(params, state):
      ...     u, state = tx.update(2 * params, state, params)
      ...     return gradtx.apply_updates(params, u), state
      >>> for _ in range(200):
      ...     params, state = step(params, state)
      >>> print(bool(state.estim_lr > 0.1), bool(jnp.sum(params**2) < 1e-2))
      True True

    Reference: Mishchenko & Defazio, *Prodigy: An Expeditiously Adaptive Parameter-Free
    Learner*, ICML 2024 (arXiv:2306.06101); konstmish/prodigy; optax.contrib ``prodigy``.
    """
    beta1, beta2 = betas
    _checks.decay_rate("betas[0]", beta1)
    _checks.decay_rate("betas[1]", beta2)
    if beta3 is None:
        beta3 = beta2**0.5
    _checks.decay_rate("beta3", beta3)
    _checks.non_negative("eps", eps)
    _checks.positive("estim_lr0", estim_lr0)
    _checks.positive("estim_lr_coef", estim_lr_coef)
    _checks.non_negative("weight_decay", weight_decay)
    _checks.learning_rate("learning_rate", learning_rate)

    def init_fn(params):
        return ProdigyState(params0=param_copy(params), **d_adapt_fields(params, estim_lr0))

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        check_update_args("prodigy", updates, params, state.params0)
        d = state.estim_lr
        dlr, count_inc = scaled_estimate(
            d, learning_rate, state.count, (beta1, beta2), use_bias_correction
        )
        s_rate = d if safeguard_warmup else dlr

        def moments(g, ea, eas, s):
            dg = d * g.astype(compute_dtype(g))
            new_ea = beta1 * ea + (1 - beta1) * dg
            new_eas = beta2 * eas + (1 - beta2) * abs_sq(dg)
            new_s = beta3 * s + s_rate * dg / estim_lr0
            return new_ea.astype(ea.dtype), new_eas.astype(eas.dtype), new_s.astype(s.dtype)

        exp_avg, exp_avg_sq, grad_sum = map_outputs(
            moments, updates, state.exp_avg, state.exp_avg_sq, state.grad_sum,
            empty=(updates, updates, updates),
        )
        diff = jax.tree.map(lambda p0, p: p0 - p, state.params0, params)
        numerator = beta3 * state.numerator_weighted + (d / estim_lr0) * dlr * real_vdot(
            updates, diff
        )
        numerator = numerator.astype(d.dtype)
        new_d = grown_estimate(d, estim_lr_coef * numerator, l1_norm(grad_sum))

        def step(ea, eas, p):
            u = -weight_decay * dlr * p - dlr * ea / (jnp.sqrt(eas) + new_d * eps)
            return (u.astype(jnp.result_type(p)),)

        (new_updates,) = map_outputs(step, exp_avg, exp_avg_sq, params, empty=(updates,))
        return new_updates, ProdigyState(
            exp_avg, exp_avg_sq, grad_sum, state.params0, new_d, numerator, count_inc
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)


__all__ = ["ProdigyState", "prodigy"]
