"""The Adam family: Adam (and NAdam), AMSGrad, Yogi, and AdaBound/AMSBound's bounded
step size (:func:`bound_lr`). The moment updates are the shared helpers of
:mod:`gradtx.tree._core`; each function here holds only its own rule."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation, with_spec
from gradtx.tree._core import (
    MOMENT,
    SQUARED,
    abs_sq,
    bias_correction,
    check_updates,
    compute_dtype,
    ema,
    guarded_quotient,
    map_outputs,
    safe_increment,
    state_like,
    zero_count,
)


class ScaleByAdamState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32: updates made so far
    mu: Any  # first moment, like params (dtype: mu_dtype or the state policy)
    nu: Any  # second moment E|g|^2, shaped like params, real (dtype: nu_dtype or policy)


class ScaleByAmsgradState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32
    mu: Any  # first moment, like params
    nu: Any  # second moment E|g|^2, shaped like params, real
    nu_max: Any  # running max of the (bias-corrected) second moment, real


def _check_moments(b1, b2, eps, eps_root) -> None:
    _checks.decay_rate("b1", b1)
    _checks.decay_rate("b2", b2)
    _checks.non_negative("eps", eps)
    _checks.non_negative("eps_root", eps_root)


def _dtypes(mu_dtype: Any | None, nu_dtype: Any | None) -> tuple[Any, Any]:
    return (
        _checks.state_dtype("mu_dtype", mu_dtype),
        _checks.state_dtype("nu_dtype", nu_dtype, allow_complex=False),
    )


def scale_by_adam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = False,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Adam's scaling by bias-corrected moment estimates.

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) |g_t|^2,\quad
        \hat m_t = \frac{m_t}{1-\beta_1^t},\quad \hat v_t = \frac{v_t}{1-\beta_2^t},\quad
        u_t = \frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{root}} + \epsilon}

    with :math:`m_0 = v_0 = 0` and :math:`t = 1, 2, \ldots`. With ``nesterov=True``
    (NAdam, Dozat 2016) ``m_hat`` becomes ``b1 m_t/(1-b1^{t+1}) + (1-b1) g_t/(1-b1^t)``.
    Defaults equal optax's ``scale_by_adam`` and the paper's. ``mu_dtype`` and
    ``nu_dtype`` (keyword-only) set the moments' storage dtypes; by default they follow
    the state dtype policy (docs/dtypes.md: the params' dtype, float32 for float16
    params, ``nu`` real for complex params). The moments are computed in at least float32
    and the update keeps the gradient's dtype. A complex parameter works as in optax:
    ``|g|^2`` is shared by its real and imaginary parts (use
    :func:`gradtx.contrib.split_real_and_imaginary` for torch's per-part second moments).

    Args:
        b1: :math:`\beta_1` in ``[0, 1)``, decay of the first moment (default 0.9).
        b2: :math:`\beta_2` in ``[0, 1)``, decay of the second moment (default 0.999).
        eps: :math:`\epsilon \ge 0`, added outside the root (default 1e-8).
        eps_root: :math:`\epsilon_{root} \ge 0`, added inside the root (default 0.0;
            positive when differentiating through the update, as in optax).
        mu_dtype: storage dtype of ``mu`` (default ``None``: the state dtype policy).
        nesterov: keyword-only, NAdam's Nesterov momentum (default ``False``).
        nu_dtype: keyword-only storage dtype of ``nu``, real floating (default ``None``:
            the state dtype policy).

    Returns:
        A :class:`gradtx.GradientTransformation` with state ``ScaleByAdamState``
        (``count``: int32 scalar, ``mu``, ``nu``: trees like the params; optax's fields
        and order).

    Raises:
        ValueError: ``b1`` or ``b2`` outside ``[0, 1)``; a negative ``eps`` or
            ``eps_root``; ``eps = eps_root = 0``: a coordinate whose gradient has been 0
            at every step would get ``0/0 = NaN`` (optax returns NaN there).
        TypeError: ``mu_dtype``/``nu_dtype`` not a floating dtype (``nu_dtype`` not a
            real one); a non-float gradient.

    Reference: Kingma & Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_adam()
        >>> state = tx.init(jnp.zeros(2))
        >>> u, state = tx.update(jnp.array([1.0, -2.0]), state)
        >>> [round(x, 4) for x in u.tolist()]  # the first step is sign(g)
        [1.0, -1.0]
        >>> u, state = tx.update(jnp.array([3.0, -2.0]), state)
        >>> [round(x, 4) for x in u.tolist()]
        [0.9178, -1.0]
    """
    _check_moments(b1, b2, eps, eps_root)
    _checks.nonzero_denominator("Adam", eps=eps, eps_root=eps_root)
    guard = _checks.denominator_may_be_zero(eps=eps, eps_root=eps_root)  # traced eps = 0
    mu_dtype, nu_dtype = _dtypes(mu_dtype, nu_dtype)

    def init_fn(params):
        return ScaleByAdamState(
            count=zero_count(),
            mu=state_like(params, MOMENT, mu_dtype),
            nu=state_like(params, SQUARED, nu_dtype),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.nu)
        count = safe_increment(state.count)
        c1, c2 = bias_correction(b1, count), bias_correction(b2, count)
        c1_next = bias_correction(b1, safe_increment(count)) if nesterov else None

        def one(g, m, v):
            m_new, v_new = ema(g, m, b1, 1), ema(g, v, b2, 2)
            if nesterov:
                m_hat = b1 * m_new / c1_next + (1 - b1) * g.astype(m_new.dtype) / c1
            else:
                m_hat = m_new / c1
            den = jnp.sqrt(v_new / c2 + eps_root) + eps
            u = guarded_quotient(m_hat, den) if guard else m_hat / den
            return u.astype(g.dtype), m_new.astype(m.dtype), v_new.astype(v.dtype)

        out = map_outputs(one, updates, state.mu, state.nu)
        return out[0], ScaleByAdamState(count=count, mu=out[1], nu=out[2])

    return with_spec(
        GradientTransformation(init_fn, update_fn), "scale_by_adam", b1=b1, b2=b2, eps=eps,
        eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov
    )


