"""AdaMax and AdaMaxW (AdaMax with decoupled weight decay)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain
from gradtx.transforms import add_decayed_weights, scale_by_adamax, scale_by_learning_rate


def adamax(
    learning_rate: ScalarOrSchedule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> GradientTransformation:
    r"""AdaMax: Adam with the infinity norm.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
        v_t = \max(\beta_2 v_{t-1}, |g_t| + \epsilon),\quad
        p_t = p_{t-1} - \alpha_t \frac{m_t}{(1-\beta_1^t)\, v_t}

    See :func:`gradtx.scale_by_adamax`.

    Args:
        learning_rate: a float (>= 0) or a schedule of the step (the paper uses 2e-3).
        b1: decay of the first moment (default 0.9).
        b2: decay of the infinity norm (default 0.999).
        eps: added to ``|g_t|`` (default 1e-8).

    Returns:
        A :class:`gradtx.GradientTransformation`.

    Raises:
        ValueError: a negative ``learning_rate``/``eps`` or ``b1``/``b2`` outside
            ``[0, 1)``.

    Defaults equal optax's ``adamax``.

    Reference: Kingma & Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015,
    Section 7.1.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> opt = gradtx.adamax(0.1)
        >>> params = jnp.array([1.0, -2.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(jax.grad(lambda x: jnp.sum(x**2))(params), state)
        >>> [round(float(v), 3) for v in gradtx.apply_updates(params, updates)]
        [0.9, -1.9]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(scale_by_adamax(b1, b2, eps), scale_by_learning_rate(learning_rate))


def adamaxw(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    r"""AdaMaxW: AdaMax with decoupled weight decay.

    .. math::
        p_t = p_{t-1} - \alpha_t\Big(\frac{m_t}{(1-\beta_1^t)\, v_t} + \lambda p_{t-1}\Big)

    with :math:`m_t, v_t` as in :func:`adamax`; the chain
    ``scale_by_adamax -> add_decayed_weights -> scale_by_learning_rate`` (optax's).

    Args:
        learning_rate: a float (>= 0) or a schedule of the step.
        b1: decay of the first moment (default 0.9).
        b2: decay of the infinity norm (default 0.999).
        eps: added to ``|g_t|`` (default 1e-8).
        weight_decay: :math:`\lambda`, a float or schedule (default 1e-4, optax's; it
            is multiplied by the learning rate).
        mask: a tree of booleans (or a function of the params returning one): where
            weight decay applies.

    Returns:
        A :class:`gradtx.GradientTransformation`; ``update`` needs the params.

    Raises:
        ValueError: a negative ``learning_rate``/``eps``/``weight_decay`` or
            ``b1``/``b2`` outside ``[0, 1)``.

    Reference: Loshchilov & Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> opt = gradtx.adamaxw(0.1, weight_decay=0.5)
        >>> params = jnp.array([1.0, -2.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(jax.grad(lambda x: jnp.sum(x**2))(params), state, params)
        >>> [round(float(v), 3) for v in gradtx.apply_updates(params, updates)]
        [0.85, -1.8]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(
        scale_by_adamax(b1, b2, eps),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


__all__ = ["adamax", "adamaxw"]
