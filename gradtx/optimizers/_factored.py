"""Adafactor: factored second moments, update clipping and the relative step size.

Signature, defaults, numbers and state tree equal ``optax.adafactor`` (tested to rtol
1e-5). Where torch's ``Adafactor`` (torch >= 2.5) differs, gradtx follows optax; see
``docs/conventions_structured.md``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain
from gradtx.optimizers._layerwise import MaskOrFn, _decayed_weights
from gradtx.transforms import (
    clip_by_block_rms,
    scale,
    scale_by_factored_rms,
    scale_by_learning_rate,
    scale_by_param_block_rms,
    scale_by_schedule,
    scale_by_sm3,
)
from gradtx.tree._core import (
    MOMENT,
    check_updates,
    safe_increment,
    state_like,
    zero_count,
)


class EmaLinkState(NamedTuple):
    """Adafactor's momentum, laid out as optax's ``EmaState``."""

    count: jax.Array  # shape=(), dtype=int32
    ema: Any  # the moving average of the updates, like params (dtype_momentum; complex of
    # that precision for a complex parameter)


def _momentum(decay: float, dtype: Any) -> GradientTransformation:
    """``m_t = decay m_{t-1} + (1 - decay) u_t``, not debiased (optax.ema(debias=False))."""
    dtype = None if dtype is None else jnp.dtype(dtype)

    def init_fn(params):
        # a complex parameter's average stays complex (dtype sets its precision): a real
        # float32 buffer dropped Im(m) at every step (optax's ema does the same)
        return EmaLinkState(count=zero_count(), ema=state_like(params, MOMENT, dtype))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.ema)
        new = jax.tree.map(
            lambda u, m: (1 - decay) * u + decay * m.astype(u.dtype), updates, state.ema
        )
        stored = jax.tree.map(lambda x, m: x.astype(m.dtype), new, state.ema)
        return new, EmaLinkState(count=safe_increment(state.count), ema=stored)

    return GradientTransformation(init_fn, update_fn)


def adafactor(
    learning_rate: ScalarOrSchedule | None = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: float = 0.8,
    decay_offset: int = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: float | None = 1.0,
    momentum: float | None = None,
    dtype_momentum: Any = jnp.float32,
    weight_decay_rate: ScalarOrSchedule | None = None,
    eps: float = 1e-30,
    factored: bool = True,
    weight_decay_mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""Adafactor: Adam-like steps with factored second moments (sublinear memory).

    .. math::
        \hat u_t = \frac{g_t}{\sqrt{\hat V_t}},\quad
        \tilde u_t = \frac{\hat u_t}{\max(1, \mathrm{RMS}(\hat u_t)/d)},\quad
        p_t = p_{t-1} - \eta_t \max(\mathrm{RMS}(p_{t-1}), 10^{-3})\, \tilde u_t

    per leaf, with ``\hat V_t`` the factored (or, for small leaves, full) second moment
    of :func:`gradtx.scale_by_factored_rms` (decay ``1 - t^{-0.8}``), ``d`` the
    ``clipping_threshold`` (:func:`gradtx.clip_by_block_rms`) and the relative step
    ``max(RMS(p), 1e-3)`` (:func:`gradtx.scale_by_param_block_rms`). Optional
    momentum (an undebiased moving average of the step) and decoupled weight decay
    follow, as in optax's chain: ``scale_by_factored_rms, clip_by_block_rms,
    scale_by_learning_rate(flip_sign=False), scale_by_param_block_rms, ema,
    add_decayed_weights, scale(-1)``.

    ``learning_rate=None`` (the default, as optax's) applies no learning rate: the step
    is the relative step alone (the paper uses ``min(1e-2, 1/sqrt(t))`` as a schedule).

    Args:
        learning_rate: ``eta``: a float, a schedule, or None (no learning-rate link).
        min_dim_size_to_factor: factor leaves whose second-largest dimension is at least
            this (default 128).
        decay_rate: the exponent of the second-moment decay (default 0.8).
        decay_offset: step offset of the decay schedule, for fine-tuning (default 0).
        multiply_by_parameter_scale: scale by ``max(RMS(p), 1e-3)`` (default True).
        clipping_threshold: ``d`` (default 1.0), or None for no clipping.
        momentum: the decay of the step's moving average, or None (default) for none.
        dtype_momentum: the moving average's dtype (default float32).
        weight_decay_rate: decoupled weight decay (a float or schedule), or None.
        eps: added to ``g^2`` (default 1e-30).
        factored: factor matrix-like leaves at all (default True).
        weight_decay_mask: where weight decay applies (tree of booleans, a prefix of
            one, or a function of the params); None: everywhere.

    Returns:
        A :class:`gradtx.GradientTransformation`; its ``update`` needs the params when
        ``multiply_by_parameter_scale`` or ``weight_decay_rate`` is set.

    Raises:
        ValueError: a hyperparameter out of range (named with its value).

    Reference: Shazeer & Stern, *Adafactor: Adaptive Learning Rates with Sublinear
    Memory Cost*, ICML 2018.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.adafactor(learning_rate=0.1)
        >>> params = {"w": jnp.ones((2, 3))}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.full((2, 3), 0.5)}, state, params)
        >>> round(updates["w"][0, 0].item(), 6)  # -lr * rms(p) * g / |g|
        -0.1
    """
    if learning_rate is not None:
        _checks.learning_rate("learning_rate", learning_rate)
    if clipping_threshold is not None:
        _checks.positive("clipping_threshold", clipping_threshold)
    if momentum is not None:
        _checks.decay_rate("momentum", momentum)
    if weight_decay_rate is not None and not callable(weight_decay_rate):
        _checks.non_negative("weight_decay_rate", weight_decay_rate)
    tx = [scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor, eps)]
    if clipping_threshold is not None:
        tx.append(clip_by_block_rms(clipping_threshold))
    if learning_rate is not None:
        # optax's scale_by_learning_rate(flip_sign=False): the sign comes last.
        tx.append(
            scale_by_schedule(learning_rate) if callable(learning_rate) else scale(learning_rate)
        )
    if multiply_by_parameter_scale:
        tx.append(scale_by_param_block_rms())
    if momentum is not None:
        tx.append(_momentum(momentum, dtype_momentum))
    if weight_decay_rate is not None:
        tx.append(_decayed_weights(weight_decay_rate, weight_decay_mask))
    tx.append(scale(-1))
    return chain(*tx)


