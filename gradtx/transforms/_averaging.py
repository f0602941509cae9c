"""Averaging and target networks: the EMA of updates (``ema``, ``measure_with_ema``),
Polyak averaging and periodic copies of parameters (``incremental_update``,
``periodic_update``) and the Lookahead optimiser, all as in optax."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx.base import (
    GradientTransformationExtraArgs,
    OptState,
    Params,
    Updates,
    _as_transformation,
    chain,
    stateless,
)
from gradtx.tree._core import (
    MOMENT,
    bias_correction,
    cast_like,
    check_updates,
    safe_increment,
    state_like,
    update_moment,
    zero_count,
)


class EmaState(NamedTuple):
    """State of :func:`ema` (optax's fields)."""

    count: jax.Array  # shape=(), dtype=int32: update calls so far
    ema: Any  # like params (dtype accumulator_dtype or the params'): the moving average


def ema(
    decay: float | jax.Array, debias: bool = True, accumulator_dtype: Any | None = None
) -> GradientTransformationExtraArgs:
    r"""The exponential moving average of the updates, optionally bias-corrected.

    .. math::
        m_t = \beta m_{t-1} + (1 - \beta) g_t, \quad m_0 = 0, \qquad
        u_t = \frac{m_t}{1 - \beta^t} \ (\text{debias}) \ \text{or}\ m_t

    (``trace`` is ``v_t = \beta v_{t-1} + g_t``; this one weights ``g_t`` by
    ``1 - beta``.) Computed in at least float32. As ``optax.ema``.

    Args:
      decay: ``beta`` in ``[0, 1)``.
      debias: divide by ``1 - beta^t`` (default ``True``).
      accumulator_dtype: dtype of ``m`` in the state (default: the params').

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs`; state :class:`EmaState`.

    Raises:
      ValueError: if ``decay`` is outside ``[0, 1)``.

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> tx = gradtx.ema(0.9)
      >>> state = tx.init(jnp.zeros(()))
      >>> u, state = tx.update(jnp.asarray(2.0), state)
      >>> round(float(u), 6), round(float(state.ema), 6)
      (2.0, 0.2)
    """
    _checks.decay_rate("decay", decay)
    if not isinstance(debias, (bool, np.bool_)):
        raise TypeError(f"debias must be a bool, got {debias!r}")
    accumulator_dtype = None if accumulator_dtype is None else jnp.dtype(accumulator_dtype)

    def init_fn(params):
        # a complex parameter's average stays complex (accumulator_dtype sets its precision)
        return EmaState(count=zero_count(), ema=state_like(params, MOMENT, accumulator_dtype))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.ema)
        new_ema = update_moment(updates, state.ema, decay)
        count = safe_increment(state.count)
        out = new_ema
        if debias:
            c = bias_correction(decay, count)
            out = jax.tree.map(lambda m: m / c.astype(m.dtype), new_ema)
        return cast_like(out, updates), EmaState(count=count, ema=cast_like(new_ema, state.ema))

    return GradientTransformationExtraArgs(init_fn, update_fn)


