"""The classic optimisers, each a one-line chain of building blocks.

Signatures, defaults and numbers equal optax's alias of the same name where optax has
one (tested to rtol 1e-5); AdaBound/AMSBound follow the authors' PyTorch code.
Every ``learning_rate`` is a float or a schedule (any callable of the step, such as a
:mod:`gradtx.schedules` object). ``learning_rate=None`` raises ``ValueError`` (in optax it
makes ``scale_by_learning_rate`` the identity, a silent gradient *ascent*), except in
:func:`adadelta`, where ``None`` is the paper's rule, ``lr = 1``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain, identity
from gradtx.transforms import (
    add_decayed_weights,
    bound_lr,
    scale_by_adadelta,
    scale_by_adam,
    scale_by_amsgrad,
    scale_by_learning_rate,
    scale_by_rms,
    scale_by_rss,
    scale_by_yogi,
    trace,
)


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: float | None = None,
    nesterov: bool = False,
    accumulator_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum.

    .. math::

        v_t = g_t + \mu\, v_{t-1}, \qquad
        u_t = g_t \ \text{(plain)},\quad u_t = v_t \ \text{(momentum)},\quad
        u_t = g_t + \mu\, v_t \ \text{(Nesterov)}, \qquad
        p_t = p_{t-1} - \alpha_t\, u_t

    with :math:`v_0 = 0`: :func:`gradtx.trace` (torch's convention, no dampening)
    followed by :func:`gradtx.scale_by_learning_rate`, as ``optax.sgd``. Plain,
    stochastic and mini-batch gradient descent differ only in the batch the gradient
    comes from.

    Args:
        learning_rate: :math:`\alpha_t`, a float ``>= 0`` or a schedule; no default.
        momentum: :math:`\mu` in ``[0, 1)``, or ``None`` (default) for no momentum.
        nesterov: Nesterov's look-ahead form (default ``False``; needs ``momentum``).
        accumulator_dtype: storage dtype of the momentum trace (default ``None``: the
            state dtype policy, docs/dtypes.md).

    Returns:
        A :class:`gradtx.GradientTransformation` (a :func:`gradtx.chain`) with state
        ``(TraceState or EmptyState(), lr state)``, optax's tree; the lr state is
        ``EmptyState()`` for a number, ``ScaleByScheduleState`` for a schedule.

    Raises:
        ValueError: ``learning_rate`` ``None``, negative, NaN or infinite;
            ``nesterov=True`` with ``momentum=None``; ``momentum`` outside ``[0, 1)``.
        TypeError: a non-scalar or non-number ``learning_rate``; an
            ``accumulator_dtype`` that is not floating.

    References:
        Robbins & Monro, 1951; Polyak, 1964; Sutskever et al., ICML 2013.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.sgd(0.1, momentum=0.9)
        >>> params = jnp.array([0.5, 1.0])
        >>> state = opt.init(params)
        >>> for _ in range(2):  # v_2 = g + 0.9 g
        ...     updates, state = opt.update(jnp.array([1.0, -2.0]), state, params)
        >>> [round(x, 4) for x in updates.tolist()]
        [-0.19, 0.38]
        >>> [round(x, 4) for x in gradtx.apply_updates(params, updates).tolist()]
        [0.31, 1.38]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    if momentum is None and nesterov:
        raise ValueError("nesterov=True needs a momentum value, got momentum=None")
    if momentum is not None:
        _checks.decay_rate("momentum", momentum)
    return chain(
        trace(momentum, nesterov, accumulator_dtype) if momentum is not None else identity(),
        scale_by_learning_rate(learning_rate),
    )


def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: float = 0.1,
    eps: float = 1e-7,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Adagrad: per-coordinate steps shrinking with the sum of squared gradients.

    .. math::

        s_t = s_{t-1} + |g_t|^2, \qquad
        p_t = p_{t-1} - \alpha_t \frac{g_t}{\sqrt{s_t + \epsilon}}

    with :math:`s_0` = ``initial_accumulator_value``; ``nu_dtype`` stores ``s``
    (default: the state dtype policy, docs/dtypes.md). See :func:`gradtx.scale_by_rss`.
    Signature, defaults and numbers are ``optax.adagrad``'s (torch's Adagrad puts ``eps``
    outside the root and starts at 0).

    Args:
        learning_rate: :math:`\alpha_t`, a float ``>= 0`` or a schedule; no default.
        initial_accumulator_value: :math:`s_0 \ge 0` (default 0.1).
        eps: :math:`\epsilon \ge 0`, inside the root (default 1e-7).
        nu_dtype: keyword-only storage dtype of ``s`` (default ``None``: the policy).

    Returns:
        A :class:`gradtx.GradientTransformation` with state
        ``(ScaleByRssState, lr state)``, optax's tree.

    Raises:
        ValueError: ``learning_rate`` ``None``, negative, NaN or infinite; a negative
            ``initial_accumulator_value`` or ``eps``.
        TypeError: a non-scalar or non-number ``learning_rate``; a ``nu_dtype`` that is
            not a real floating dtype.

    Reference: Duchi et al., *Adaptive Subgradient Methods for Online Learning and
    Stochastic Optimization*, JMLR 2011.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.adagrad(0.1)
        >>> params = jnp.array([0.5, 1.0])
        >>> updates, state = opt.update(jnp.array([1.0, -2.0]), opt.init(params))
        >>> [round(x, 4) for x in updates.tolist()]  # -0.1 g / sqrt(0.1 + g^2)
        [-0.0953, 0.0988]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(
        scale_by_rss(initial_accumulator_value, eps, nu_dtype=nu_dtype),
        scale_by_learning_rate(learning_rate),
    )


def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: float | None = None,
    nesterov: bool = False,
    bias_correction: bool = False,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""RMSProp: steps scaled by a moving root mean square of the gradients.

    .. math::

        \nu_t = \rho\,\nu_{t-1} + (1-\rho)|g_t|^2, \qquad
        s_t = \frac{\alpha_t\, g_t}{\sqrt{\nu_t + \epsilon}}, \qquad
        v_t = s_t + \mu\, v_{t-1}, \qquad p_t = p_{t-1} - v_t

    (:math:`v_t = s_t` without momentum; see :func:`gradtx.scale_by_rms`), optionally
    centred (:math:`\nu_t - |\mu^g_t|^2` with :math:`\mu^g_t` the average gradient) and
    followed by momentum on the scaled step (optax's and torch's order). torch's
    numbers: ``eps_in_sqrt=False`` (``eps`` outside the root). ``nu_dtype`` stores
    ``nu`` (default: the state dtype policy, docs/dtypes.md). Signature, defaults and
    numbers are ``optax.rmsprop``'s.

    Args:
        learning_rate: :math:`\alpha_t`, a float ``>= 0`` or a schedule; no default.
        decay: :math:`\rho` in ``[0, 1)`` (default 0.9).
        eps: :math:`\epsilon \ge 0` (default 1e-8).
        initial_scale: :math:`\nu_0 \ge 0` (default 0.0).
        eps_in_sqrt: ``eps`` inside the root (default ``True``) or outside.
        centered: centred RMSProp (Graves 2013; default ``False``).
        momentum: :math:`\mu` in ``[0, 1)``, or ``None`` (default) for none.
        nesterov: Nesterov momentum (default ``False``; needs ``momentum``).
        bias_correction: divide the averages by :math:`1-\rho^t` (default ``False``).
        nu_dtype: keyword-only storage dtype of ``nu`` (default ``None``: the policy).

    Returns:
        A :class:`gradtx.GradientTransformation` with state
        ``(ScaleByRmsState, lr state, TraceState or EmptyState())``.

    Raises:
        ValueError: ``learning_rate`` ``None``, negative, NaN or infinite;
            ``nesterov=True`` with ``momentum=None``; ``momentum`` or ``decay`` outside
            ``[0, 1)``; a negative ``eps`` or ``initial_scale``; ``eps=0`` with
            ``initial_scale=0``, or ``eps=0`` when centred (a zero denominator).
        TypeError: a non-scalar or non-number ``learning_rate``; a ``nu_dtype`` that is
            not a real floating dtype.

    References:
        Tieleman & Hinton, 2012; Graves, 2013.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.rmsprop(0.1)
        >>> params = jnp.array([0.5, 1.0])
        >>> updates, state = opt.update(jnp.array([1.0, -2.0]), opt.init(params))
        >>> [round(x, 4) for x in updates.tolist()]  # -0.1 g / sqrt(0.1 g^2)
        [-0.3162, 0.3162]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    if momentum is None and nesterov:
        raise ValueError("nesterov=True needs a momentum value, got momentum=None")
    if momentum is not None:
        _checks.decay_rate("momentum", momentum)
    return chain(
        scale_by_rms(
            decay,
            eps,
            initial_scale,
            eps_in_sqrt,
            bias_correction,
            centered=centered,
            nu_dtype=nu_dtype,
        ),
        scale_by_learning_rate(learning_rate),
        trace(momentum, nesterov) if momentum is not None else identity(),
    )


def adadelta(
    learning_rate: ScalarOrSchedule | None = None,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
    weight_decay_mask: Any | Callable[[Any], Any] | None = None,
    *,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Adadelta: steps with the units of the parameters, no learning rate needed.

    .. math::

        E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho)|\tilde g_t|^2, \quad
        \Delta_t = \frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}
        \tilde g_t, \quad p_t = p_{t-1} - \alpha_t \Delta_t

    with :math:`\tilde g_t = g_t + \lambda p_{t-1}` (``weight_decay`` :math:`\lambda`,
    L2, added to the gradient first) and :math:`E[\Delta^2]` as in
    :func:`gradtx.scale_by_adadelta`. ``learning_rate=None`` is the paper's rule with no
    learning rate at all (the step is ``-Delta_t``, as ``lr=1``).

    ``nu_dtype`` stores both averages. Its default (the state dtype policy,
    docs/dtypes.md) is float32 for float16 params: in float16, ``E[Delta^2]`` (about
    ``eps`` early on) would fall below f16's smallest normal number and the steps would
    lose about a digit. Signature, defaults and numbers are ``optax.adadelta``'s; without
    weight decay its ``update`` does not need ``params`` (optax's always asks for them).

    Args:
        learning_rate: :math:`\alpha_t`, a float ``>= 0``, a schedule, or ``None``
            (default: the paper's :math:`\alpha = 1`).
        rho: :math:`\rho` in ``[0, 1)`` (default 0.9).
        eps: :math:`\epsilon > 0` (default 1e-6).
        weight_decay: :math:`\lambda \ge 0` (default 0.0).
        weight_decay_mask: which leaves decay: a tree of booleans (or a prefix), a
            function of the params returning one, or ``None`` (default: all).
        nu_dtype: keyword-only storage dtype of both averages (default ``None``).

    Returns:
        A :class:`gradtx.GradientTransformation` with state ``(weight-decay state,
        ScaleByAdaDeltaState, lr state)``; the first is ``EmptyState()``, inside a
        ``MaskedState`` when a mask is given with a nonzero ``weight_decay``.

    Raises:
        ValueError: a negative ``weight_decay`` or ``learning_rate``; ``rho`` outside
            ``[0, 1)``; ``eps <= 0``; with weight decay, ``update`` without ``params``.
        TypeError: a ``nu_dtype`` that is not a real floating dtype.

    Reference: Zeiler, *ADADELTA: An Adaptive Learning Rate Method*, 2012.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.adadelta()
        >>> params = jnp.array([0.5, 1.0])
        >>> updates, state = opt.update(jnp.array([1.0, -2.0]), opt.init(params))
        >>> [round(x, 4) for x in updates.tolist()]  # -sqrt(eps / 0.1) sign(g)
        [-0.0032, 0.0032]
    """
    _checks.non_negative("weight_decay", weight_decay)
    # Without weight decay the chain needs no params (optax's always asks for them). The
    # choice is by structure, not value: an array (inject_hyperparams, traced under jit)
    # keeps the decay link, so init's and update's states have one structure.
    no_decay = isinstance(weight_decay, (int, float)) and weight_decay == 0
    return chain(
        identity() if no_decay else add_decayed_weights(weight_decay, weight_decay_mask),
        scale_by_adadelta(rho, eps, nu_dtype=nu_dtype),
        scale_by_learning_rate(1.0 if learning_rate is None else learning_rate),
    )


