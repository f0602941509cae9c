"""Lion (EvoLved Sign Momentum)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain
from gradtx.transforms import add_decayed_weights, scale_by_learning_rate, scale_by_lion


def lion(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.99,
    mu_dtype: Any | None = None,
    weight_decay: ScalarOrSchedule = 1e-3,
    mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    r"""Lion: the sign of an interpolated momentum, with decoupled weight decay.

    .. math::
        c_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
        p_t = p_{t-1} - \alpha_t\big(\mathrm{sign}(c_t) + \lambda p_{t-1}\big),\quad
        m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t

    The chain ``scale_by_lion -> add_decayed_weights -> scale_by_learning_rate``, as
    optax's (``weight_decay`` is multiplied by the learning rate, torch's convention).
    Lion's steps have unit size per element: take a learning rate 3-10x smaller than
    AdamW's and a weight decay 3-10x larger.

    Args:
        learning_rate: a float (>= 0) or a schedule of the step.
        b1: interpolation weight of the momentum (default 0.9).
        b2: decay of the momentum (default 0.99).
        mu_dtype: storage dtype of the momentum (default ``None``: the state dtype
            policy, docs/dtypes.md: the params' dtype, float32 for float16 params).
        weight_decay: decoupled weight decay :math:`\lambda`, a float or schedule
            (default 1e-3).
        mask: a tree of booleans (or a function of the params returning one): where
            weight decay applies.

    Returns:
        A :class:`gradtx.GradientTransformation`; ``update`` needs the params.

    Raises:
        ValueError: a negative ``learning_rate``/``weight_decay`` or ``b1``/``b2``
            outside ``[0, 1)``.

    Defaults equal optax's ``lion``.

    Reference: Chen et al., *Symbolic Discovery of Optimization Algorithms*, NeurIPS 2023.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> f = lambda x: jnp.sum(x**2)
        >>> opt = gradtx.lion(0.1, weight_decay=0.0)
        >>> params = jnp.array([1.0, -2.0])
        >>> state = opt.init(params)
        >>> for _ in range(3):
        ...     updates, state = opt.update(jax.grad(f)(params), state, params)
        ...     params = gradtx.apply_updates(params, updates)
        >>> [round(float(v), 3) for v in params]
        [0.7, -1.7]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(
        scale_by_lion(b1, b2, mu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


__all__ = ["lion"]
