"""The Adam family: Adam, NAdam, AdamW, AMSGrad and Yogi, each a one-line chain of
building blocks. ``learning_rate=None`` raises ``ValueError`` (in optax it makes
``scale_by_learning_rate`` the identity, a silent gradient *ascent*)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain
from gradtx.transforms import (
    add_decayed_weights,
    scale_by_adam,
    scale_by_amsgrad,
    scale_by_learning_rate,
    scale_by_yogi,
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


__all__ = ["adam", "nadam", "adamw", "amsgrad", "yogi"]
