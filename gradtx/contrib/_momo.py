"""MoMo (Schaipp, Ohana, Eickenberg, Defazio & Gower, 2023): model-based momentum with an
adaptive (Polyak-like) step size from the loss value, as ``optax.contrib.momo`` and
``momo_adam``. Their ``update`` needs the loss: ``update(grads, state, params,
value=loss)``."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformationExtraArgs
from gradtx.contrib._lrfree_common import check_update_args, lowest_dtype, real_vdot, sq_norm
from gradtx.tree._core import (
    MOMENT,
    SQUARED,
    abs_sq,
    compute_dtype,
    map_outputs,
    safe_increment,
    state_like,
    zero_count,
)

# optax's threshold for a vanishing momentum norm: Python float's (float64) epsilon
_TINY = float(jnp.finfo(float).eps)


class MomoState(NamedTuple):
    """State of :func:`momo` (optax.contrib's fields, in its order)."""

    exp_avg: Any  # like params: d, the EMA of gradients
    barf: jax.Array  # shape=(), params' lowest real dtype: the EMA of loss values
    gamma: jax.Array  # shape=(), same dtype: the EMA of <g, x>
    lb: jax.Array  # shape=(), same dtype: the lower bound of the loss
    count: jax.Array  # shape=(), dtype=int32: the number of updates so far


class MomoAdamState(NamedTuple):
    """State of :func:`momo_adam` (optax.contrib's fields, in its order)."""

    exp_avg: Any  # like params: d, the EMA of gradients
    exp_avg_sq: Any  # like params: the EMA of g^2 (per real part for complex params)
    barf: jax.Array  # shape=(), params' lowest real dtype: the EMA of loss values
    gamma: jax.Array  # shape=(), same dtype: the EMA of <g, x>
    lb: jax.Array  # shape=(), same dtype: the lower bound of the loss
    count: jax.Array  # shape=(), dtype=int32: the number of updates so far


def _check_args(name: str, updates: Any, params: Any, value: Any, like: Any) -> Any:
    """``update``'s argument check (see ``check_update_args``), and the loss ``value``."""
    check_update_args(name, updates, params, like)
    if value is None:
        raise ValueError(
            f"{name} needs the loss: call update(grads, state, params, value=loss)"
        )
    return value


def _init_scalars(params: Any, lower_bound: Any) -> dict[str, jax.Array]:
    """The scalar fields both states start with: ``barf``, ``gamma``, ``lb``, ``count``."""
    dtype = lowest_dtype(params)
    return dict(barf=jnp.zeros([], dtype), gamma=jnp.zeros([], dtype),
                lb=jnp.asarray(lower_bound, dtype), count=zero_count())  # fmt: skip


def _polyak_step(alpha, wd, bc1, barf, gamma, iprod, norm, state_lb, *, adapt_lower_bound,
                 lower_bound, authors_convention):  # fmt: skip
    r"""MoMo's (and MoMo-Adam's, with the bias correction ``bc1`` = :math:`\rho_k`; 1 for
    MoMo) step size :math:`\tau_k`, capped at :math:`\alpha_k / \rho_k`, with ``wd`` =
    :math:`1 + \alpha_k\lambda`. Returns the factor of the direction (:math:`\tau_k`, or
    :math:`\tau_k / (1 + \alpha_k\lambda)` in the authors' convention) and the next
    lower bound."""
    lb = state_lb
    if adapt_lower_bound:  # the reset: halve the cap when it is below the current bound
        cap = wd * (barf - gamma) + iprod
        lb = jnp.where(cap < wd * bc1 * lb, jnp.maximum(cap / (2 * bc1 * wd), lower_bound), lb)
    t1 = jnp.maximum(wd * (barf - bc1 * lb - gamma) + iprod, 0.0) / norm
    t1 = jnp.where(norm <= _TINY, 0.0, t1)
    tau = jnp.minimum(alpha / bc1, t1)
    step = tau / wd if authors_convention else tau
    if adapt_lower_bound:
        new_lb = jnp.maximum(((barf + iprod - gamma) - 0.5 * tau * norm) / bc1, lower_bound)
    else:
        new_lb = state_lb
    return step, new_lb


def momo(
    learning_rate: Any = 1.0,
    beta: Any = 0.9,
    lower_bound: Any = 0.0,
    weight_decay: Any = 0.0,
    adapt_lower_bound: bool = False,
    *,
    authors_convention: bool = False,
) -> GradientTransformationExtraArgs:
    r"""MoMo: SGD with momentum and a Polyak-like step size from the loss.

    With :math:`\alpha_k` = ``learning_rate``, :math:`\lambda` = ``weight_decay``,
    ``f_k`` the loss (``value``) and the averages started at the first values
    (:math:`\beta = 0` at ``k = 0``):

    .. math::
        \bar f_k &= \beta \bar f_{k-1} + (1-\beta) f_k, \quad
        d_k = \beta d_{k-1} + (1-\beta) g_k, \quad
        \gamma_k = \beta \gamma_{k-1} + (1-\beta) \langle g_k, x_k\rangle, \\
        \tau_k &= \min\Big(\alpha_k, \frac{\big((1+\alpha_k\lambda)(\bar f_k - f_* -
        \gamma_k) + \langle d_k, x_k\rangle\big)_+}{\lVert d_k\rVert^2}\Big), \quad
        u_k = -\frac{\alpha_k \lambda}{1 + \alpha_k\lambda} x_k - \tau_k d_k,

    with :math:`f_*` = ``lower_bound`` (or its online estimate with
    ``adapt_lower_bound``); :math:`\tau_k = 0` when :math:`\lVert d_k\rVert^2` is below
    float64's epsilon. Equal to ``optax.contrib.momo`` (signature, defaults, numbers,
    state tree).

    With weight decay, the authors (paper and fabian-sp/MoMo) divide the whole step by
    :math:`1 + \alpha_k\lambda`, :math:`x_{k+1} = (x_k - \tau_k d_k) / (1 +
    \alpha_k\lambda)`; optax does not divide :math:`\tau_k d_k`.
    ``authors_convention=True`` gives the authors' rule (the default is optax's); the
    two are the same without weight decay.

    Args:
      learning_rate: :math:`\alpha`, the largest step size (default 1.0) or a schedule
        of the 0-based step.
      beta: the momentum :math:`\beta` in ``[0, 1)`` (default 0.9).
      lower_bound: :math:`f_*`, a lower bound of the loss (default 0).
      weight_decay: :math:`\lambda \ge 0` (default 0).
      adapt_lower_bound: estimate :math:`f_*` online (default False).
      authors_convention: keyword-only; see above (default False).

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs`; its ``update`` needs the params
      and the loss, ``update(grads, state, params, value=loss)``. State:
      :class:`MomoState`.

    Raises:
      ValueError: ``beta`` outside ``[0, 1)`` or ``weight_decay < 0``; ``params`` or
        ``value`` missing at update.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gradtx, gradtx.contrib
      >>> f = lambda p: jnp.sum(p**2)
      >>> tx = gradtx.contrib.momo()
      >>> params = jnp.array([1.0, 2.0])
      >>> state = tx.init(params)
      >>> @jax.jit
      ... def step(params, state):
      ...     loss, g = jax.value_and_grad(f)(params)
      ...     u, state = tx.update(g, state, params, value=loss)
      ...     return gradtx.apply_updates(params, u), state
      >>> for _ in range(100):
      ...     params, state = step(params, state)
      >>> print(bool(f(params) < 1e-2))
      True

    Reference: Schaipp et al., *MoMo: Momentum Models for Adaptive Learning Rates*, ICML
    2024 (arXiv:2305.07583); fabian-sp/MoMo; optax.contrib ``momo``.
    """
    _checks.decay_rate("beta", beta)
    _checks.non_negative("weight_decay", weight_decay)
    _checks.check_number("lower_bound", lower_bound)
    _checks.learning_rate("learning_rate", learning_rate)

    def init_fn(params):
        return MomoState(exp_avg=state_like(params, MOMENT), **_init_scalars(params, lower_bound))

    def update_fn(updates, state, params=None, *, value=None, **extra_args):
        del extra_args
        value = _check_args("momo", updates, params, value, state.exp_avg)
        dtype = state.barf.dtype
        bt = jnp.where(state.count == 0, 0.0, beta)
        barf = bt * state.barf + (1 - bt) * jnp.asarray(value, dtype)
        exp_avg = jax.tree.map(
            lambda ea, g: (bt * ea + (1 - bt) * g).astype(ea.dtype), state.exp_avg, updates
        )
        gamma = bt * state.gamma + (1 - bt) * real_vdot(updates, params)
        norm = sq_norm(exp_avg)
        iprod = real_vdot(exp_avg, params)
        alpha = learning_rate(state.count) if callable(learning_rate) else learning_rate
        wd = 1 + alpha * weight_decay
        step, new_lb = _polyak_step(
            alpha, wd, 1.0, barf, gamma, iprod, norm, state.lb,
            adapt_lower_bound=adapt_lower_bound, lower_bound=lower_bound,
            authors_convention=authors_convention,
        )  # fmt: skip
        new_updates = jax.tree.map(
            lambda ea, p: (-(alpha * weight_decay) / wd * p - step * ea).astype(
                jnp.result_type(p)
            ),
            exp_avg, params,
        )  # fmt: skip
        return new_updates, MomoState(
            exp_avg=exp_avg,
            barf=barf.astype(dtype),
            gamma=gamma.astype(dtype),
            lb=jnp.asarray(new_lb).astype(dtype),
            count=safe_increment(state.count),
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)


def momo_adam(
    learning_rate: Any = 1e-2,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    lower_bound: Any = 0.0,
    weight_decay: Any = 0.0,
    adapt_lower_bound: bool = False,
    *,
    authors_convention: bool = False,
) -> GradientTransformationExtraArgs:
    r"""MoMo-Adam: Adam's preconditioning with MoMo's adaptive step size.

    With :math:`\rho_k = 1-\beta_1^{k+1}`, :math:`D_k = \sqrt{v_k / (1-\beta_2^{k+1})} +
    \epsilon` and :math:`\lVert d\rVert_{D}^2 = \langle d, d / D\rangle`:

    .. math::
        \bar f_k &= \beta_1 \bar f_{k-1} + (1-\beta_1) f_k, \quad
        d_k = \beta_1 d_{k-1} + (1-\beta_1) g_k, \quad
        v_k = \beta_2 v_{k-1} + (1-\beta_2) g_k^2, \\
        \gamma_k &= \beta_1 \gamma_{k-1} + (1-\beta_1) \langle g_k, x_k\rangle, \quad
        \tau_k = \min\Big(\frac{\alpha_k}{\rho_k}, \frac{\big((1+\alpha_k\lambda)(\bar f_k
        - \rho_k f_* - \gamma_k) + \langle d_k, x_k\rangle\big)_+}{\lVert d_k
        \rVert_{D_k}^2}\Big), \\
        u_k &= -\frac{\alpha_k \lambda}{1 + \alpha_k\lambda} x_k - \tau_k \frac{d_k}{D_k}.

    Equal to ``optax.contrib.momo_adam`` (signature, defaults, numbers, state tree). The
    authors (fabian-sp/MoMo ``MomoAdam``) divide the whole step by
    :math:`1+\alpha_k\lambda` with weight decay; ``authors_convention=True`` gives that
    rule (the same without weight decay).

    Args:
      learning_rate: :math:`\alpha` (default 1e-2) or a schedule of the 0-based step.
      b1: :math:`\beta_1` in ``[0, 1)`` (default 0.9).
      b2: :math:`\beta_2` in ``[0, 1)`` (default 0.999).
      eps: :math:`\epsilon \ge 0` (default 1e-8).
      lower_bound: :math:`f_*` (default 0).
      weight_decay: :math:`\lambda \ge 0` (default 0).
      adapt_lower_bound: estimate :math:`f_*` online (default False).
      authors_convention: keyword-only; see above (default False).

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs`; its ``update`` needs the params
      and ``value=loss``. State: :class:`MomoAdamState`.

    Raises:
      ValueError: ``b1`` or ``b2`` outside ``[0, 1)``, ``eps < 0`` or
        ``weight_decay < 0``; ``params`` or ``value`` missing at update.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gradtx, gradtx.contrib
      >>> f = lambda p: jnp.sum(p**2)
      >>> tx = gradtx.contrib.momo_adam(0.1)
      >>> params = jnp.array([1.0, 2.0])
      >>> state = tx.init(params)
      >>> @jax.jit
      ... def step(params, state):
      ...     loss, g = jax.value_and_grad(f)(params)
      ...     u, state = tx.update(g, state, params, value=loss)
      ...     return gradtx.apply_updates(params, u), state
      >>> for _ in range(100):
      ...     params, state = step(params, state)
      >>> print(bool(f(params) < 0.05))
      True

    Reference: Schaipp et al., ICML 2024 (arXiv:2305.07583); fabian-sp/MoMo; optax.contrib
    ``momo_adam``.
    """
    _checks.decay_rate("b1", b1)
    _checks.decay_rate("b2", b2)
    _checks.non_negative("eps", eps)
    _checks.non_negative("weight_decay", weight_decay)
    _checks.check_number("lower_bound", lower_bound)
    _checks.learning_rate("learning_rate", learning_rate)

    def init_fn(params):
        return MomoAdamState(
            exp_avg=state_like(params, MOMENT),
            exp_avg_sq=state_like(params, SQUARED),
            **_init_scalars(params, lower_bound),
        )

    def update_fn(updates, state, params=None, *, value=None, **extra_args):
        del extra_args
        value = _check_args("momo_adam", updates, params, value, state.exp_avg)
        dtype = state.barf.dtype
        count_inc = safe_increment(state.count)
        barf = b1 * state.barf + (1 - b1) * jnp.asarray(value, dtype)
        bc2 = jnp.asarray(1 - b2**count_inc, dtype)
        bc1 = jnp.asarray(1 - b1**count_inc, dtype)

        def moments(g, ea, eas):
            g = g.astype(compute_dtype(g))
            new_ea = b1 * ea + (1 - b1) * g
            new_eas = b2 * eas + (1 - b2) * abs_sq(g)
            precond = eps + jnp.sqrt(new_eas / bc2)
            return new_ea.astype(ea.dtype), new_eas.astype(eas.dtype), new_ea / precond

        exp_avg, exp_avg_sq, weighted = map_outputs(
            moments, updates, state.exp_avg, state.exp_avg_sq, empty=(updates,) * 3
        )
        norm = real_vdot(exp_avg, weighted)
        gamma = b1 * state.gamma + (1 - b1) * real_vdot(updates, params)
        iprod = real_vdot(exp_avg, params)
        alpha = learning_rate(state.count) if callable(learning_rate) else learning_rate
        wd = 1 + alpha * weight_decay
        step, new_lb = _polyak_step(
            alpha, wd, bc1, barf, gamma, iprod, norm, state.lb,
            adapt_lower_bound=adapt_lower_bound, lower_bound=lower_bound,
            authors_convention=authors_convention,
        )  # fmt: skip

        def apply(w, p):
            u = -(alpha * weight_decay) / wd * p - step * w
            return (u.astype(jnp.result_type(p)),)

        (new_updates,) = map_outputs(apply, weighted, params, empty=(updates,))
        return new_updates, MomoAdamState(
            exp_avg=exp_avg,
            exp_avg_sq=exp_avg_sq,
            barf=barf.astype(dtype),
            gamma=gamma.astype(dtype),
            lb=jnp.asarray(new_lb).astype(dtype),
            count=count_inc,
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)


__all__ = ["MomoAdamState", "MomoState", "momo", "momo_adam"]
