"""ADOPT (Taniguchi et al., 2024): Adam with the gradient normalised by the *previous*
second moment before it enters the momentum, which converges for any ``b2``.

Same names, signatures, defaults, numbers and state tree as ``optax.contrib``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain
from gradtx.transforms import ScaleByAdamState, scale_by_learning_rate
from gradtx.tree._core import (
    MOMENT,
    SQUARED,
    check_updates,
    ema,
    map_outputs,
    safe_increment,
    state_like,
    zero_count,
)


def _quarter_power(count: jax.Array) -> jax.Array:
    return count**0.25


def scale_by_adopt(
    b1: float = 0.9,
    b2: float = 0.9999,
    eps: float = 1e-6,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = _quarter_power,
) -> GradientTransformation:
    r"""ADOPT's scaling: normalise by the previous second moment, then average.

    At the first step (``t = 0``) only :math:`v_0 = g_0^2` is stored and the update is
    0. For :math:`t \ge 1`:

    .. math::
        n_t = \operatorname{clip}\!\left(\frac{g_t}{\max(\sqrt{v_{t-1}}, \epsilon)},
        -c_t, c_t\right),\quad
        m_t = \beta_1 m_{t-1} + (1-\beta_1) n_t,\quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\quad u_t = m_t

    with :math:`c_t` = ``clip_value_fn(t)`` (default :math:`t^{1/4}`, the authors'
    ``clip_lambda``) when ``use_clipping``, no clipping otherwise. ``nesterov=True``
    returns :math:`\beta_1 m_t + (1-\beta_1) n_t` instead. This equals the authors'
    current code (iShohei220/adopt, ``src/adopt``) step for step and optax.contrib's
    numbers; the paper's first version (and the authors' earlier ``adopt.py``) had no
    clipping and set :math:`m_1 = n_1`: ``use_clipping=False`` gives the former but
    keeps the averaged first step. Complex parameters are treated as pairs of reals.

    Args:
        b1: :math:`\beta_1` in ``[0, 1)`` (default 0.9).
        b2: :math:`\beta_2` in ``[0, 1)`` (default 0.9999).
        eps: :math:`\epsilon \ge 0`, floor of the root (default 1e-6).
        mu_dtype: storage dtype of ``mu`` (default ``None``: the state dtype policy).
        nesterov: keyword-only, Nesterov's look-ahead (default ``False``).
        use_clipping: keyword-only, clip the normalised gradient (default ``True``).
        clip_value_fn: keyword-only, the bound :math:`c_t` as a function of the int32
            step ``t`` (default ``t ** 0.25``).

    Returns:
        A :class:`gradtx.GradientTransformation` with state ``ScaleByAdamState``
        (``count``, ``mu``, ``nu``; optax's tree).

    Raises:
        ValueError: ``b1`` or ``b2`` outside ``[0, 1)``; ``eps <= 0`` (with
            ``eps = 0`` the first step divides by 0).
        TypeError: ``mu_dtype`` not a floating dtype; ``clip_value_fn`` not callable.

    Reference: Taniguchi et al., *ADOPT: Modified Adam Can Converge with Any beta_2 with
    the Optimal Rate*, NeurIPS 2024 (arXiv:2411.02853).

    Example:
        >>> import gradtx.contrib, jax.numpy as jnp
        >>> tx = gradtx.contrib.scale_by_adopt()
        >>> state = tx.init(jnp.zeros(2))
        >>> u, state = tx.update(jnp.array([1.0, -2.0]), state)  # stores v_0 only
        >>> u.tolist()
        [0.0, 0.0]
        >>> u, state = tx.update(jnp.array([0.5, -4.0]), state)
        >>> [round(x, 4) for x in u.tolist()]  # 0.1 clip(g / |g_0|, -1, 1)
        [0.05, -0.1]
    """
    _checks.decay_rate("b1", b1)
    _checks.decay_rate("b2", b2)
    _checks.positive("eps", eps)
    mu_dtype = _checks.state_dtype("mu_dtype", mu_dtype)
    if not callable(clip_value_fn):
        raise TypeError(f"clip_value_fn must be callable, got {clip_value_fn!r}")

    def init_fn(params):
        return ScaleByAdamState(
            count=zero_count(),
            mu=state_like(params, MOMENT, mu_dtype),
            nu=state_like(params, SQUARED),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.nu)
        started = state.count > 0
        b1_ = jnp.where(started, b1, 1.0)
        b2_ = jnp.where(started, b2, 0.0)
        clip = clip_value_fn(state.count) if use_clipping else None

        def one(g, m, v):
            v_new = ema(g, v, b2_, 2)
            n = g.astype(v_new.dtype) / jnp.maximum(jnp.sqrt(v.astype(v_new.dtype)), eps)
            if clip is not None:
                n = jnp.clip(n, -clip, clip)
            m_new = ema(n, m, b1_)
            u = ema(n, m_new, b1_) if nesterov else m_new
            return u.astype(g.dtype), m_new.astype(m.dtype), v_new.astype(v.dtype)

        out = map_outputs(one, updates, state.mu, state.nu)
        return out[0], ScaleByAdamState(count=safe_increment(state.count), mu=out[1],
                                        nu=out[2])

    return GradientTransformation(init_fn, update_fn)


def adopt(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.9999,
    eps: float = 1e-6,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = _quarter_power,
) -> GradientTransformation:
    r"""ADOPT: Adam that normalises before averaging, convergent for any ``b2``.

    .. math::
        p_t = p_{t-1} - \eta_t m_t

    with :func:`scale_by_adopt`'s :math:`m_t` (0 at the first step). Signature,
    defaults and numbers are ``optax.contrib.adopt``'s (which, like the authors' code
    with ``decouple=False`` and ``weight_decay=0``, has no weight decay: chain
    :func:`gradtx.add_decayed_weights` for it).

    Args:
        learning_rate: :math:`\eta_t`, a float ``>= 0`` or a schedule.
        b1: :math:`\beta_1` in ``[0, 1)`` (default 0.9).
        b2: :math:`\beta_2` in ``[0, 1)`` (default 0.9999).
        eps: :math:`\epsilon > 0` (default 1e-6).
        mu_dtype: storage dtype of ``mu`` (default ``None``).
        nesterov: keyword-only (default ``False``).
        use_clipping: keyword-only (default ``True``).
        clip_value_fn: keyword-only (default ``t ** 0.25``).

    Returns:
        A :class:`gradtx.GradientTransformation`; state ``(ScaleByAdamState, lr state)``.

    Raises:
        ValueError: as :func:`scale_by_adopt`; a bad learning rate.

    Reference: Taniguchi et al., NeurIPS 2024 (arXiv:2411.02853).

    Example:
        >>> import jax, jax.numpy as jnp, gradtx, gradtx.contrib
        >>> f = lambda x: jnp.sum(x**2)
        >>> opt = gradtx.contrib.adopt(0.1)
        >>> params = jnp.array([1.0, 2.0, 3.0])
        >>> state = opt.init(params)
        >>> for _ in range(5):
        ...     u, state = opt.update(jax.grad(f)(params), state, params)
        ...     params = gradtx.apply_updates(params, u)
        >>> print(f"{float(f(params)):.3f}")
        12.947
    """
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(
        scale_by_adopt(b1, b2, eps, mu_dtype, nesterov=nesterov, use_clipping=use_clipping,
                       clip_value_fn=clip_value_fn),
        scale_by_learning_rate(learning_rate),
    )


__all__ = ["adopt", "scale_by_adopt"]