def sm3(learning_rate: ScalarOrSchedule, momentum: float = 0.9) -> GradientTransformation:
    r"""SM3: Adagrad with one accumulator per axis (memory ``sum n_i`` instead of
    ``prod n_i``), then momentum.

    .. math::
        p_t = p_{t-1} - \eta\, m_t,\qquad
        m_t = \mu m_{t-1} + (1-\mu) \frac{g_t}{\sqrt{\nu_t + 10^{-8}}}

    with ``nu_t`` SM3's cover-set estimate of the summed squared gradients (see
    :func:`gradtx.scale_by_sm3`, ``b2 = 1``). Chain, as optax's ``sm3``:
    ``scale_by_sm3(momentum), scale(-learning_rate)``. optax takes a number only;
    gradtx also takes a schedule (then the learning-rate link counts steps).

    Args:
        learning_rate: ``eta``, a float (or, in gradtx, a schedule).
        momentum: ``mu`` (default 0.9), in ``[0, 1)``.

    Returns:
        A :class:`gradtx.GradientTransformation`.

    Raises:
        ValueError: a negative ``learning_rate``, ``momentum`` outside ``[0, 1)``,
            complex params (at init).

    Reference: Anil, Gupta, Koren & Singer, *Memory-Efficient Adaptive Optimization*,
    NeurIPS 2019.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.sm3(1.0)
        >>> params = {"w": jnp.zeros((2, 3))}
        >>> updates, _ = opt.update({"w": jnp.full((2, 3), 2.0)}, opt.init(params))
        >>> round(updates["w"][0, 0].item(), 6)
        -0.1
    """
    _checks.learning_rate("learning_rate", learning_rate)
    _checks.decay_rate("momentum", momentum)
    return chain(
        scale_by_sm3(momentum),
        scale_by_learning_rate(learning_rate) if callable(learning_rate) else scale(-learning_rate),
    )


__all__ = ["EmaLinkState", "adafactor", "sm3"]
