"""ACProp (Zhuang et al., 2021): AdaBelief's centred second moment, used asynchronously
(the step at ``t`` divides by the second moment up to ``t - 1``).

Same names, signatures, defaults, numbers and state tree as ``optax.contrib``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from gradtx.base import GradientTransformation, ScalarOrSchedule
from gradtx.contrib._chains import check_adam_like, decoupled_decay_chain
from gradtx.transforms import ScaleByBeliefState
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


def scale_by_acprop(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
    *,
    residual_of_new_mean: bool = False,
) -> GradientTransformation:
    r"""ACProp's scaling: the gradient over the root of the *previous* centred moment.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
        s_t = \beta_2 s_{t-1} + (1-\beta_2)(g_t - m_{t-1})^2 + \bar\epsilon,\quad
        u_t = \frac{g_t}{\sqrt{s_{t-1}/(1-\beta_2^{t-1})} + \epsilon}

    for :math:`t \ge 2`, and :math:`u_1 = g_1/(1 + \epsilon)` (no second moment yet).
    The numerator is the raw gradient (the authors' ``momentum_update=False``
    default); momentum acts only through the centring.

    Where optax and the authors differ: optax.contrib centres on the *previous* mean
    :math:`m_{t-1}` (its code; its docstring writes :math:`m_t`), the authors' PyTorch
    code and the paper on the updated mean :math:`m_t`. gradtx follows optax by default
    (the same numbers and checkpoints); ``residual_of_new_mean=True`` (keyword-only)
    gives the authors' :math:`(g_t - m_t)^2`. The authors also add ``eps`` to the
    stored moment just before using it and skip it at the first step; with the default
    ``1e-16`` the two placements agree to float64 rounding. Complex parameters are
    treated as pairs of reals.

    Args:
        b1: :math:`\beta_1` in ``[0, 1)`` (default 0.9).
        b2: :math:`\beta_2` in ``[0, 1)`` (default 0.999).
        eps: :math:`\epsilon \ge 0`, added outside the root (default 1e-16).
        eps_root: :math:`\bar\epsilon \ge 0`, added to :math:`s_t` every step
            (default 1e-16).
        residual_of_new_mean: keyword-only, centre on :math:`m_t` as the authors do
            (default ``False``: optax's :math:`m_{t-1}`).

    Returns:
        A :class:`gradtx.GradientTransformation` with state ``ScaleByBeliefState``
        (``count``, ``mu``, ``nu``; optax's tree).

    Raises:
        ValueError: ``b1``/``b2`` outside ``[0, 1)``; a negative ``eps`` or
            ``eps_root``; both 0.

    Reference: Zhuang, Ding, Tang et al., *Momentum Centering and Asynchronous Update for
    Adaptive Gradient Methods*, NeurIPS 2021 (arXiv:2110.05454); the authors' code,
    juntang-zhuang/ACProp-Optimizer.

    Example:
        >>> import gradtx.contrib, jax.numpy as jnp
        >>> tx = gradtx.contrib.scale_by_acprop()
        >>> state = tx.init(jnp.zeros(2))
        >>> u, state = tx.update(jnp.array([1.0, -2.0]), state)
        >>> u.tolist()  # the first step is the gradient
        [1.0, -2.0]
    """
    check_adam_like("ACProp", b1, b2, eps, eps_root)

    def init_fn(params):
        return ScaleByBeliefState(
            count=zero_count(), mu=state_like(params, MOMENT), nu=state_like(params, SQUARED)
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.nu)
        count = safe_increment(state.count)
        initial = state.count == 0
        c2 = bias_correction(b2, jnp.where(initial, count, state.count))

        def one(g, m, s):
            m_new = ema(g, m, b1)
            r = g.astype(m_new.dtype) - (m_new if residual_of_new_mean else m.astype(m_new.dtype))
            s_new = ema(r, s, b2, 2) + eps_root
            s_hat = jnp.where(initial, 1.0, s.astype(s_new.dtype) / c2)
            u = g.astype(s_new.dtype) / (jnp.sqrt(s_hat) + eps)
            return u.astype(g.dtype), m_new.astype(m.dtype), s_new.astype(s.dtype)

        out = map_outputs(one, updates, state.mu, state.nu)
        return out[0], ScaleByBeliefState(count=count, mu=out[1], nu=out[2])

    return GradientTransformation(init_fn, update_fn)


def acprop(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
    weight_decay: float = 0.0,
    mask: Any | Callable[[Any], Any] | None = None,
    *,
    residual_of_new_mean: bool = False,
) -> GradientTransformation:
    r"""ACProp: asynchronous, centred adaptive steps (an AdaBelief/RMSProp hybrid).

    .. math::
        p_t = p_{t-1} - \eta_t\left(\frac{g_t}{\sqrt{\hat s_{t-1}} + \epsilon}
        + \lambda p_{t-1}\right)

    with :func:`scale_by_acprop`'s :math:`\hat s_{t-1}` (decoupled weight decay times
    the learning rate, the authors' ``weight_decouple=True`` default). Signature,
    defaults and numbers are ``optax.contrib.acprop``'s; ``residual_of_new_mean`` is
    gradtx's (the authors' centring, see :func:`scale_by_acprop`).

    Args:
        learning_rate: :math:`\eta_t`, a float ``>= 0`` or a schedule.
        b1: in ``[0, 1)`` (default 0.9).
        b2: in ``[0, 1)`` (default 0.999).
        eps: (default 1e-16).
        eps_root: (default 1e-16).
        weight_decay: :math:`\lambda \ge 0` (default 0.0).
        mask: which leaves decay (default ``None``: all).
        residual_of_new_mean: keyword-only (default ``False``).

    Returns:
        A :class:`gradtx.GradientTransformation`; state
        ``(ScaleByBeliefState, weight-decay state, lr state)``.

    Raises:
        ValueError: as :func:`scale_by_acprop`; a bad learning rate or weight decay.

    Reference: Zhuang et al., NeurIPS 2021 (arXiv:2110.05454).

    Example:
        >>> import jax, jax.numpy as jnp, gradtx, gradtx.contrib
        >>> f = lambda x: jnp.sum(x**2)
        >>> opt = gradtx.contrib.acprop(0.01)
        >>> params = jnp.array([1.0, 2.0, 3.0])
        >>> state = opt.init(params)
        >>> @jax.jit
        ... def step(params, state):
        ...     u, state = opt.update(jax.grad(f)(params), state, params)
        ...     return gradtx.apply_updates(params, u), state
        >>> for _ in range(5):
        ...     params, state = step(params, state)
        >>> print(f"{float(f(params)):.2f}")
        12.95
    """
    return decoupled_decay_chain(
        scale_by_acprop(b1, b2, eps, eps_root, residual_of_new_mean=residual_of_new_mean),
        learning_rate, weight_decay, mask,
    )  # fmt: skip


__all__ = ["acprop", "scale_by_acprop"]
