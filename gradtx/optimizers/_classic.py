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
from gradtx._base import GradientTransformation, ScalarOrSchedule, chain, identity
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

    ``p_t = p_{t-1} - lr_t * u_t`` with ``u_t = g_t`` (plain), or ``u_t`` from
    :func:`gradtx.trace` (``v_t = g_t + momentum * v_{t-1}``; Nesterov:
    ``u_t = g_t + momentum * v_t``), torch's convention. Plain, stochastic and
    mini-batch gradient descent differ only in the batch the gradient comes from.

    Example::

        opt = gradtx.sgd(0.1, momentum=0.9)
        state = opt.init(params)
        updates, state = opt.update(grads, state)
        params = gradtx.apply_updates(params, updates)

    References: Robbins & Monro, 1951; Polyak, 1964; Sutskever et al., ICML 2013.
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
    r"""Adagrad: ``p_t = p_{t-1} - lr * g_t / sqrt(s_t + eps)``, ``s_t = s_{t-1} + g_t^2``,
    ``s_0 = initial_accumulator_value``; ``nu_dtype`` stores ``s`` (default: the state
    dtype policy, docs/dtypes.md). See :func:`gradtx.scale_by_rss`.

    Reference: Duchi et al., JMLR 2011."""
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
    r"""RMSProp: ``p_t = p_{t-1} - lr * u_t`` with ``u_t = g_t / sqrt(nu_t + eps)``,
    ``nu_t = decay nu_{t-1} + (1-decay) g_t^2`` (see :func:`gradtx.scale_by_rms`),
    optionally centred and followed by momentum on the scaled step (optax's and
    torch's order). torch's numbers: ``eps_in_sqrt=False``. ``nu_dtype`` stores ``nu``
    (default: the state dtype policy, docs/dtypes.md).

    Reference: Tieleman & Hinton, 2012; Graves, 2013."""
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
    r"""Adadelta (see :func:`gradtx.scale_by_adadelta`). ``learning_rate=None`` is the
    paper's rule with no learning rate at all (the step is ``-Delta_t``, as ``lr=1``).
    ``weight_decay`` is L2, added to the gradient first.

    ``nu_dtype`` stores both averages. Its default (the state dtype policy,
    docs/dtypes.md) is float32 for float16 params: in float16, ``E[Delta^2]`` (about
    ``eps`` early on) would fall below f16's smallest normal number and the steps would
    lose about a digit.

    Reference: Zeiler, 2012."""
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
    r"""Adam: ``p_t = p_{t-1} - lr * m_hat_t / (sqrt(v_hat_t + eps_root) + eps)``
    (see :func:`gradtx.scale_by_adam`; ``mu_dtype``/``nu_dtype`` store the moments,
    default: the state dtype policy, docs/dtypes.md).

    Reference: Kingma & Ba, ICLR 2015."""
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
    r"""NAdam: Adam with Nesterov momentum, ``m_hat_t = b1 m_t/(1-b1^{t+1}) +
    (1-b1) g_t/(1-b1^t)``.

    Reference: Dozat, *Incorporating Nesterov Momentum into Adam*, ICLR workshop 2016."""
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
    r"""AdamW: ``p_t = p_{t-1} - lr * (m_hat_t / (sqrt(v_hat_t) + eps) + wd * p_{t-1})``,
    decoupled weight decay (default 1e-4, optax's; torch's is 1e-2).

    Reference: Loshchilov & Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019."""
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
    r"""AMSGrad (see :func:`gradtx.scale_by_amsgrad`).

    Reference: Reddi et al., ICLR 2018."""
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
    r"""Yogi (see :func:`gradtx.scale_by_yogi`); ``learning_rate`` 1e-2 is the paper's
    usual choice.

    Reference: Zaheer et al., NeurIPS 2018."""
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
    r"""AdaBound: Adam whose per-parameter step size is clipped into
    ``[final_lr (1 - 1/(gamma t + 1)), final_lr (1 + 1/(gamma t))]``, which tightens to
    SGD's ``final_lr``. Defaults and numbers are those of the authors' PyTorch
    ``AdaBound`` (``weight_decay`` is L2 added to the gradient; ``final_lr`` follows a
    learning rate as ``final_lr * lr_t / base_lr``, ``base_lr`` the lr it was built with:
    a number lr itself, a schedule's ``base_value`` (not the 0 a warmup starts at), or the
    keyword-only ``base_lr``). See :func:`gradtx.bound_lr`.

    Reference: Luo et al., *Adaptive Gradient Methods with Dynamic Bound of Learning
    Rate*, ICLR 2019."""
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
    r"""AMSBound: :func:`adabound` with the running maximum of the second moment (the
    reference's ``amsbound=True``); ``base_lr`` as in :func:`adabound`.

    Reference: Luo et al., ICLR 2019."""
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
