"""Averaged SGD (torch.optim.ASGD)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation
from gradtx.tree._core import check_same_tree, check_updates, safe_increment, zero_count


class AsgdState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32: updates made so far (torch's step)
    ax: Any  # the averaged parameters (torch's state['ax']), like params, float32+


def asgd(
    learning_rate: float = 0.01,
    lambd: float = 1e-4,
    alpha: float = 0.75,
    t0: float = 1e6,
    weight_decay: float = 0.0,
) -> GradientTransformation:
    r"""Averaged SGD, with torch.optim.ASGD's numbers (optax has no ASGD, so there
    is no optax to compare with; it is tested against torch's documented algorithm).

    .. math::
        \eta_k = \frac{\gamma}{(1 + \lambda\gamma k)^{\alpha}},\quad
        \mu_k = \frac{1}{\max(1, k - t_0)},\quad k = 0, 1, \dots \text{ (updates so far)}

    .. math::
        p_{k+1} = p_k - \eta_k\big(g_k + (w + \lambda) p_k\big),\qquad
        \bar p_{k+1} = \bar p_k + \mu_k (p_{k+1} - \bar p_k)\ (= p_{k+1}\text{ while }
        \mu_k = 1)

    The update returned is :math:`p_{k+1} - p_k`; the average :math:`\bar p` (torch's
    ``ax``, the parameters to evaluate with once averaging has started at step
    ``t0``) is ``state.ax``. Argument names and defaults are torch's.

    Args:
        learning_rate: :math:`\gamma`, a float > 0 (default 0.01; no schedule: the
            decay of :math:`\eta_k` is ASGD's own).
        lambd: :math:`\lambda`, the decay term (default 1e-4, >= 0).
        alpha: the power of the :math:`\eta` decay (default 0.75, >= 0).
        t0: the step at which averaging starts (default 1e6, >= 0).
        weight_decay: :math:`w`, L2 added to the gradient (default 0, >= 0).

    Returns:
        A :class:`gradtx.GradientTransformation` with state :class:`AsgdState`;
        ``update`` needs the params.

    Raises:
        ValueError: a non-positive ``learning_rate`` or a negative ``lambd``, ``alpha``,
            ``t0`` or ``weight_decay``; at ``update``, missing params.
        TypeError: a schedule for ``learning_rate``.

    Reference: Polyak & Juditsky, *Acceleration of Stochastic Approximation by
    Averaging*, SIAM J. Control Optim. 1992; torch.optim.ASGD.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> opt = gradtx.asgd(0.1, t0=0)  # averages from the third step on
        >>> params = jnp.array([1.0, -2.0])
        >>> state = opt.init(params)
        >>> for _ in range(3):
        ...     updates, state = opt.update(jax.grad(lambda x: jnp.sum(x**2))(params),
        ...                                 state, params)
        ...     params = gradtx.apply_updates(params, updates)
        >>> [round(float(v), 3) for v in params], [round(float(v), 3) for v in state.ax]
        ([0.512, -1.024], [0.576, -1.152])
    """
    if callable(learning_rate):
        raise TypeError(f"learning_rate must be a float for asgd, got {learning_rate!r}")
    _checks.positive("learning_rate", learning_rate)
    for name, value in (("lambd", lambd), ("alpha", alpha), ("t0", t0),
                        ("weight_decay", weight_decay)):  # fmt: skip
        _checks.non_negative(name, value)

    def init_fn(params):
        # a copy (jnp.array), not the params' own buffer: donating params and state together
        # must not donate one buffer twice
        ax = jax.tree.map(
            lambda p: jnp.array(p, jnp.promote_types(jnp.result_type(p), jnp.float32)), params
        )
        return AsgdState(count=zero_count(), ax=ax)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError("asgd needs the params: call update(updates, state, params)")
        check_updates(updates, state.ax)
        check_same_tree(updates, params, against="params")
        k = state.count.astype(jnp.float32)
        eta = learning_rate / (1 + lambd * learning_rate * k) ** alpha
        mu = 1 / jnp.maximum(1.0, k - t0)

        def step(g, p):
            dt = jnp.promote_types(jnp.result_type(g, p), jnp.float32)
            return -eta * (g.astype(dt) + (weight_decay + lambd) * p.astype(dt))

        steps = jax.tree.map(step, updates, params)
        ax = jax.tree.map(
            lambda a, p, s: jnp.where(
                mu == 1, p.astype(a.dtype) + s, a + mu * (p.astype(a.dtype) + s - a)
            ).astype(a.dtype),
            state.ax,
            params,
            steps,
        )
        out = jax.tree.map(lambda s, g: s.astype(g.dtype), steps, updates)
        return out, AsgdState(count=safe_increment(state.count), ax=ax)

    return GradientTransformation(init_fn, update_fn)


__all__ = ["AsgdState", "asgd"]
