"""MADGRAD (Defazio & Jelassi, 2021): momentumised, adaptive, dual-averaged gradient
steps with a cube-root denominator.

Same names, signatures, defaults, numbers and state tree as ``optax.contrib``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain
from gradtx.contrib._lrfree_common import check_update_args, param_copy
from gradtx.transforms import add_decayed_weights
from gradtx.tree._core import (
    MOMENT,
    SQUARED,
    compute_dtype,
    map_outputs,
    safe_increment,
    state_like,
    zero_count,
)


class MadgradState(NamedTuple):
    """State of :func:`scale_by_madgrad` (optax.contrib's fields and order)."""

    count: jax.Array  # shape=(), dtype=int32: steps taken (k)
    grad_sum_sq: Any  # sum_k lambda_k g_k^2, like params (float32 for float16 params)
    s: Any  # sum_k lambda_k g_k, like params (float32 for float16 params)
    x0: Any  # the params at init (the dual-averaging origin), like params (f32 for f16)


def scale_by_madgrad(
    learning_rate: ScalarOrSchedule,
    momentum: float = 0.9,
    eps: float = 1e-6,
) -> GradientTransformation:
    r"""MADGRAD's step (it contains the learning rate; do not scale it again).

    With :math:`k = 0, 1, \ldots` and :math:`\lambda_k = (\eta_k + \epsilon)\sqrt{k+1}`:

    .. math::
        s_k = s_{k-1} + \lambda_k g_k,\quad
        \nu_k = \nu_{k-1} + \lambda_k g_k^2,\quad
        z_k = x_0 - \frac{s_k}{\nu_k^{1/3} + \epsilon},

        x_{k+1} = \beta x_k + (1-\beta) z_k,\qquad u_k = x_{k+1} - x_k
        = (1-\beta)(z_k - x_k)

    with :math:`\beta` = ``momentum`` and :math:`x_0` the params at ``init``. This is
    the authors' algorithm (facebookresearch/madgrad, ``eps`` added to the learning
    rate there too) and optax.contrib's numbers; gradtx computes the update as
    :math:`(1-\beta)(z_k - x_k)`, which avoids optax's cancellation in
    :math:`x_{k+1} - x_k` (the params after the step agree). ``update`` needs
    ``params``. Complex parameters are treated as pairs of reals.

    Args:
        learning_rate: :math:`\eta_k`, a float ``>= 0`` or a schedule of ``k``.
        momentum: :math:`\beta` in ``[0, 1)`` (default 0.9).
        eps: :math:`\epsilon > 0` (default 1e-6).

    Returns:
        A :class:`gradtx.GradientTransformation` with state :class:`MadgradState`.

    Raises:
        ValueError: a bad learning rate; ``momentum`` outside ``[0, 1)``; ``eps <= 0``;
            ``update`` called without ``params``.

    Reference: Defazio & Jelassi, *Adaptivity without Compromise: A Momentumized,
    Adaptive, Dual Averaged Gradient Method for Stochastic Optimization*, JMLR 2022
    (arXiv:2101.11075).

    Example:
        >>> import gradtx.contrib, jax.numpy as jnp
        >>> tx = gradtx.contrib.scale_by_madgrad(0.1)
        >>> p = jnp.zeros(2)
        >>> u, _ = tx.update(jnp.array([1.0, -8.0]), tx.init(p), p)
        >>> [round(x, 4) for x in u.tolist()]  # -(1-b) lam^(2/3) sign(g) |g|^(1/3)
        [-0.0215, 0.0431]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    _checks.decay_rate("momentum", momentum)
    _checks.positive("eps", eps)

    def init_fn(params):
        return MadgradState(
            count=zero_count(),
            grad_sum_sq=state_like(params, SQUARED),
            s=state_like(params, MOMENT),
            # a copy (donating params must not free it), float32 for float16 params
            x0=param_copy(params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        check_update_args("scale_by_madgrad", updates, params, state.x0)
        lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
        lamb = (lr + eps) * jnp.sqrt(state.count.astype(jnp.float32) + 1)

        def one(g, nu, s, x0, p):
            dt = compute_dtype(g, nu, p)
            g = g.astype(dt)
            nu_new = nu.astype(dt) + lamb * g * g
            s_new = s.astype(dt) + lamb * g
            z = x0.astype(dt) - s_new / (jnp.cbrt(nu_new) + eps)
            u = (1 - momentum) * (z - p.astype(dt))
            return u.astype(p.dtype), nu_new.astype(nu.dtype), s_new.astype(s.dtype)

        out = map_outputs(
            one, updates, state.grad_sum_sq, state.s, state.x0, params,
            empty=(updates, state.grad_sum_sq, state.s),
        )
        return out[0], MadgradState(safe_increment(state.count), out[1], out[2], state.x0)

    return GradientTransformation(init_fn, update_fn)


def madgrad(
    learning_rate: ScalarOrSchedule,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    eps: float = 1e-6,
) -> GradientTransformation:
    r"""MADGRAD: dual averaging with a cube-root adaptive denominator and momentum.

    :func:`gradtx.add_decayed_weights` (``g + lambda p``, the authors' default coupled
    decay) followed by :func:`scale_by_madgrad`. Signature, defaults and numbers are
    ``optax.contrib.madgrad``'s. Typical learning rates are those of SGD divided by
    ~10-100 (the authors' advice); ``weight_decay`` is in units of the gradient.

    Args:
        learning_rate: a float ``>= 0`` or a schedule.
        momentum: in ``[0, 1)`` (default 0.9).
        weight_decay: ``>= 0`` (default 0.0).
        eps: ``> 0`` (default 1e-6).

    Returns:
        A :class:`gradtx.GradientTransformation`; state
        ``(weight-decay state, MadgradState)`` as in optax.

    Raises:
        ValueError: as :func:`scale_by_madgrad`; a negative ``weight_decay``.

    Reference: Defazio & Jelassi, JMLR 2022 (arXiv:2101.11075).

    Example:
        >>> import jax, jax.numpy as jnp, gradtx, gradtx.contrib
        >>> f = lambda x: jnp.sum(x**2)
        >>> opt = gradtx.contrib.madgrad(0.1)
        >>> params = jnp.array([1.0, 2.0, 3.0])
        >>> state = opt.init(params)
        >>> for _ in range(5):
        ...     u, state = opt.update(jax.grad(f)(params), state, params)
        ...     params = gradtx.apply_updates(params, u)
        >>> print(f"{float(f(params)):.3f}")
        9.713
    """
    return chain(
        add_decayed_weights(weight_decay),
        scale_by_madgrad(learning_rate, momentum, eps),
    )


__all__ = ["MadgradState", "madgrad", "scale_by_madgrad"]