def adam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = False,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Adam: steps by bias-corrected first and second moment estimates.

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) |g_t|^2,\quad
        p_t = p_{t-1} - \alpha_t \frac{m_t / (1-\beta_1^t)}
        {\sqrt{v_t / (1-\beta_2^t) + \epsilon_{root}} + \epsilon}

    (see :func:`gradtx.scale_by_adam`; ``mu_dtype``/``nu_dtype`` store the moments,
    default: the state dtype policy, docs/dtypes.md). Signature, defaults and numbers are
    ``optax.adam``'s; ``nu_dtype`` is gradtx's (keyword-only).

    Args:
        learning_rate: :math:`\alpha_t`, a float ``>= 0`` or a schedule; no default.
        b1: :math:`\beta_1` in ``[0, 1)`` (default 0.9).
        b2: :math:`\beta_2` in ``[0, 1)`` (default 0.999).
        eps: :math:`\epsilon \ge 0`, outside the root (default 1e-8).
        eps_root: :math:`\epsilon_{root} \ge 0`, inside the root (default 0.0).
        mu_dtype: storage dtype of ``mu`` (default ``None``: the policy).
        nesterov: keyword-only, NAdam's Nesterov momentum (default ``False``).
        nu_dtype: keyword-only storage dtype of ``nu`` (default ``None``).

    Returns:
        A :class:`gradtx.GradientTransformation` with state
        ``(ScaleByAdamState, lr state)``, optax's tree.

    Raises:
        ValueError: ``learning_rate`` ``None``, negative, NaN or infinite; ``b1``/``b2``
            outside ``[0, 1)``; a negative ``eps`` or ``eps_root``; both 0.
        TypeError: a non-scalar or non-number ``learning_rate``; a dtype that is not
            floating.

    Reference: Kingma & Ba, ICLR 2015.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.adam(0.1)
        >>> params = jnp.array([0.5, 1.0])
        >>> updates, state = opt.update(jnp.array([1.0, -2.0]), opt.init(params))
        >>> [round(x, 4) for x in updates.tolist()]  # the first step is -lr sign(g)
        [-0.1, 0.1]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype),
        scale_by_learning_rate(learning_rate),
    )