def measure_with_ema(
    measure: Callable[[Updates], Any],
    decay: float | jax.Array,
    debias: bool = True,
    accumulator_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""Replaces the updates by the moving average of a measurement of them:
    ``u_t = ema_beta(measure(g))_t`` (for monitoring; as ``optax.measure_with_ema``).

    .. math::
        m_t = \beta m_{t-1} + (1 - \beta)\,\mathrm{measure}(g_t), \qquad
        u_t = m_t / (1 - \beta^t) \ (\text{debias})

    ``chain(stateless(measure), ema(...))`` with the EMA initialised on
    ``measure(params)``; the state is ``(EmptyState(), EmaState)``.

    Args:
      measure: ``measure(updates) -> tree of arrays`` (e.g. the global norm).
      decay: ``beta`` in ``[0, 1)``.
      debias: divide by ``1 - beta^t`` (default ``True``).
      accumulator_dtype: dtype of the average (default: the measurement's).

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs` whose updates are the
      averaged measurement (use it in a side chain, not to update params).

    Raises:
      TypeError: if ``measure`` is not callable.
      ValueError: if ``decay`` is outside ``[0, 1)``.

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> tx = gradtx.measure_with_ema(gradtx.global_norm, 0.5)
      >>> state = tx.init({"w": jnp.zeros(2)})
      >>> m, state = tx.update({"w": jnp.array([3.0, 4.0])}, state)
      >>> float(m)
      5.0
    """
    if not callable(measure):
        raise TypeError(f"measure must be callable, got {measure!r}")
    base = ema(decay, debias, accumulator_dtype)
    measured_ema = base._replace(init=lambda params: base.init(measure(params)))
    return chain(stateless(lambda updates, _: measure(updates)), measured_ema)


def incremental_update(
    new_tensors: Params, old_tensors: Params, step_size: float | jax.Array
) -> Params:
    r"""Polyak averaging (a target network that tracks the online one):

    .. math::
        \bar\theta \leftarrow \tau\,\theta + (1 - \tau)\,\bar\theta

    Args:
      new_tensors: the latest parameters ``theta``.
      old_tensors: the running average ``bar theta`` (same tree; ``None`` leaves kept).
      step_size: ``tau`` in ``[0, 1]`` (a float or a traced scalar).

    Returns:
      ``step_size * new + (1 - step_size) * old``, leaf by leaf (as
      ``optax.incremental_update``).

    Raises:
      ValueError: if a concrete ``step_size`` is outside ``[0, 1]`` or the trees differ.

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> gradtx.incremental_update({"w": jnp.array(1.0)}, {"w": jnp.array(0.0)}, 0.1)
      {'w': Array(0.1, dtype=float32, weak_type=True)}

    Reference: Polyak & Juditsky, *Acceleration of stochastic approximation by
    averaging*, SIAM J. Control Optim. 1992; Lillicrap et al. (DDPG), 2016.
    """
    _checks.check_range("step_size", step_size, 0.0, 1.0)
    return jax.tree.map(
        lambda new, old: None if new is None else step_size * new + (1.0 - step_size) * old,
        new_tensors,
        old_tensors,
        is_leaf=lambda x: x is None,
    )


def periodic_update(
    new_tensors: Params,
    old_tensors: Params,
    steps: jax.typing.ArrayLike,
    update_period: jax.typing.ArrayLike,
) -> Params:
    r"""A copy of the parameters refreshed every ``update_period`` steps (DQN's target
    network): ``new_tensors`` when ``steps % update_period == 0``, else ``old_tensors``.

    Args:
      new_tensors: the online parameters.
      old_tensors: the slow copy (same tree).
      steps: the online step count (int scalar, may be traced).
      update_period: refresh period, an int ``>= 1`` (may be traced).

    Returns:
      The selected tree, via ``lax.cond`` (as ``optax.periodic_update``).

    Raises:
      ValueError: if a concrete ``update_period`` is not a positive integer.

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> gradtx.periodic_update(jnp.ones(1), jnp.zeros(1), 4, 2)
      Array([1.], dtype=float32)
    """
    if not isinstance(update_period, jax.core.Tracer) and np.ndim(update_period) == 0:
        v = np.asarray(update_period)
        if v.dtype.kind not in "iu" or int(v) < 1:
            raise ValueError(f"update_period must be a positive integer, got {update_period!r}")
    # module-level branches: lax.cond caches them, so an eager call does not retrace
    return jax.lax.cond(
        jnp.mod(steps, update_period) == 0, _first, _second, new_tensors, old_tensors
    )


def _first(a: Any, b: Any) -> Any:
    del b
    return a


def _second(a: Any, b: Any) -> Any:
    del a
    return b


class LookaheadState(NamedTuple):
    """State of :func:`lookahead` (optax's fields)."""

    fast_state: OptState  # the fast optimiser's state
    steps_since_sync: jax.Array  # shape=(), dtype=int32: fast steps since the last sync


class LookaheadParams(NamedTuple):
    """The fast and slow parameters of :func:`lookahead` (optax's fields).

    Compute gradients at ``fast``; evaluate with ``slow``.
    """

    fast: Params  # the fast weights (gradients are taken here)
    slow: Params  # the slow weights (for evaluation)

    @classmethod
    def init_synced(cls, params: Params) -> LookaheadParams:
        """``LookaheadParams(fast=params, slow=params)``: both copies start equal.

        Example:
          >>> import gradtx, jax.numpy as jnp
          >>> gradtx.LookaheadParams.init_synced(jnp.zeros(1))
          LookaheadParams(fast=Array([0.], dtype=float32), slow=Array([0.], dtype=float32))
        """
        return cls(slow=params, fast=params)


def lookahead(
    fast_optimizer: Any,
    sync_period: int,
    slow_step_size: float | jax.Array,
    reset_state: bool = False,
) -> GradientTransformationExtraArgs:
    r"""Lookahead: ``k`` steps of a fast optimiser, then one step of the slow weights
    towards the fast ones, and the fast weights restart from the slow ones.

    .. math::
        \theta_{t+1} = \theta_t + \mathrm{fast}(g_t); \quad \text{every } k
        \text{ steps: } \phi \leftarrow \phi + \alpha(\theta_{t+1} - \phi),\
        \theta_{t+1} \leftarrow \phi

    Params and updates are :class:`LookaheadParams` ``(fast, slow)``; apply the
    returned updates unmodified with :func:`gradtx.apply_updates`. Same numbers and
    state as ``optax.lookahead``.

    Args:
      fast_optimizer: the inner optimiser (gradtx or optax).
      sync_period: ``k >= 1``, fast steps per synchronisation.
      slow_step_size: ``alpha`` in ``[0, 1]``.
      reset_state: re-``init`` the fast optimiser's state at each sync (default
        ``False``).

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs`; state :class:`LookaheadState`.

    Raises:
      ValueError: for ``sync_period < 1`` or ``slow_step_size`` outside ``[0, 1]``.
      TypeError: if ``update`` gets params that are not :class:`LookaheadParams`.

    Example:
      >>> import gradtx, jax, jax.numpy as jnp
      >>> opt = gradtx.lookahead(gradtx.sgd(0.1), sync_period=2, slow_step_size=0.5)
      >>> params = gradtx.LookaheadParams.init_synced(jnp.ones(2))
      >>> state = opt.init(params)
      >>> for _ in range(2):
      ...     updates, state = opt.update(params.fast, state, params)  # grad of |x|^2/2
      ...     params = gradtx.apply_updates(params, updates)
      >>> params.slow
      Array([0.905, 0.905], dtype=float32)

    Reference: Zhang, Lucas, Hinton & Ba, *Lookahead Optimizer: k steps forward, 1 step
    back*, NeurIPS 2019 (arXiv:1907.08610).
    """
    fast_init, fast_update = _as_transformation(fast_optimizer, 0, what="fast_optimizer")
    _checks.positive_int("sync_period", sync_period)
    _checks.check_range("slow_step_size", slow_step_size, 0.0, 1.0)
    if not isinstance(reset_state, (bool, np.bool_)):
        raise TypeError(f"reset_state must be a bool, got {reset_state!r}")

    def init_fn(params):
        fast = params.fast if isinstance(params, LookaheadParams) else params
        return LookaheadState(fast_state=fast_init(fast), steps_since_sync=zero_count())

    def update_fn(updates, state, params=None, **extra_args):
        if not (hasattr(params, "fast") and hasattr(params, "slow")):
            raise TypeError(
                "lookahead: params must be a LookaheadParams(fast, slow), got "
                f"{type(params).__name__}"
            )
        updates, fast_state = fast_update(updates, state.fast_state, params.fast, **extra_args)
        sync = state.steps_since_sync == sync_period - 1
        diff = jax.tree.map(lambda f, u, s: f + u - s, params.fast, updates, params.slow)
        slow_updates = jax.tree.map(lambda d: slow_step_size * sync * d, diff)
        fast_updates = jax.tree.map(lambda u, d: u - sync * (1 - slow_step_size) * d, updates, diff)
        if reset_state:
            fresh = fast_init(params.fast)
            fast_state = jax.tree.map(lambda cur, new: jnp.where(sync, new, cur), fast_state, fresh)
        steps = (state.steps_since_sync + 1) % sync_period
        return LookaheadParams(fast=fast_updates, slow=slow_updates), LookaheadState(
            fast_state, steps
        )

    return GradientTransformationExtraArgs(init_fn, update_fn)
