"""AdaBelief: Adam whose second moment is that of the prediction error ``g_t - m_t``
(the "belief" in the gradient) instead of ``g_t``."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation, with_spec
from gradtx.transforms._radam import first_moment_estimate
from gradtx.tree._core import (
    MOMENT,
    SQUARED,
    bias_correction,
    check_updates,
    ema,
    map_outputs,
    safe_increment,
    state_like,
    zero_count,
)


class ScaleByBeliefState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32: updates made so far
    mu: Any  # first moment m_t, like params (dtype: the state policy, docs/dtypes.md)
    nu: Any  # second moment of the prediction error s_t (eps_root included), like mu


def scale_by_belief(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""AdaBelief's scaling.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
        s_t = \beta_2 s_{t-1} + (1-\beta_2)(g_t - m_t)^2 + \bar\epsilon,\quad
        u_t = \frac{m_t/(1-\beta_1^t)}{\sqrt{s_t/(1-\beta_2^t)} + \epsilon}

    (``eps_root`` :math:`= \bar\epsilon` is added to the stored :math:`s_t` every step,
    as in the paper's Algorithm 2 and optax). ``nesterov=True`` uses NAdam's
    first-moment estimate. Defaults equal optax's (1e-16 for both epsilons, the
    authors' recommendation; the paper's table uses ``eps=1e-8``, ``eps_root=0``).

    Args:
        b1: decay of the first moment, in ``[0, 1)`` (default 0.9).
        b2: decay of the prediction error's second moment, in ``[0, 1)`` (default 0.999).
        eps: added to the root (default 1e-16, >= 0).
        eps_root: added to :math:`s_t` each step (default 1e-16, >= 0).
        nesterov: NAdam's first moment (keyword-only, default False).

    Returns:
        A :class:`gradtx.GradientTransformation` with state :class:`ScaleByBeliefState`.

    Raises:
        ValueError: ``b1``/``b2`` outside ``[0, 1)`` or a negative epsilon.

    Reference: Zhuang et al., *AdaBelief Optimizer: Adapting Stepsizes by the Belief in
    Observed Gradients*, NeurIPS 2020.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_belief()
        >>> u, state = tx.update(jnp.array([1.0, -1.0]), tx.init(jnp.zeros(2)))
        >>> [round(float(v), 3) for v in u]
        [1.111, -1.111]
    """
    _checks.decay_rate("b1", b1)
    _checks.decay_rate("b2", b2)
    _checks.non_negative("eps", eps)
    _checks.non_negative("eps_root", eps_root)

    def init_fn(params):
        return ScaleByBeliefState(
            count=zero_count(), mu=state_like(params, MOMENT), nu=state_like(params, SQUARED)
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.nu)
        count = safe_increment(state.count)
        c1, c2 = bias_correction(b1, count), bias_correction(b2, count)
        c1_next = bias_correction(b1, safe_increment(count)) if nesterov else None

        def one(g, m, v):
            m_new = ema(g, m, b1, 1)
            v_new = ema(g.astype(m_new.dtype) - m_new, v, b2, 2) + eps_root
            m_hat = first_moment_estimate(b1, m_new, g, c1, c1_next, nesterov)
            u = m_hat / (jnp.sqrt(v_new / c2) + eps)
            return u.astype(g.dtype), m_new.astype(m.dtype), v_new.astype(v.dtype)

        out = map_outputs(one, updates, state.mu, state.nu)
        return out[0], ScaleByBeliefState(count=count, mu=out[1], nu=out[2])

    return with_spec(
        GradientTransformation(init_fn, update_fn), "scale_by_belief", b1=b1, b2=b2, eps=eps,
        eps_root=eps_root, nesterov=nesterov
    )


__all__ = ["ScaleByBeliefState", "scale_by_belief"]
