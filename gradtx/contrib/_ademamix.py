"""AdEMAMix (Pagliardini et al., 2024) and its simplified form (Morwani et al., 2025):
Adam whose numerator mixes a fast and a very slow moving average of the gradients.

Same names, signatures, defaults, numbers and state trees as ``optax.contrib``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule
from gradtx.contrib._chains import check_adam_like, decoupled_decay_chain
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


class ScaleByAdemamixState(NamedTuple):
    """State of :func:`scale_by_ademamix` (optax.contrib's fields and order)."""

    count: jax.Array  # shape=(), dtype=int32: steps of the fast EMA and second moment
    count_m2: jax.Array  # shape=(), dtype=int32: steps of the slow EMA (b3, alpha schedules)
    m1: Any  # fast EMA of the gradients, like params (mu_dtype)
    m2: Any  # slow EMA of the gradients, like params (mu_dtype)
    nu: Any  # EMA of the squared gradients, like params, real


class ScaleBySimplifiedAdEMAMixState(NamedTuple):
    """State of :func:`scale_by_simplified_ademamix` (optax.contrib's fields and order)."""

    t: jax.Array  # shape=(), dtype=int32: steps taken
    m: Any  # the (undamped) momentum sum_k b1^k g_{t-k}, like params
    n: Any  # EMA of the squared gradients, like params, real


def _at(value: Any, count: jax.Array) -> Any:
    return value(count) if callable(value) else value


def scale_by_ademamix(
    b1: float = 0.9,
    b2: float = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 6.0,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""AdEMAMix's scaling: Adam's step with a slow EMA added to the numerator.

    .. math::
        m^{(1)}_t = \beta_1 m^{(1)}_{t-1} + (1-\beta_1) g_t,\quad
        m^{(2)}_t = \beta_3 m^{(2)}_{t-1} + (1-\beta_3) g_t,\quad
        \nu_t = \beta_2 \nu_{t-1} + (1-\beta_2) g_t^2,

        u_t = \frac{m^{(1)}_t/(1-\beta_1^t) + \alpha\, m^{(2)}_t}
        {\sqrt{\nu_t/(1-\beta_2^t) + \bar\epsilon} + \epsilon}

    (the slow EMA :math:`m^{(2)}` is not bias-corrected, as in the paper). ``b3`` and
    ``alpha`` may be schedules, evaluated at ``count_m2`` (``0, 1, ...``); the authors'
    warm-ups are such schedules (:math:`\alpha_t = \alpha\,\min(t/T_\alpha, 1)`, and the
    half-life-linear warm-up of :math:`\beta_3`). Note the default ``alpha=6.0`` here
    but ``5.0`` in :func:`ademamix`: both are optax.contrib's defaults (the authors'
    PyTorch code defaults to 2.0). Complex parameters are treated as pairs of reals.

    Args:
        b1: :math:`\beta_1` in ``[0, 1)``, decay of the fast EMA (default 0.9).
        b2: :math:`\beta_2` in ``[0, 1)``, decay of the second moment (default 0.999).
        b3: :math:`\beta_3` in ``[0, 1)`` or a schedule, decay of the slow EMA
            (default 0.9999).
        alpha: :math:`\alpha \ge 0` or a schedule, weight of the slow EMA (default 6.0).
        eps: :math:`\epsilon \ge 0`, added outside the root (default 1e-8).
        eps_root: :math:`\bar\epsilon \ge 0`, added inside the root (default 0.0).
        mu_dtype: storage dtype of ``m1``, ``m2`` and ``nu`` (default ``None``: the
            state dtype policy; optax uses ``mu_dtype`` for all three).

    Returns:
        A :class:`gradtx.GradientTransformation` with state :class:`ScaleByAdemamixState`.

    Raises:
        ValueError: ``b1``, ``b2`` or a numeric ``b3`` outside ``[0, 1)``; a negative
            ``alpha``, ``eps`` or ``eps_root``.
        TypeError: ``mu_dtype`` not a floating dtype; a non-float gradient.

    Reference: Pagliardini, Ablin & Grangier, *The AdEMAMix Optimizer: Better, Faster,
    Older*, 2024 (arXiv:2409.03137), and the authors' code (apple/ml-ademamix).

    Example:
        >>> import gradtx.contrib, jax.numpy as jnp
        >>> tx = gradtx.contrib.scale_by_ademamix()
        >>> u, _ = tx.update(jnp.array([1.0, -2.0]), tx.init(jnp.zeros(2)))
        >>> [round(x, 4) for x in u.tolist()]  # sign(g) (1 + alpha (1 - b3))
        [1.0006, -1.0006]
    """
    check_adam_like("AdEMAMix", b1, b2, eps, eps_root)
    if not callable(b3):
        _checks.decay_rate("b3", b3)
    if not callable(alpha):
        _checks.non_negative("alpha", alpha)
    mu_dtype = _checks.state_dtype("mu_dtype", mu_dtype)

    def init_fn(params):
        return ScaleByAdemamixState(
            count=zero_count(),
            count_m2=zero_count(),
            m1=state_like(params, MOMENT, mu_dtype),
            m2=state_like(params, MOMENT, mu_dtype),
            nu=state_like(params, SQUARED, mu_dtype),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.nu)
        c_b3, c_alpha = _at(b3, state.count_m2), _at(alpha, state.count_m2)
        count, count_m2 = safe_increment(state.count), safe_increment(state.count_m2)
        c1, c2 = bias_correction(b1, count), bias_correction(b2, count)

        def one(g, m1, m2, v):
            m1n, m2n, vn = ema(g, m1, b1), ema(g, m2, c_b3), ema(g, v, b2, 2)
            u = (m1n / c1 + c_alpha * m2n) / (jnp.sqrt(vn / c2 + eps_root) + eps)
            return u.astype(g.dtype), m1n.astype(m1.dtype), m2n.astype(m2.dtype), vn.astype(
                v.dtype
            )

        out = map_outputs(one, updates, state.m1, state.m2, state.nu)
        return out[0], ScaleByAdemamixState(count, count_m2, out[1], out[2], out[3])

    return GradientTransformation(init_fn, update_fn)


def ademamix(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 5.0,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any | None = None,
    weight_decay: float = 0.0,
    mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    r"""AdEMAMix: AdamW with a mixture of a fast and a slow EMA of the gradients.

    .. math::
        p_t = p_{t-1} - \eta_t \left(
        \frac{\hat m^{(1)}_t + \alpha\, m^{(2)}_t}{\sqrt{\hat\nu_t + \bar\epsilon}
        + \epsilon} + \lambda p_{t-1}\right)

    with :func:`scale_by_ademamix`'s moments. Weight decay is decoupled and multiplied
    by the learning rate (as in the authors' PyTorch code and optax). The slow EMA keeps
    gradients over ~``1/(1-b3)`` steps, so it suits long runs; for short ones the paper
    (App. C.1.5) prefers a smaller ``b3`` and warm-ups of ``b3`` and ``alpha`` (pass
    schedules). Signature, defaults and numbers are ``optax.contrib.ademamix``'s.

    Args:
        learning_rate: :math:`\eta_t`, a float ``>= 0`` or a schedule.
        b1: fast EMA decay in ``[0, 1)`` (default 0.9).
        b2: second-moment decay in ``[0, 1)`` (default 0.999).
        b3: slow EMA decay in ``[0, 1)`` or a schedule (default 0.9999).
        alpha: slow EMA weight ``>= 0`` or a schedule (default 5.0).
        eps: added outside the root (default 1e-8).
        eps_root: added inside the root (default 0.0).
        mu_dtype: storage dtype of the moments (default ``None``: the policy).
        weight_decay: :math:`\lambda \ge 0` (default 0.0).
        mask: which leaves decay: a tree of booleans, a prefix, or a function of the
            params (default ``None``: all).

    Returns:
        A :class:`gradtx.GradientTransformation`; state
        ``(ScaleByAdemamixState, weight-decay state, lr state)`` as in optax.

    Raises:
        ValueError: as :func:`scale_by_ademamix`; a negative or ``None`` learning rate;
            a negative ``weight_decay``.

    Reference: Pagliardini, Ablin & Grangier, 2024 (arXiv:2409.03137).

    Example:
        >>> import jax, jax.numpy as jnp, gradtx, gradtx.contrib
        >>> f = lambda x: jnp.sum(x**2)
        >>> opt = gradtx.contrib.ademamix(0.01)
        >>> params = jnp.array([1.0, 2.0, 3.0])
        >>> state = opt.init(params)
        >>> for _ in range(5):
        ...     u, state = opt.update(jax.grad(f)(params), state, params)
        ...     params = gradtx.apply_updates(params, u)
        >>> print(f"{float(f(params)):.2E}")
        1.34E+01
    """
    return decoupled_decay_chain(
        scale_by_ademamix(b1, b2, b3, alpha, eps, eps_root, mu_dtype),
        learning_rate, weight_decay, mask,
    )  # fmt: skip


def scale_by_simplified_ademamix(
    b1: float = 0.99,
    b2: float = 0.95,
    alpha: ScalarOrSchedule = 0.0,
    eps: float = 1e-8,
    eps_root: float = 0.0,
) -> GradientTransformation:
    r"""Simplified AdEMAMix's scaling: one undamped momentum plus a share of the gradient.

    .. math::
        m_t = \beta_1 m_{t-1} + g_t,\quad
        n_t = \beta_2 n_{t-1} + (1-\beta_2) g_t^2,\quad
        u_t = \frac{m_t + \alpha\, g_t}{\sqrt{n_t/(1-\beta_2^t) + \bar\epsilon} + \epsilon}

    (the momentum is a plain sum, not an average, and is not bias-corrected: with
    ``alpha=0`` this is Adam with learning rate ``eta/(1-b1)``, up to Adam's first-moment
    bias correction). ``alpha`` may be a schedule, evaluated at ``t = 0, 1, ...``.
    Complex parameters are treated as pairs of reals (optax squares ``g``, which is not a
    magnitude for complex ``g``).

    Args:
        b1: momentum decay in ``[0, 1)`` (default 0.99).
        b2: second-moment decay in ``[0, 1)`` (default 0.95).
        alpha: weight of the current gradient ``>= 0`` or a schedule (default 0.0).
        eps: added outside the root (default 1e-8).
        eps_root: added inside the root (default 0.0).

    Returns:
        A :class:`gradtx.GradientTransformation` with state
        :class:`ScaleBySimplifiedAdEMAMixState`.

    Raises:
        ValueError: ``b1`` or ``b2`` outside ``[0, 1)``; a negative ``alpha``, ``eps`` or
            ``eps_root``.

    Reference: Morwani, Vyas, Kakade et al., *Connections between Schedule-Free
    Optimizers, AdEMAMix, and Accelerated SGD Variants*, 2025 (arXiv:2502.02431).

    Example:
        >>> import gradtx.contrib, jax.numpy as jnp
        >>> tx = gradtx.contrib.scale_by_simplified_ademamix()
        >>> u, _ = tx.update(jnp.array([1.0, -2.0]), tx.init(jnp.zeros(2)))
        >>> [round(x, 4) for x in u.tolist()]
        [1.0, -1.0]
    """
    check_adam_like("simplified AdEMAMix", b1, b2, eps, eps_root)
    if not callable(alpha):
        _checks.non_negative("alpha", alpha)

    def init_fn(params):
        return ScaleBySimplifiedAdEMAMixState(
            t=zero_count(), m=state_like(params, MOMENT), n=state_like(params, SQUARED)
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.n)
        c_alpha = _at(alpha, state.t)
        t = safe_increment(state.t)
        c2 = bias_correction(b2, t)

        def one(g, m, n):
            g32 = g.astype(jnp.promote_types(g.dtype, m.dtype))
            mn = b1 * m.astype(g32.dtype) + g32
            nn = ema(g, n, b2, 2)
            u = (mn + c_alpha * g32) / (jnp.sqrt(nn / c2 + eps_root) + eps)
            return u.astype(g.dtype), mn.astype(m.dtype), nn.astype(n.dtype)

        out = map_outputs(one, updates, state.m, state.n)
        return out[0], ScaleBySimplifiedAdEMAMixState(t=t, m=out[1], n=out[2])

    return GradientTransformation(init_fn, update_fn)


def simplified_ademamix(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.99,
    b2: float = 0.95,
    alpha: ScalarOrSchedule = 0.0,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    r"""Simplified AdEMAMix: one momentum buffer, no schedule needed for ``alpha``.

    .. math::
        p_t = p_{t-1} - \eta_t\left(\frac{m_t + \alpha g_t}{\sqrt{\hat n_t + \bar\epsilon}
        + \epsilon} + \lambda p_{t-1}\right)

    with :func:`scale_by_simplified_ademamix`'s ``m_t`` (an undamped sum, so a good
    ``eta`` is about ``1 - b1`` times Adam's). Signature, defaults and numbers are
    ``optax.contrib.simplified_ademamix``'s.

    Args:
        learning_rate: :math:`\eta_t`, a float ``>= 0`` or a schedule.
        b1: momentum decay in ``[0, 1)`` (default 0.99).
        b2: second-moment decay in ``[0, 1)`` (default 0.95).
        alpha: weight of the current gradient ``>= 0`` or a schedule (default 0.0).
        eps: added outside the root (default 1e-8).
        eps_root: added inside the root (default 0.0).
        weight_decay: decoupled weight decay ``>= 0``, times the lr (default 0.0).
        mask: which leaves decay (default ``None``: all).

    Returns:
        A :class:`gradtx.GradientTransformation`; state
        ``(ScaleBySimplifiedAdEMAMixState, weight-decay state, lr state)``.

    Raises:
        ValueError: as :func:`scale_by_simplified_ademamix`; a bad learning rate or
            weight decay.

    Reference: Morwani et al., 2025 (arXiv:2502.02431).

    Example:
        >>> import jax, jax.numpy as jnp, gradtx, gradtx.contrib
        >>> f = lambda x: jnp.sum(x**2)
        >>> opt = gradtx.contrib.simplified_ademamix(0.01)
        >>> params = jnp.array([1.0, 2.0, 3.0])
        >>> state = opt.init(params)
        >>> for _ in range(5):
        ...     u, state = opt.update(jax.grad(f)(params), state, params)
        ...     params = gradtx.apply_updates(params, u)
        >>> print(f"{float(f(params)):.2E}")
        1.23E+01
    """
    return decoupled_decay_chain(
        scale_by_simplified_ademamix(b1, b2, alpha, eps, eps_root),
        learning_rate, weight_decay, mask,
    )  # fmt: skip


__all__ = [
    "ScaleByAdemamixState",
    "ScaleBySimplifiedAdEMAMixState",
    "ademamix",
    "scale_by_ademamix",
    "scale_by_simplified_ademamix",
    "simplified_ademamix",
]
