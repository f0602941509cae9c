"""AdaBound and AMSBound (Luo et al. 2019): the authors' PyTorch numbers, with
``final_lr`` following the learning rate."""

from __future__ import annotations

from typing import Any

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain, identity
from gradtx.transforms import (
    add_decayed_weights,
    bound_lr,
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


__all__ = ["adabound", "amsbound"]
