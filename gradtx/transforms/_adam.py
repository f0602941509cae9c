"""The Adam family: Adam (and NAdam), AMSGrad, Yogi, and AdaBound/AMSBound's bounded
step size (:func:`bound_lr`). The moment updates are the shared helpers of
:mod:`gradtx.tree._core`; each function here holds only its own rule."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, with_spec
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


__all__ = [
    "BoundLrState",
    "ScaleByAdamState",
    "ScaleByAmsgradState",
    "bound_lr",
    "scale_by_adam",
    "scale_by_amsgrad",
    "scale_by_yogi",
]
