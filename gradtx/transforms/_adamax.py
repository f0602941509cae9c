"""AdaMax: Adam with the infinity norm (an exponentially decayed running maximum of
``|g|``) in place of the second moment."""

from __future__ import annotations

import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation, with_spec
from gradtx.transforms._adam import ScaleByAdamState
from gradtx.tree._core import (
    MOMENT,
    SQUARED,
    bias_correction,
    check_updates,
    compute_dtype,
    ema,
    map_outputs,
    safe_increment,
    state_like,
    zero_count,
)


def scale_by_adamax(
    b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> GradientTransformation:
    r"""AdaMax's scaling by the bias-corrected first moment over the infinity norm.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad
        v_t = \max(\beta_2 v_{t-1},\ |g_t| + \epsilon),\qquad
        u_t = \frac{m_t}{(1-\beta_1^t)\, v_t}

    ``eps`` sits inside the maximum, as in optax (the paper has no ``eps``; torch adds
    it the same way). ``v_t`` needs no bias correction.

    Args:
        b1: decay of the first moment, in ``[0, 1)`` (default 0.9).
        b2: decay of the infinity norm, in ``[0, 1)`` (default 0.999).
        eps: added to ``|g_t|`` so the divisor is never 0 (default 1e-8, >= 0).

    Returns:
        A :class:`gradtx.GradientTransformation`; its state is
        :class:`gradtx.ScaleByAdamState` (``count``, ``mu``, ``nu`` = the infinity norm),
        as optax's.

    Raises:
        ValueError: ``b1``/``b2`` outside ``[0, 1)`` or a negative ``eps``.

    Reference: Kingma & Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015,
    Section 7.1 (Algorithm 2).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_adamax()
        >>> u, state = tx.update(jnp.array([0.5, -2.0]), tx.init(jnp.zeros(2)))
        >>> [round(float(v), 3) for v in u]
        [1.0, -1.0]
    """
    _checks.decay_rate("b1", b1)
    _checks.decay_rate("b2", b2)
    _checks.non_negative("eps", eps)

    def init_fn(params):
        return ScaleByAdamState(
            count=zero_count(), mu=state_like(params, MOMENT), nu=state_like(params, SQUARED)
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.nu)
        count = safe_increment(state.count)
        c1 = bias_correction(b1, count)

        def one(g, m, v):
            dt = compute_dtype(g, v)
            m_new = ema(g, m, b1, 1)
            v_new = jnp.maximum(jnp.abs(g.astype(dt)) + eps, b2 * v.astype(dt))
            u = m_new / c1 / v_new
            return u.astype(g.dtype), m_new.astype(m.dtype), v_new.astype(v.dtype)

        out = map_outputs(one, updates, state.mu, state.nu)
        return out[0], ScaleByAdamState(count=count, mu=out[1], nu=out[2])

    return with_spec(
        GradientTransformation(init_fn, update_fn), "scale_by_adamax", b1=b1, b2=b2, eps=eps
    )


__all__ = ["scale_by_adamax"]
