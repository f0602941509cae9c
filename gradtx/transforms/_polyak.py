"""Polyak's step size: the step that would reach the optimal value on a linear model."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import EmptyState, GradientTransformation
from gradtx.tree._core import check_updates, global_norm

_VARIANTS = ("sps", "sps+")


def scale_by_polyak(
    f_min: float = 0.0,
    max_learning_rate: float = 1.0,
    eps: float = 0.0,
    variant: str = "sps",
) -> GradientTransformation:
    r"""Scales the update by Polyak's step size (stochastic Polyak step, SPS_max).

    .. math::
        \gamma_t = \min\Big(\frac{f(p_t) - f^\star}{\lVert g_t\rVert_2^2 + \epsilon},
        \gamma_{max}\Big),\qquad u_t = \gamma_t\, g_t

    (``variant="sps+"`` uses :math:`\max(f(p_t) - f^\star, 0)`). The norm is over every
    leaf. Where :math:`\lVert g_t\rVert^2 + \epsilon` is at most float64's machine
    epsilon the step is 0 (optax's guard). ``update`` needs the loss:
    ``tx.update(grads, state, params, value=loss)``.

    Args:
        f_min: :math:`f^\star`, a lower bound of the loss (default 0).
        max_learning_rate: :math:`\gamma_{max}` (default 1.0, > 0).
        eps: added to the squared norm (default 0, >= 0).
        variant: ``"sps"`` (default) or ``"sps+"``.

    Returns:
        A stateless :class:`gradtx.GradientTransformation` whose ``update`` takes the
        keyword ``value``.

    Raises:
        ValueError: an unknown ``variant``, a non-positive ``max_learning_rate`` or a
            negative ``eps``; at ``update``, no ``value``.

    References: Polyak, *Introduction to Optimization*, 1987; Loizou et al., *Stochastic
    Polyak Step-size for SGD*, AISTATS 2021.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_polyak(max_learning_rate=10.0)
        >>> g = jnp.array([2.0, 0.0])
        >>> u, _ = tx.update(g, tx.init(g), value=2.0)  # step 2 / ||g||^2 = 0.5
        >>> [float(v) for v in u]
        [1.0, 0.0]
    """
    if variant not in _VARIANTS:
        raise ValueError(f"variant must be one of {_VARIANTS}, got {variant!r}")
    _checks.check_number("f_min", f_min)
    _checks.positive("max_learning_rate", max_learning_rate)
    _checks.non_negative("eps", eps)

    def update_fn(updates, state, params=None, *, value=None, **extra_args):
        del params, extra_args
        if value is None:
            raise ValueError(
                "scale_by_polyak needs the loss: call update(grads, state, params, value=loss)"
            )
        check_updates(updates)
        sq = jnp.square(global_norm(updates))
        gap = jnp.asarray(value - f_min).astype(sq.dtype)
        if variant == "sps+":
            gap = jnp.maximum(gap, 0.0)
        step = jnp.where(
            sq + eps <= jnp.finfo(float).eps, 0.0, jnp.minimum(gap / (sq + eps), max_learning_rate)
        )
        return jax.tree.map(lambda g: (step * g).astype(g.dtype), updates), state

    return GradientTransformation(lambda params: EmptyState(), update_fn)


__all__ = ["scale_by_polyak"]
