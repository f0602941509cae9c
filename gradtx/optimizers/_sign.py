"""signSGD and Signum (signSGD with momentum)."""

from __future__ import annotations

from typing import Any

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain
from gradtx.transforms import scale_by_learning_rate, scale_by_sign
from gradtx.transforms._sign import ema_no_debias


def sign_sgd(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    r"""signSGD: :math:`p_t = p_{t-1} - \alpha_t\,\mathrm{sign}(g_t)`.

    Args:
        learning_rate: a float (>= 0) or a schedule of the step.

    Returns:
        A :class:`gradtx.GradientTransformation` (optax's chain and state).

    Raises:
        ValueError: a negative or NaN ``learning_rate``.

    Reference: Bernstein et al., *signSGD: Compressed Optimisation for Non-Convex
    Problems*, ICML 2018 (Algorithm 1).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.sign_sgd(0.1)
        >>> u, _ = opt.update(jnp.array([3.0, -0.01]), opt.init(jnp.zeros(2)))
        >>> [round(float(v), 3) for v in u]
        [-0.1, 0.1]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(scale_by_sign(), scale_by_learning_rate(learning_rate))


def signum(
    learning_rate: ScalarOrSchedule, beta: float = 0.9, accumulator_dtype: Any | None = None
) -> GradientTransformation:
    r"""Signum: the sign of the gradient's moving average.

    .. math::
        m_t = \beta m_{t-1} + (1-\beta) g_t,\qquad
        p_t = p_{t-1} - \alpha_t\,\mathrm{sign}(m_t)

    (no debiasing: it would not change the sign). The state is optax's
    (``ema(beta, debias=False)``'s ``EmaState(count, ema)``).

    Args:
        learning_rate: a float (>= 0) or a schedule of the step.
        beta: the momentum's decay, in ``[0, 1)`` (default 0.9).
        accumulator_dtype: storage dtype of :math:`m_t` (default: the params').

    Returns:
        A :class:`gradtx.GradientTransformation`.

    Raises:
        ValueError: a negative ``learning_rate`` or ``beta`` outside ``[0, 1)``.

    Reference: Bernstein et al., *signSGD: Compressed Optimisation for Non-Convex
    Problems*, ICML 2018 (Algorithm 3).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.signum(0.1)
        >>> state = opt.init(jnp.zeros(1))
        >>> u, state = opt.update(jnp.array([1.0]), state)
        >>> u, state = opt.update(jnp.array([-0.5]), state)  # m = 0.09 - 0.05 > 0
        >>> round(float(u[0]), 3)
        -0.1
    """
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(
        ema_no_debias(beta, accumulator_dtype),
        scale_by_sign(),
        scale_by_learning_rate(learning_rate),
    )


__all__ = ["sign_sgd", "signum"]
