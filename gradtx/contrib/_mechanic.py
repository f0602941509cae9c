"""Mechanic (Cutkosky, Defazio & Mehta, 2023): learns a global scale of any base
optimiser's updates, as ``optax.contrib.mechanize``."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformationExtraArgs, _with_extra_args
from gradtx.contrib._lrfree_common import (
    check_update_args,
    lowest_dtype,
    param_copy,
    real_vdot,
    sq_norm,
)
from gradtx.tree._core import safe_increment, zero_count


class MechanicState(NamedTuple):
    """State of :func:`mechanize` (optax.contrib's fields, in its order)."""

    base_optimizer_state: Any  # the base optimiser's state
    count: jax.Array  # shape=(), dtype=int32: the number of updates so far
    r: jax.Array  # shape=(num_betas,), params' lowest real dtype: the rewards (wealth)
    m: jax.Array  # shape=(num_betas,), same dtype: the running max of |h|
    v: jax.Array  # shape=(num_betas,), same dtype: the discounted sum of h^2
    s: jax.Array  # shape=(num_betas,), same dtype: the scales (their sum scales Delta)
    x0: Any  # like params: the reference point x_ref (the initial params)


def mechanize(
    base_optimizer: Any,
    weight_decay: Any = 1e-2,
    eps: Any = 1e-8,
    s_init: Any = 1e-6,
    num_betas: int = 6,
) -> GradientTransformationExtraArgs:
    r"""Mechanic: tunes the scale of ``base_optimizer``'s updates on the fly.

    With the base optimiser's updates summed into :math:`\Delta_t` (recovered from the
    params, :math:`\Delta_t = (x_t - x_{ref}) / (\sum s + \epsilon)`, as in optax: no
    buffer is stored), :math:`\beta_i = 1 - 10^{-i}` (``i = 1..num_betas``) and
    :math:`\tilde g_t = g_t + \lambda \lVert g_t\rVert \sum s\, x_t / (\lVert x_t\rVert +
    \epsilon)`:

    .. math::
        h_t &= \langle \tilde g_t, \Delta_t \rangle, \quad
        m_{t,i} = \max(\beta_i m_{t-1,i}, |h_t| + \epsilon), \quad
        v_{t,i} = \beta_i^2 v_{t-1,i} + h_t^2, \\
        r_{t,i} &= \beta_i r_{t-1,i} - s_{t,i}\, \mathrm{clip}(h_t, \pm m_{t-1,i}), \quad
        s_{t+1,i} = \frac{s_{init} m_{t,i} / n + \max(0, r_{t,i})}{\sqrt{v_{t,i}} +
        \epsilon}, \\
        x_{t+1} &= x_{ref} + \textstyle\sum_i s_{t+1,i}\, (\Delta_t + u_t),

    where :math:`u_t` is the base optimiser's update; the returned update is
    :math:`x_{t+1} - x_t`. Equal to ``optax.contrib.mechanize`` (signature, defaults,
    numbers, state tree).

    Precision: the first steps move the params by about ``s_init`` times the base
    step; in float32 (ulp ~1e-7 of a parameter of size 1) a move below the params' ulp
    is lost, ``Delta`` stays 0 and the scales never grow (optax behaves the same). Keep
    ``s_init`` times the base learning rate well above ``1e-7 |x|`` (e.g. ``adam(0.1)``
    with the default ``s_init``), or train in float64.

    float16 params: the same, sooner. ``r, m, v, s`` and :math:`x_{ref}` are float32
    (the state policy), but :math:`\Delta_t` is read off the params: a first move below
    float16's smallest subnormal (6e-8; ``s_init * 0.01 = 1e-8`` with ``adam(0.01)``)
    rounds to 0 and the params never move (measured: params 0, gradient 300, 10 steps;
    optax.contrib.mechanize, whose state is float16 there, gives NaN).

    Args:
      base_optimizer: the base transformation (gradtx or optax), learning rate included.
      weight_decay: :math:`\lambda \ge 0`, relative to the gradient norm (default 0.01).
      eps: :math:`\epsilon \ge 0` (default 1e-8).
      s_init: :math:`s_{init} > 0`, the initial scale of each beta (default 1e-6).
      num_betas: ``n``, the number of betas :math:`1 - 10^{-i}` (default 6).

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs`; its ``update`` needs the params
      and passes ``extra_args`` to the base optimiser. State: :class:`MechanicState`.

    Raises:
      ValueError: ``weight_decay < 0``, ``eps < 0``, ``s_init <= 0`` or ``num_betas`` not
        a positive integer; ``params=None`` at update.
      TypeError: ``base_optimizer`` is not a gradient transformation.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gradtx, gradtx.contrib
      >>> tx = gradtx.contrib.mechanize(gradtx.adam(0.1))
      >>> params = jnp.array([1.0, 2.0])
      >>> state = tx.init(params)
      >>> @jax.jit
      ... def step(params, state):
      ...     u, state = tx.update(2 * params, state, params)
      ...     return gradtx.apply_updates(params, u), state
      >>> for _ in range(200):
      ...     params, state = step(params, state)
      >>> print(bool(jnp.sum(state.s) > 1e-2), bool(jnp.sum(params**2) < 1e-3))
      True True

    Reference: Cutkosky, Defazio & Mehta, *Mechanic: A Learning Rate Tuner*, NeurIPS
    2023 (arXiv:2306.00144, Algorithm 1); optax.contrib ``mechanize``.
    """
    base_optimizer = _with_extra_args(base_optimizer, "mechanize: base_optimizer")
    _checks.non_negative("weight_decay", weight_decay)
    _checks.non_negative("eps", eps)
    _checks.positive("s_init", s_init)
    _checks.positive_int("num_betas", num_betas)

    def init_fn(params):
        dtype = lowest_dtype(params)
        return MechanicState(
            base_optimizer_state=base_optimizer.init(params),
            count=zero_count(),
            r=jnp.zeros([num_betas], dtype),
            m=jnp.zeros([num_betas], dtype),
            v=jnp.zeros([num_betas], dtype),
            s=jnp.ones([num_betas], dtype) * s_init,
            x0=param_copy(params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        check_update_args("mechanize", updates, params, state.x0)
        dtype = state.s.dtype
        neg_updates, base_state = base_optimizer.update(
            updates, state.base_optimizer_state, params, **extra_args
        )
        x0 = jax.tree.map(
            lambda p, x: jnp.where(state.count == 0, p, x).astype(x.dtype), params, state.x0
        )
        s_sum = jnp.sum(state.s)
        grad_norm = jnp.sqrt(sq_norm(updates))
        param_norm = jnp.sqrt(sq_norm(params))
        wd_scale = weight_decay * s_sum * grad_norm / (param_norm + eps)
        decayed = jax.tree.map(lambda g, p: g + wd_scale * p, updates, params)
        delta_prev = jax.tree.map(lambda p, x: (x - p) / (s_sum + eps), params, x0)
        delta = jax.tree.map(lambda d, u: d - u, delta_prev, neg_updates)
        h = real_vdot(decayed, delta_prev).astype(dtype)
        clipped_h = jnp.clip(h, -state.m, state.m)
        betas = jnp.array([1.0 - 0.1**i for i in range(1, num_betas + 1)], dtype=dtype)
        m = jnp.maximum(betas * state.m, jnp.abs(h) + eps)
        v = betas**2 * state.v + h**2
        r = betas * state.r + clipped_h * state.s
        wealth = (s_init / num_betas) * m + jnp.maximum(0.0, r)
        s = wealth / (jnp.sqrt(v) + eps)
        s_total = jnp.sum(s)
        new_updates = jax.tree.map(
            lambda x, d, p: (x - s_total * d - p).astype(jnp.result_type(p)), x0, delta, params
        )
        return new_updates, MechanicState(
            base_optimizer_state=base_state,
            count=safe_increment(state.count),
            r=r.astype(dtype),
            m=m.astype(dtype),
            v=v.astype(dtype),
            s=s.astype(dtype),
            x0=x0,
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)


__all__ = ["MechanicState", "mechanize"]