def nadam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = True,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""NAdam: Adam with Nesterov momentum.

    .. math::

        \hat m_t = \frac{\beta_1 m_t}{1-\beta_1^{t+1}} + \frac{(1-\beta_1) g_t}{1-\beta_1^t},
        \qquad p_t = p_{t-1} - \alpha_t \frac{\hat m_t}
        {\sqrt{v_t / (1-\beta_2^t) + \epsilon_{root}} + \epsilon}

    with :math:`m_t`, :math:`v_t` Adam's moments (:func:`adam` with ``nesterov=True``).
    Signature, defaults and numbers are ``optax.nadam``'s.

    Args:
        learning_rate: :math:`\alpha_t`, a float ``>= 0`` or a schedule; no default.
        b1: :math:`\beta_1` in ``[0, 1)`` (default 0.9).
        b2: :math:`\beta_2` in ``[0, 1)`` (default 0.999).
        eps: :math:`\epsilon \ge 0` (default 1e-8).
        eps_root: :math:`\epsilon_{root} \ge 0` (default 0.0).
        mu_dtype: storage dtype of ``mu`` (default ``None``: the policy).
        nesterov: keyword-only (default ``True``; ``False`` is plain Adam).
        nu_dtype: keyword-only storage dtype of ``nu`` (default ``None``).

    Returns:
        A :class:`gradtx.GradientTransformation` with state
        ``(ScaleByAdamState, lr state)``.

    Raises:
        ValueError: as :func:`adam`: a bad ``learning_rate``, decay or epsilon.
        TypeError: a non-scalar or non-number ``learning_rate``; a non-floating dtype.

    Reference: Dozat, *Incorporating Nesterov Momentum into Adam*, ICLR workshop 2016.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.nadam(0.1)
        >>> params = jnp.array([0.5, 1.0])
        >>> updates, state = opt.update(jnp.array([1.0, -2.0]), opt.init(params))
        >>> [round(x, 4) for x in updates.tolist()]  # Adam's first step is -0.1 sign(g)
        [-0.1474, 0.1474]
    """
    return adam(
        learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype
    )


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Any | Callable[[Any], Any] | None = None,
    *,
    nesterov: bool = False,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""AdamW: Adam with decoupled weight decay.

    .. math::

        p_t = p_{t-1} - \alpha_t\Big(\frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{root}}
        + \epsilon} + \lambda_t\, p_{t-1}\Big)

    with :math:`\hat m_t`, :math:`\hat v_t` Adam's bias-corrected moments
    (:func:`gradtx.scale_by_adam`), the decay applied where ``mask`` is True.
    Decoupled weight decay (default 1e-4, optax's; torch's is 1e-2). Signature, defaults
    and numbers are ``optax.adamw``'s.

    Args:
        learning_rate: :math:`\alpha_t`, a float ``>= 0`` or a schedule; no default.
        b1: :math:`\beta_1` in ``[0, 1)`` (default 0.9).
        b2: :math:`\beta_2` in ``[0, 1)`` (default 0.999).
        eps: :math:`\epsilon \ge 0` (default 1e-8).
        eps_root: :math:`\epsilon_{root} \ge 0` (default 0.0).
        mu_dtype: storage dtype of ``mu`` (default ``None``: the policy).
        weight_decay: :math:`\lambda_t \ge 0`, a float or a schedule (default 1e-4).
        mask: which leaves decay: a tree of booleans (or a prefix), a function of the
            params returning one, or ``None`` (default: all).
        nesterov: keyword-only, NAdamW (default ``False``).
        nu_dtype: keyword-only storage dtype of ``nu`` (default ``None``).

    Returns:
        A :class:`gradtx.GradientTransformation` with state ``(ScaleByAdamState,
        weight-decay state, lr state)``, optax's tree. Its ``update`` needs ``params``.

    Raises:
        ValueError: as :func:`adam`; a negative ``weight_decay``; ``update`` without
            ``params``.
        TypeError: a non-scalar or non-number ``learning_rate``; a non-number
            ``weight_decay``; a non-floating dtype.

    Reference: Loshchilov & Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.adamw(0.1, weight_decay=0.1)
        >>> params = jnp.array([0.5, 1.0])
        >>> updates, state = opt.update(jnp.array([1.0, -2.0]), opt.init(params), params)
        >>> [round(x, 4) for x in updates.tolist()]  # -0.1 (sign(g) + 0.1 p)
        [-0.105, 0.09]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def amsgrad(
    learning_rate: ScalarOrSchedule,
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

        \hat v^{max}_t = \max(\hat v^{max}_{t-1}, \hat v_t), \qquad
        p_t = p_{t-1} - \alpha_t \frac{\hat m_t}{\sqrt{\hat v^{max}_t + \epsilon_{root}}
        + \epsilon}

    (see :func:`gradtx.scale_by_amsgrad`). Signature, defaults and numbers are
    ``optax.amsgrad``'s.

    Args:
        learning_rate: :math:`\alpha_t`, a float ``>= 0`` or a schedule; no default.
        b1: :math:`\beta_1` in ``[0, 1)`` (default 0.9).
        b2: :math:`\beta_2` in ``[0, 1)`` (default 0.999).
        eps: :math:`\epsilon \ge 0` (default 1e-8).
        eps_root: :math:`\epsilon_{root} \ge 0` (default 0.0).
        mu_dtype: storage dtype of ``mu`` (default ``None``: the policy).
        bias_correction_mu: bias-correct :math:`m_t` (default ``True``).
        bias_correction_nu: bias-correct :math:`v_t` (default ``True``).
        nu_dtype: keyword-only storage dtype of ``nu``/``nu_max`` (default ``None``).

    Returns:
        A :class:`gradtx.GradientTransformation` with state
        ``(ScaleByAmsgradState, lr state)``.

    Raises:
        ValueError: ``learning_rate`` ``None``, negative, NaN or infinite; ``b1``/``b2``
            outside ``[0, 1)``; a negative ``eps`` or ``eps_root``; both 0.
        TypeError: a non-scalar or non-number ``learning_rate``; a non-floating dtype.

    Reference: Reddi et al., ICLR 2018.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.amsgrad(0.1)
        >>> state = opt.init(jnp.zeros(2))
        >>> for g in ([4.0, -2.0], [1.0, -2.0]):
        ...     updates, state = opt.update(jnp.array(g), state)
        >>> [round(x, 4) for x in updates.tolist()]  # Adam's: [-0.0831, 0.1]
        [-0.0605, 0.1]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(
        scale_by_amsgrad(
            b1,
            b2,
            eps,
            eps_root,
            mu_dtype,
            bias_correction_mu,
            bias_correction_nu,
            nu_dtype=nu_dtype,
        ),
        scale_by_learning_rate(learning_rate),
    )


def yogi(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-3,
    *,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Yogi: Adam with an additive, sign-controlled second moment.

    .. math::

        v_t = v_{t-1} - (1-\beta_2)\,\mathrm{sign}(v_{t-1} - |g_t|^2)\,|g_t|^2, \qquad
        p_t = p_{t-1} - \alpha_t \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    (see :func:`gradtx.scale_by_yogi`; :math:`m_0 = v_0 = 10^{-6}`, as optax);
    ``learning_rate`` 1e-2 is the paper's usual choice. Signature, defaults and numbers
    are ``optax.yogi``'s; ``mu_dtype``/``nu_dtype`` are gradtx's.

    Args:
        learning_rate: :math:`\alpha_t`, a float ``>= 0`` or a schedule; no default.
        b1: :math:`\beta_1` in ``[0, 1)`` (default 0.9).
        b2: :math:`\beta_2` in ``[0, 1)`` (default 0.999).
        eps: :math:`\epsilon \ge 0` (default 1e-3, the paper's).
        mu_dtype: keyword-only storage dtype of ``mu`` (default ``None``: the policy).
        nu_dtype: keyword-only storage dtype of ``nu`` (default ``None``).

    Returns:
        A :class:`gradtx.GradientTransformation` with state
        ``(ScaleByAdamState, lr state)``.

    Raises:
        ValueError: ``learning_rate`` ``None``, negative, NaN or infinite; ``b1``/``b2``
            outside ``[0, 1)``; a negative ``eps``.
        TypeError: a non-scalar or non-number ``learning_rate``; a non-floating dtype.

    Reference: Zaheer et al., NeurIPS 2018.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.yogi(0.1)
        >>> updates, state = opt.update(jnp.array([1.0, -2.0]), opt.init(jnp.zeros(2)))
        >>> [round(x, 4) for x in updates.tolist()]
        [-0.0999, 0.0999]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(
        scale_by_yogi(b1, b2, eps, mu_dtype=mu_dtype, nu_dtype=nu_dtype),
        scale_by_learning_rate(learning_rate),
    )


def adabound(
    learning_rate: ScalarOrSchedule = 1e-3,
    final_lr: float = 0.1,
    b1: float = 0.9,
    b2: float = 0.999,
    gamma: float = 1e-3,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    amsbound: bool = False,
    base_lr: float | None = None,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""AdaBound: Adam whose per-parameter step size is clipped into bounds that tighten
    to SGD's ``final_lr``.

    .. math::

        \eta_t = \mathrm{clip}\Big(\frac{\alpha_t\sqrt{1-\beta_2^t}}
        {(1-\beta_1^t)(\sqrt{v_t}+\epsilon)},\ \alpha^*_t\big(1-\tfrac{1}{\gamma t+1}\big),\
        \alpha^*_t\big(1+\tfrac{1}{\gamma t}\big)\Big), \qquad
        p_t = p_{t-1} - \eta_t\, m_t

    with :math:`m_t`, :math:`v_t` Adam's moments of :math:`g_t + \lambda p_{t-1}` and
    :math:`\alpha^*_t` = ``final_lr * lr_t / base_lr`` (see :func:`gradtx.bound_lr`).
    Defaults and numbers are those of the authors' PyTorch ``AdaBound``
    (``weight_decay`` is L2 added to the gradient; ``final_lr`` follows a learning rate
    as ``final_lr * lr_t / base_lr``, ``base_lr`` the lr it was built with: a number lr
    itself, a schedule's ``base_value`` (not the 0 a warmup starts at), or the
    keyword-only ``base_lr``). optax has no AdaBound.

    Args:
        learning_rate: :math:`\alpha_t`, a float ``>= 0`` or a schedule (default 1e-3).
        final_lr: the SGD rate :math:`\alpha^*` the bounds converge to (default 0.1).
        b1: :math:`\beta_1` in ``[0, 1)`` (default 0.9).
        b2: :math:`\beta_2` in ``[0, 1)`` (default 0.999).
        gamma: :math:`\gamma > 0`, the bounds' convergence speed (default 1e-3).
        eps: :math:`\epsilon \ge 0` (default 1e-8).
        weight_decay: L2 coefficient :math:`\lambda \ge 0` (default 0.0).
        amsbound: keyword-only, use the running maximum of :math:`v_t` (default
            ``False``; :func:`amsbound`).
        base_lr: keyword-only reference lr ``> 0`` (default ``None``: see above).
        mu_dtype: keyword-only storage dtype of ``mu`` (default ``None``: the policy).
        nu_dtype: keyword-only storage dtype of ``nu`` (default ``None``).

    Returns:
        A :class:`gradtx.GradientTransformation` with state
        ``(EmptyState(), BoundLrState)``; with weight decay its ``update`` needs
        ``params``.

    Raises:
        ValueError: a negative ``weight_decay``, and :func:`gradtx.bound_lr`'s cases (a
            bad ``learning_rate``, ``final_lr``, ``gamma``, decay, ``eps`` or
            ``base_lr``).
        TypeError: a callable ``final_lr`` or ``base_lr``; a non-floating dtype.

    Reference: Luo et al., *Adaptive Gradient Methods with Dynamic Bound of Learning
    Rate*, ICLR 2019.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.adabound(1.0, final_lr=0.1, gamma=1.0)
        >>> updates, state = opt.update(jnp.array([1.0, -2.0]), opt.init(jnp.zeros(2)))
        >>> [round(x, 4) for x in updates.tolist()]  # step size clipped to 0.2
        [-0.02, 0.04]
    """
    _checks.non_negative("weight_decay", weight_decay)
    # By structure, not value: an array (inject_hyperparams, traced in update) keeps the
    # decay link, so init's state and update's state have one structure.
    no_decay = isinstance(weight_decay, (int, float)) and weight_decay == 0
    return chain(
        identity() if no_decay else add_decayed_weights(weight_decay),
        bound_lr(
            learning_rate,
            final_lr,
            gamma,
            b1,
            b2,
            eps,
            amsbound=amsbound,
            base_lr=base_lr,
            mu_dtype=mu_dtype,
            nu_dtype=nu_dtype,
        ),
    )


