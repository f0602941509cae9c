"""Per-coordinate step sizes from the history of squared gradients: Adagrad, RMSProp
(plain and centred) and Adadelta."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation, with_spec
from gradtx.tree import _core as _tree
from gradtx.tree._core import (
    MOMENT,
    SQUARED,
    abs_sq,
    check_updates,
    compute_dtype,
    ema,
    map_outputs,
    safe_increment,
    state_like,
    zero_count,
)


class ScaleByRssState(NamedTuple):
    sum_of_squares: Any  # sum of |g|^2, shaped like params, real (dtype: nu_dtype or policy)


def scale_by_rss(
    initial_accumulator_value: float = 0.1, eps: float = 1e-7, *, nu_dtype: Any | None = None
) -> GradientTransformation:
    r"""Adagrad's scaling by the root of the sum of squared gradients.

    .. math::

        s_t = s_{t-1} + |g_t|^2, \qquad u_t = \frac{g_t}{\sqrt{s_t + \epsilon}}
        \ \ (u_t = 0 \text{ where } s_t = 0)

    with :math:`s_0` = ``initial_accumulator_value``. Defaults (0.1, 1e-7) are optax's.
    (torch's Adagrad puts eps outside the root and starts at 0.) ``s`` is real (for a
    complex parameter it sums ``|g|^2``) and stored in ``nu_dtype`` (keyword-only;
    default: the state dtype policy of docs/dtypes.md, float32 for float16 params).

    Args:
        initial_accumulator_value: :math:`s_0 \ge 0` (default 0.1).
        eps: :math:`\epsilon \ge 0`, added inside the root (default 1e-7).
        nu_dtype: keyword-only storage dtype of ``s``, a real floating dtype or ``None``
            (default: the state dtype policy).

    Returns:
        A :class:`gradtx.GradientTransformation` with state ``ScaleByRssState``
        (``sum_of_squares``: :math:`s_t`, shaped like the params, as optax's). Updates
        keep the gradient's dtype.

    Raises:
        ValueError: a negative or NaN ``initial_accumulator_value`` or ``eps``.
        TypeError: ``nu_dtype`` is not a real floating dtype; a non-float gradient.

    Reference: Duchi et al., *Adaptive Subgradient Methods for Online Learning and
    Stochastic Optimization*, JMLR 2011.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_rss(initial_accumulator_value=0.0, eps=0.0)
        >>> state = tx.init(jnp.zeros(2))
        >>> for g in ([3.0, 0.0], [4.0, 0.0]):
        ...     u, state = tx.update(jnp.array(g), state)
        >>> [round(x, 4) for x in u.tolist()]  # 4 / sqrt(9 + 16); 0 where s = 0
        [0.8, 0.0]
    """
    _checks.non_negative("initial_accumulator_value", initial_accumulator_value)
    _checks.non_negative("eps", eps)
    nu_dtype = _checks.state_dtype("nu_dtype", nu_dtype, allow_complex=False)

    def init_fn(params):
        return ScaleByRssState(
            sum_of_squares=state_like(params, SQUARED, nu_dtype, initial_accumulator_value)
        )

    def one(g, s):
        g_c = g.astype(compute_dtype(g, s))
        s_new = s.astype(compute_dtype(s)) + abs_sq(g_c)
        u = jnp.where(s_new > 0, jax.lax.rsqrt(s_new + eps), 0.0) * g_c
        return u.astype(g.dtype), s_new.astype(s.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.sum_of_squares)
        u, s = map_outputs(one, updates, state.sum_of_squares)
        return u, ScaleByRssState(sum_of_squares=s)

    return with_spec(
        GradientTransformation(init_fn, update_fn), "scale_by_rss",
        initial_accumulator_value=initial_accumulator_value, eps=eps
    )


# The four state trees of optax's scale_by_rms / scale_by_stddev (a checkpoint written by
# one library restores into the other): the count only with bias correction, mu only when
# centred.
class ScaleByRmsState(NamedTuple):
    nu: Any  # E|g|^2, shaped like params, real (dtype: nu_dtype or the state policy)


class ScaleByRmsWithCountState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32: steps so far (for the bias correction)
    nu: Any  # E|g|^2, as ScaleByRmsState.nu


class ScaleByRStdDevState(NamedTuple):
    mu: Any  # E[g], like params (complex for complex params)
    nu: Any  # E|g|^2, as ScaleByRmsState.nu


class ScaleByRStdDevWithCountState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32: steps so far (for the bias correction)
    mu: Any  # E[g], as ScaleByRStdDevState.mu
    nu: Any  # E|g|^2, as ScaleByRmsState.nu


def _rms_state(count: Any, nu: Any, mu: Any, centered: bool, with_count: bool) -> Any:
    """optax's state tree for this variant."""
    if centered:
        if with_count:
            return ScaleByRStdDevWithCountState(count=count, mu=mu, nu=nu)
        return ScaleByRStdDevState(mu=mu, nu=nu)
    if with_count:
        return ScaleByRmsWithCountState(count=count, nu=nu)
    return ScaleByRmsState(nu=nu)


def scale_by_rms(
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
    *,
    centered: bool = False,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""RMSProp's scaling by a moving root mean square of the gradients.

    .. math::

        \nu_t = \rho\,\nu_{t-1} + (1-\rho) |g_t|^2, \qquad
        u_t = \frac{g_t}{\sqrt{\nu_t + \epsilon}} \ \text{(eps_in_sqrt)} \quad\text{or}\quad
        \frac{g_t}{\sqrt{\nu_t} + \epsilon}

    Centred (Graves 2013): also ``mu_t = rho mu_{t-1} + (1-rho) g_t`` and
    ``max(nu_t - |mu_t|^2, 0)`` (a variance, clamped at 0: the difference of two rounded
    numbers can fall below 0 when ``|E[g]|`` is large against the spread of ``g``)
    replaces ``nu_t``. With ``bias_correction``, ``nu`` and ``mu`` are divided by
    ``1 - rho^t``. ``nu_0 = initial_scale``. ``nu`` is real and stored in ``nu_dtype``
    (keyword-only; default: the state dtype policy of docs/dtypes.md); ``mu`` is complex
    for a complex parameter.

    Defaults equal optax's ``scale_by_rms`` (centred: ``scale_by_stddev``); torch's
    RMSprop is ``eps_in_sqrt=False``.

    Args:
        decay: :math:`\rho` in ``[0, 1)`` (default 0.9).
        eps: :math:`\epsilon \ge 0` (default 1e-8).
        initial_scale: :math:`\nu_0 \ge 0` (default 0.0).
        eps_in_sqrt: add ``eps`` inside the root (default ``True``, optax's) or outside
            (``False``, torch's).
        bias_correction: divide the averages by :math:`1-\rho^t` (default ``False``).
        centered: keyword-only, subtract :math:`|\mu_t|^2` (default ``False``).
        nu_dtype: keyword-only storage dtype of ``nu``, real floating or ``None``
            (default: the state dtype policy).

    Returns:
        A :class:`gradtx.GradientTransformation` with optax's state tree:
        ``ScaleByRmsState(nu)``, with ``bias_correction`` ``ScaleByRmsWithCountState(count,
        nu)``; centred ``ScaleByRStdDevState(mu, nu)`` /
        ``ScaleByRStdDevWithCountState(count, mu, nu)`` (``count``: int32 scalar). Updates
        keep the gradient's dtype.

    Raises:
        ValueError: ``decay`` outside ``[0, 1)``; a negative ``eps`` or
            ``initial_scale``; ``eps=0`` with ``initial_scale=0`` (a gradient that has
            been 0 so far gives ``0/0``) and ``eps=0`` when centred (a constant gradient
            has variance 0); optax returns NaN/inf there.
        TypeError: ``nu_dtype`` is not a real floating dtype; a non-float gradient.

    References:
        Tieleman & Hinton, Lecture 6.5 of *Neural Networks for Machine Learning*, 2012;
        Graves, *Generating Sequences With Recurrent Neural Networks*, 2013.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_rms(decay=0.9)
        >>> u, state = tx.update(jnp.array([1.0, -2.0]), tx.init(jnp.zeros(2)))
        >>> [round(x, 4) for x in u.tolist()]  # g / sqrt(0.1 g^2) = sqrt(10) sign(g)
        [3.1623, -3.1623]
    """
    _checks.decay_rate("decay", decay)
    _checks.non_negative("eps", eps)
    _checks.non_negative("initial_scale", initial_scale)
    if centered:  # a constant gradient has variance 0: g / sqrt(0) = inf
        _checks.nonzero_denominator("centred RMSProp", eps=eps)
    else:
        _checks.nonzero_denominator("RMSProp", eps=eps, initial_scale=initial_scale)
    # traced eps = initial_scale = 0: nu = 0 where the gradient has been 0 (rsqrt(0) * 0)
    guard = not centered and _checks.denominator_may_be_zero(eps=eps, initial_scale=initial_scale)
    nu_dtype = _checks.state_dtype("nu_dtype", nu_dtype, allow_complex=False)
    do_bias_correction = bias_correction

    def init_fn(params):
        return _rms_state(
            zero_count(),
            state_like(params, SQUARED, nu_dtype, initial_scale),
            state_like(params, MOMENT) if centered else None,
            centered,
            do_bias_correction,
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.nu)
        if do_bias_correction:
            count = safe_increment(state.count)
            c = _tree.bias_correction(decay, count)
        else:
            count, c = None, 1.0

        def one(g, n, m=None):
            n_new = ema(g, n, decay, 2)
            var = n_new / c
            if centered:
                m_new = ema(g, m, decay, 1)
                # E|g|^2 - |E g|^2 >= 0 in exact arithmetic, but it is a difference of two
                # rounded numbers: with g = 1000 + 1e-3 N(0,1) it rounds below 0 (NaN).
                var = jnp.maximum(var - abs_sq(m_new / c), 0.0)
            if guard:  # var + eps = 0 only where every gradient so far was 0
                ok = var + eps > 0
                var = jnp.where(ok, var, 1.0)
            scaling = jax.lax.rsqrt(var + eps) if eps_in_sqrt else 1 / (jnp.sqrt(var) + eps)
            if guard:
                scaling = jnp.where(ok, scaling, 0.0)
            out = ((scaling * g).astype(g.dtype), n_new.astype(n.dtype))
            return out + ((m_new.astype(m.dtype),) if centered else ())

        trees = (updates, state.nu) + ((state.mu,) if centered else ())
        out = map_outputs(one, *trees)
        mu = out[2] if centered else None
        return out[0], _rms_state(count, out[1], mu, centered, do_bias_correction)

    return with_spec(
        GradientTransformation(init_fn, update_fn), "scale_by_rms", decay=decay, eps=eps,
        initial_scale=initial_scale, eps_in_sqrt=eps_in_sqrt,
        bias_correction=bias_correction, centered=centered
    )


def scale_by_stddev(
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Centred RMSProp's scaling: ``scale_by_rms(..., centered=True)`` (optax's name).

    .. math::

        \nu_t = \rho\,\nu_{t-1} + (1-\rho) |g_t|^2, \quad
        \mu_t = \rho\,\mu_{t-1} + (1-\rho) g_t, \quad
        u_t = \frac{g_t}{\sqrt{\max(\nu_t - |\mu_t|^2, 0) + \epsilon}}

    (``eps`` outside the root with ``eps_in_sqrt=False``; both averages divided by
    :math:`1-\rho^t` with ``bias_correction``). See :func:`scale_by_rms` for the details;
    the same as ``optax.scale_by_stddev``.

    Args:
        decay: :math:`\rho` in ``[0, 1)`` (default 0.9).
        eps: :math:`\epsilon > 0` (default 1e-8).
        initial_scale: :math:`\nu_0 \ge 0` (default 0.0).
        eps_in_sqrt: ``eps`` inside the root (default ``True``) or outside.
        bias_correction: divide the averages by :math:`1-\rho^t` (default ``False``).
        nu_dtype: keyword-only storage dtype of ``nu`` (default: the state dtype policy).

    Returns:
        A :class:`gradtx.GradientTransformation` with state ``ScaleByRStdDevState(mu,
        nu)`` (``ScaleByRStdDevWithCountState(count, mu, nu)`` with ``bias_correction``),
        optax's.

    Raises:
        ValueError: ``decay`` outside ``[0, 1)``; a negative ``eps`` or
            ``initial_scale``; ``eps=0`` (a constant gradient has variance 0).
        TypeError: ``nu_dtype`` is not a real floating dtype; a non-float gradient.

    Reference: Graves, *Generating Sequences With Recurrent Neural Networks*, 2013.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_stddev()
        >>> state = tx.init(jnp.zeros(2))
        >>> for g in ([1.0, -2.0], [3.0, -2.0]):
        ...     u, state = tx.update(jnp.array(g), state)
        >>> [round(x, 4) for x in u.tolist()]
        [3.2774, -2.5491]
    """
    return scale_by_rms(
        decay, eps, initial_scale, eps_in_sqrt, bias_correction, centered=True, nu_dtype=nu_dtype
    )


class ScaleByAdaDeltaState(NamedTuple):
    e_g: Any  # E|g|^2, shaped like params, real (dtype: nu_dtype or the state policy)
    e_x: Any  # E|dx|^2, shaped like params, real (dtype: nu_dtype or the state policy)


def scale_by_adadelta(
    rho: float = 0.9, eps: float = 1e-6, *, nu_dtype: Any | None = None
) -> GradientTransformation:
    r"""Adadelta's unit-correcting scaling.

    .. math::

        E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho) |g_t|^2, \quad
        \Delta_t = \frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}\, g_t,
        \quad E[\Delta^2]_t = \rho E[\Delta^2]_{t-1} + (1-\rho)|\Delta_t|^2

    :math:`u_t = \Delta_t`; both averages start at 0. Defaults (0.9, 1e-6) are optax's and
    torch's. Chain with ``scale_by_learning_rate(1.0)`` for the paper's step. Both
    averages are real (squared magnitudes for complex parameters; optax squares the
    complex number here) and stored in ``nu_dtype`` (keyword-only; default: the state
    dtype policy of docs/dtypes.md, float32 for float16 params, where ``E[dx^2]`` of
    about ``eps`` would be subnormal).

    Args:
        rho: :math:`\rho` in ``[0, 1)``, the decay of both averages (default 0.9).
        eps: :math:`\epsilon > 0` (default 1e-6); it sets the first steps' size,
            about :math:`\sqrt{\epsilon}`.
        nu_dtype: keyword-only storage dtype of both averages, real floating or ``None``
            (default: the state dtype policy).

    Returns:
        A :class:`gradtx.GradientTransformation` with state ``ScaleByAdaDeltaState``
        (``e_g``: :math:`E[g^2]`, ``e_x``: :math:`E[\Delta^2]`, shaped like the params,
        as optax's). Updates keep the gradient's dtype.

    Raises:
        ValueError: ``rho`` outside ``[0, 1)``; ``eps <= 0`` (``eps = 0`` divides 0 by 0
            at the first step and never moves).
        TypeError: ``nu_dtype`` is not a real floating dtype; a non-float gradient.

    Reference: Zeiler, *ADADELTA: An Adaptive Learning Rate Method*, 2012.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_adadelta(rho=0.9, eps=1e-6)
        >>> u, state = tx.update(jnp.array([1.0, -2.0]), tx.init(jnp.zeros(2)))
        >>> [round(x, 4) for x in u.tolist()]  # sqrt(eps) / sqrt(0.1) * sign(g)
        [0.0032, -0.0032]
        >>> [round(x, 4) for x in state.e_g.tolist()]
        [0.1, 0.4]
    """
    _checks.decay_rate("rho", rho)
    # eps = 0 divides 0 by 0 at the first step (E[dx^2]_0 = 0) and never moves.
    _checks.positive("eps", eps)
    nu_dtype = _checks.state_dtype("nu_dtype", nu_dtype, allow_complex=False)

    def init_fn(params):
        return ScaleByAdaDeltaState(
            e_g=state_like(params, SQUARED, nu_dtype), e_x=state_like(params, SQUARED, nu_dtype)
        )

    def one(g, e_g, e_x):
        e_g_new = ema(g, e_g, rho, 2)
        delta = jnp.sqrt(e_x + eps) / jnp.sqrt(e_g_new + eps) * g
        e_x_new = ema(delta, e_x, rho, 2)
        return delta.astype(g.dtype), e_g_new.astype(e_g.dtype), e_x_new.astype(e_x.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.e_g)
        out = map_outputs(one, updates, state.e_g, state.e_x)
        return out[0], ScaleByAdaDeltaState(e_g=out[1], e_x=out[2])

    return GradientTransformation(init_fn, update_fn)


__all__ = [
    "ScaleByAdaDeltaState",
    "ScaleByRStdDevState",
    "ScaleByRStdDevWithCountState",
    "ScaleByRmsState",
    "ScaleByRmsWithCountState",
    "ScaleByRssState",
    "scale_by_adadelta",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_stddev",
]