def scale_by_amsgrad(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any | None = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""AMSGrad: Adam with the running maximum of the second moment.

    .. math::

        \hat v^{max}_t = \max(\hat v^{max}_{t-1}, \hat v_t),\qquad
        u_t = \frac{\hat m_t}{\sqrt{\hat v^{max}_t + \epsilon_{root}} + \epsilon}

    with ``m_hat``, ``v_hat`` as in :func:`scale_by_adam` (each bias correction can be
    switched off; both off is the paper's form) and :math:`\hat v^{max}_0 = 0`. Defaults
    equal optax's. ``nu`` and ``nu_max`` are real and stored in ``nu_dtype``
    (keyword-only; default: the state dtype policy, docs/dtypes.md).

    Args:
        b1: :math:`\beta_1` in ``[0, 1)`` (default 0.9).
        b2: :math:`\beta_2` in ``[0, 1)`` (default 0.999).
        eps: :math:`\epsilon \ge 0`, outside the root (default 1e-8).
        eps_root: :math:`\epsilon_{root} \ge 0`, inside the root (default 0.0).
        mu_dtype: storage dtype of ``mu`` (default ``None``: the state dtype policy).
        bias_correction_mu: divide :math:`m_t` by :math:`1-\beta_1^t` (default ``True``).
        bias_correction_nu: divide :math:`v_t` by :math:`1-\beta_2^t` before the maximum
            (default ``True``).
        nu_dtype: keyword-only storage dtype of ``nu`` and ``nu_max``, real floating
            (default ``None``: the state dtype policy).

    Returns:
        A :class:`gradtx.GradientTransformation` with state ``ScaleByAmsgradState``
        (``count``, ``mu``, ``nu``, ``nu_max``; optax's fields and order).

    Raises:
        ValueError: ``b1`` or ``b2`` outside ``[0, 1)``; a negative ``eps`` or
            ``eps_root``; ``eps = eps_root = 0``: a coordinate whose gradient has been 0
            at every step would get ``0/0 = NaN`` (optax returns NaN there).
        TypeError: ``mu_dtype``/``nu_dtype`` not a floating dtype; a non-float gradient.

    Reference: Reddi et al., *On the Convergence of Adam and Beyond*, ICLR 2018.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_amsgrad()
        >>> state = tx.init(jnp.zeros(2))
        >>> for g in ([4.0, -2.0], [1.0, -2.0]):
        ...     u, state = tx.update(jnp.array(g), state)
        >>> [round(x, 4) for x in u.tolist()]  # Adam's would be [0.8306, -1.0]
        [0.6053, -1.0]
        >>> [round(x, 2) for x in state.nu_max.tolist()]  # the first step's v_hat
        [16.0, 4.0]
    """
    _check_moments(b1, b2, eps, eps_root)
    _checks.nonzero_denominator("AMSGrad", eps=eps, eps_root=eps_root)
    guard = _checks.denominator_may_be_zero(eps=eps, eps_root=eps_root)  # traced eps = 0
    mu_dtype, nu_dtype = _dtypes(mu_dtype, nu_dtype)

    def init_fn(params):
        return ScaleByAmsgradState(
            count=zero_count(),
            mu=state_like(params, MOMENT, mu_dtype),
            nu=state_like(params, SQUARED, nu_dtype),
            nu_max=state_like(params, SQUARED, nu_dtype),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.nu)
        count = safe_increment(state.count)
        c1 = bias_correction(b1, count) if bias_correction_mu else 1.0
        c2 = bias_correction(b2, count) if bias_correction_nu else 1.0

        def one(g, m, v, v_max):
            m_new, v_new = ema(g, m, b1, 1), ema(g, v, b2, 2)
            v_max_new = jnp.maximum(v_max, v_new / c2)
            den = jnp.sqrt(v_max_new + eps_root) + eps
            u = guarded_quotient(m_new / c1, den) if guard else (m_new / c1) / den
            return (
                u.astype(g.dtype),
                m_new.astype(m.dtype),
                v_new.astype(v.dtype),
                v_max_new.astype(v_max.dtype),
            )

        trees = (updates, state.mu, state.nu, state.nu_max)
        out = map_outputs(one, *trees)
        return out[0], ScaleByAmsgradState(count=count, mu=out[1], nu=out[2], nu_max=out[3])

    return with_spec(
        GradientTransformation(init_fn, update_fn), "scale_by_amsgrad", b1=b1, b2=b2, eps=eps,
        eps_root=eps_root, mu_dtype=mu_dtype, bias_correction_mu=bias_correction_mu,
        bias_correction_nu=bias_correction_nu
    )


def scale_by_yogi(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-3,
    eps_root: float = 0.0,
    initial_accumulator_value: float = 1e-6,
    *,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Yogi: Adam with an additive, sign-controlled second-moment update.

    .. math::

        v_t = v_{t-1} - (1-\beta_2)\,\mathrm{sign}(v_{t-1} - |g_t|^2)\, |g_t|^2,\qquad
        u_t = \frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{root}} + \epsilon}

    with ``m_t`` and the bias corrections as in Adam. As in optax, both ``m_0`` and
    ``v_0`` equal ``initial_accumulator_value`` (default 1e-6); ``eps`` defaults to the
    paper's 1e-3. ``mu_dtype``/``nu_dtype`` (keyword-only) set the moments' storage
    dtypes (default: the state dtype policy, docs/dtypes.md). For a complex parameter
    ``m_0 = initial_accumulator_value + 0j`` and ``v`` is real, as in optax.

    Args:
        b1: :math:`\beta_1` in ``[0, 1)`` (default 0.9).
        b2: :math:`\beta_2` in ``[0, 1)`` (default 0.999).
        eps: :math:`\epsilon \ge 0`, outside the root (default 1e-3, the paper's).
        eps_root: :math:`\epsilon_{root} \ge 0`, inside the root (default 0.0).
        initial_accumulator_value: :math:`m_0 = v_0 \ge 0` (default 1e-6).
        mu_dtype: keyword-only storage dtype of ``mu`` (default ``None``: the policy).
        nu_dtype: keyword-only storage dtype of ``nu``, real floating (default ``None``).

    Returns:
        A :class:`gradtx.GradientTransformation` with state ``ScaleByAdamState``
        (``count``, ``mu``, ``nu``, as optax's ``scale_by_yogi``).

    Raises:
        ValueError: ``b1`` or ``b2`` outside ``[0, 1)``; a negative ``eps``, ``eps_root``
            or ``initial_accumulator_value``; all three 0: a coordinate whose gradient
            has been 0 at every step would get ``0/0 = NaN`` (optax returns NaN there).
        TypeError: ``mu_dtype``/``nu_dtype`` not a floating dtype; a non-float gradient.

    Reference: Zaheer et al., *Adaptive Methods for Nonconvex Optimization*, NeurIPS 2018.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_yogi()
        >>> u, state = tx.update(jnp.array([1.0, -2.0]), tx.init(jnp.zeros(2)))
        >>> [round(x, 4) for x in u.tolist()]  # about sign(g); eps = 1e-3 shows
        [0.9985, -0.9994]
    """
    _check_moments(b1, b2, eps, eps_root)
    _checks.non_negative("initial_accumulator_value", initial_accumulator_value)
    _checks.nonzero_denominator(
        "Yogi", eps=eps, eps_root=eps_root, initial_accumulator_value=initial_accumulator_value
    )
    guard = _checks.denominator_may_be_zero(
        eps=eps, eps_root=eps_root, initial_accumulator_value=initial_accumulator_value
    )
    mu_dtype, nu_dtype = _dtypes(mu_dtype, nu_dtype)

    def init_fn(params):
        return ScaleByAdamState(
            count=zero_count(),
            mu=state_like(params, MOMENT, mu_dtype, initial_accumulator_value),
            nu=state_like(params, SQUARED, nu_dtype, initial_accumulator_value),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.nu)
        count = safe_increment(state.count)
        c1, c2 = bias_correction(b1, count), bias_correction(b2, count)

        def one(g, m, v):
            m_new = ema(g, m, b1, 1)
            g2 = abs_sq(g.astype(compute_dtype(g)))
            dt = compute_dtype(g2, v)
            g2 = g2.astype(dt)
            v_new = v.astype(dt) - (1 - b2) * jnp.sign(v.astype(dt) - g2) * g2
            den = jnp.sqrt(v_new / c2 + eps_root) + eps
            u = guarded_quotient(m_new / c1, den) if guard else (m_new / c1) / den
            return u.astype(g.dtype), m_new.astype(m.dtype), v_new.astype(v.dtype)

        out = map_outputs(one, updates, state.mu, state.nu)
        return out[0], ScaleByAdamState(count=count, mu=out[1], nu=out[2])

    return with_spec(
        GradientTransformation(init_fn, update_fn), "scale_by_yogi", b1=b1, b2=b2, eps=eps,
        eps_root=eps_root, initial_accumulator_value=initial_accumulator_value
    )
