"""Stochastic gradient descent, with (Nesterov) momentum: one chain of ``trace`` and
``scale_by_learning_rate``."""

from __future__ import annotations

from typing import Any

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain, identity
from gradtx.transforms import (
    scale_by_learning_rate,
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


__all__ = ["sgd"]
