"""Per-coordinate step sizes from the history of squared gradients: Adagrad, RMSProp
and Adadelta, each a one-line chain of building blocks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain, identity
from gradtx.transforms import (
    add_decayed_weights,
    scale_by_adadelta,
    scale_by_learning_rate,
    scale_by_rms,
    scale_by_rss,
    trace,
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
        ``(rms state, lr state, TraceState or EmptyState())``, optax's tree: the rms
        state is ``ScaleByRmsState(nu)``, ``ScaleByRmsWithCountState(count, nu)`` with
        ``bias_correction``, ``ScaleByRStdDevState(mu, nu)`` /
        ``ScaleByRStdDevWithCountState(count, mu, nu)`` when centred.

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


__all__ = ["adagrad", "rmsprop", "adadelta"]
