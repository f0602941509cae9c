"""Optimistic gradient descent and optimistic Adam (for min-max games such as GANs)."""

from __future__ import annotations

from typing import Any

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain
from gradtx.transforms import scale_by_adam, scale_by_learning_rate, scale_by_optimistic_gradient


def optimistic_gradient_descent(
    learning_rate: ScalarOrSchedule, alpha: float = 1.0, beta: float = 1.0
) -> GradientTransformation:
    r"""Optimistic gradient descent.

    .. math::
        p_t = p_{t-1} - \eta_t\big((\alpha + \beta) g_t - \beta g_{t-1}\big),
        \qquad g_0 := g_1

    See :func:`gradtx.scale_by_optimistic_gradient`. Signature, defaults and numbers
    are optax's (``alpha``, ``beta`` are numbers: optax's type hint allows a schedule,
    which its code cannot use).

    Args:
        learning_rate: a float (>= 0) or a schedule of the step.
        alpha: the gradient's coefficient (default 1.0).
        beta: the optimism (default 1.0).

    Returns:
        A :class:`gradtx.GradientTransformation`.

    Raises:
        ValueError: a negative ``learning_rate``, ``alpha`` or ``beta``.

    Reference: Mokhtari, Ozdaglar & Pattathil, AISTATS 2020.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.optimistic_gradient_descent(0.1)
        >>> state = opt.init(jnp.zeros(1))
        >>> u, state = opt.update(jnp.array([1.0]), state)
        >>> u, state = opt.update(jnp.array([3.0]), state)
        >>> round(float(u[0]), 3)  # -0.1 * (2 * 3 - 1)
        -0.5
    """
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(scale_by_optimistic_gradient(alpha, beta), scale_by_learning_rate(learning_rate))


def optimistic_adam(
    learning_rate: float,
    optimism: float | None = None,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-08,
    eps_root: float = 0.0,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = True,
) -> GradientTransformation:
    r"""Optimistic Adam, optax's first form (deprecated there in favour of
    :func:`optimistic_adam_v2`; kept for drop-in use).

    .. math::
        a_t = \frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{root}} + \epsilon},\qquad
        p_t = p_{t-1} - \big((\eta + o)\, a_t - o\, a_{t-1}\big),\qquad a_0 := a_1

    with NAdam's :math:`\hat m_t` (``nesterov=True``, the default) or Adam's, and the
    optimism :math:`o` = ``optimism`` (default: the learning rate :math:`\eta`).

    Args:
        learning_rate: a float (>= 0); schedules are rejected (as in optax: use
            :func:`optimistic_adam_v2`).
        optimism: :math:`o` (default None: ``learning_rate``).
        b1, b2, eps, eps_root, mu_dtype: as in :func:`gradtx.adam`.
        nesterov: keyword-only, NAdam's first moment (default True).

    Returns:
        A :class:`gradtx.GradientTransformation`.

    Raises:
        ValueError: a schedule or negative value for ``learning_rate``, a negative
            ``optimism``, or a bad Adam hyperparameter.

    Reference: Daskalakis et al., *Training GANs with Optimism*, ICLR 2018.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.optimistic_adam(0.1)
        >>> u, _ = opt.update(jnp.array([1.0, -4.0]), opt.init(jnp.zeros(2)))
        >>> [round(float(v), 3) for v in u]  # -lr a_1, NAdam's a_1 = 1.474 sign(g_1)
        [-0.147, 0.147]
    """
    if callable(learning_rate):
        raise ValueError(
            "learning_rate must be a float in optimistic_adam (optimistic_adam_v2 takes "
            f"schedules), got {learning_rate!r}"
        )
    _checks.learning_rate("learning_rate", learning_rate)
    if optimism is None:
        optimism = learning_rate
    _checks.non_negative("optimism", optimism)
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
        scale_by_optimistic_gradient(alpha=learning_rate, beta=optimism),
        scale_by_learning_rate(1.0),  # flips the sign
    )


def optimistic_adam_v2(
    learning_rate: ScalarOrSchedule,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-08,
    eps_root: float = 0.0,
    mu_dtype: Any | None = None,
    nesterov: bool = True,
) -> GradientTransformation:
    r"""Optimistic Adam: the optimistic gradient of Adam's (or NAdam's) step.

    .. math::
        a_t = \frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{root}} + \epsilon},\qquad
        p_t = p_{t-1} - \eta_t\big((\alpha + \beta) a_t - \beta a_{t-1}\big),
        \qquad a_0 := a_1

    The chain ``scale_by_adam -> scale_by_optimistic_gradient -> scale_by_learning_rate``
    (optax's; every argument after ``learning_rate`` is keyword-only, as there).

    Args:
        learning_rate: a float (>= 0) or a schedule of the step.
        alpha: coefficient of :math:`a_t` (default 1.0).
        beta: the optimism (default 1.0).
        b1, b2, eps, eps_root, mu_dtype: as in :func:`gradtx.adam`.
        nesterov: NAdam's first moment (default True).

    Returns:
        A :class:`gradtx.GradientTransformation`.

    Raises:
        ValueError: a negative ``learning_rate``/``alpha``/``beta`` or a bad Adam
            hyperparameter.

    Reference: Daskalakis et al., *Training GANs with Optimism*, ICLR 2018.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.optimistic_adam_v2(0.1)
        >>> u, _ = opt.update(jnp.array([1.0, -4.0]), opt.init(jnp.zeros(2)))
        >>> [round(float(v), 3) for v in u]  # -lr alpha a_1, a_1 = 1.474 sign(g_1)
        [-0.147, 0.147]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
        scale_by_optimistic_gradient(alpha, beta),
        scale_by_learning_rate(learning_rate),
    )


__all__ = ["optimistic_adam", "optimistic_adam_v2", "optimistic_gradient_descent"]