def amsbound(
    learning_rate: ScalarOrSchedule = 1e-3,
    final_lr: float = 0.1,
    b1: float = 0.9,
    b2: float = 0.999,
    gamma: float = 1e-3,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    base_lr: float | None = None,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""AMSBound: :func:`adabound` with the running maximum of the second moment.

    .. math::

        v^{max}_t = \max(v^{max}_{t-1}, v_t), \qquad
        \eta_t = \mathrm{clip}\Big(\frac{\alpha_t\sqrt{1-\beta_2^t}}
        {(1-\beta_1^t)(\sqrt{v^{max}_t}+\epsilon)},\ \eta^l_t,\ \eta^u_t\Big), \qquad
        p_t = p_{t-1} - \eta_t\, m_t

    with the bounds of :func:`adabound` (the reference's ``amsbound=True``); ``base_lr``
    as in :func:`adabound`. optax has no AMSBound.

    Args:
        learning_rate: :math:`\alpha_t`, a float ``>= 0`` or a schedule (default 1e-3).
        final_lr: the SGD rate the bounds converge to (default 0.1).
        b1: :math:`\beta_1` in ``[0, 1)`` (default 0.9).
        b2: :math:`\beta_2` in ``[0, 1)`` (default 0.999).
        gamma: :math:`\gamma > 0` (default 1e-3).
        eps: :math:`\epsilon \ge 0` (default 1e-8).
        weight_decay: L2 coefficient ``>= 0`` (default 0.0).
        base_lr: keyword-only reference lr ``> 0`` (default ``None``).
        mu_dtype: keyword-only storage dtype of ``mu`` (default ``None``: the policy).
        nu_dtype: keyword-only storage dtype of ``nu``/``nu_max`` (default ``None``).

    Returns:
        A :class:`gradtx.GradientTransformation` with state
        ``(EmptyState(), BoundLrState)`` (``nu_max`` held).

    Raises:
        ValueError: as :func:`adabound`.
        TypeError: as :func:`adabound`.

    Reference: Luo et al., ICLR 2019.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.amsbound(1e-3)
        >>> updates, state = opt.update(jnp.array([1.0, -2.0]), opt.init(jnp.zeros(2)))
        >>> [round(x, 4) for x in updates.tolist()]  # the first step is -lr sign(g)
        [-0.001, 0.001]
        >>> [round(x, 4) for x in state[1].nu_max.tolist()]  # max of v_1 = 0.001 g^2
        [0.001, 0.004]
    """
    return adabound(
        learning_rate,
        final_lr,
        b1,
        b2,
        gamma,
        eps,
        weight_decay,
        amsbound=True,
        base_lr=base_lr,
        mu_dtype=mu_dtype,
        nu_dtype=nu_dtype,
    )


__all__ = [
    "adabound",
    "adadelta",
    "adagrad",
    "adam",
    "adamw",
    "amsbound",
    "amsgrad",
    "nadam",
    "rmsprop",
    "sgd",
    "yogi",
]
