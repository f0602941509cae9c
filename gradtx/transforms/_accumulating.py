"""Update timing: apply accumulated updates every ``k`` steps (optax's ``apply_every``)
and the micro-batch rejection rules for :class:`gradtx.MultiSteps`
(``skip_not_finite``, ``skip_large_updates``)."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformationExtraArgs, Params, Updates
from gradtx.tree._core import (
    MOMENT,
    check_updates,
    safe_increment,
    state_like,
    sum_of_squares,
    zero_count,
)


class ShouldSkipUpdateFunction(Protocol):
    """``(updates, gradient_step, params) -> (skip: bool scalar, skip_state: tree)``."""

    def __call__(
        self, updates: Updates, gradient_step: jax.typing.ArrayLike, params: Params | None
    ) -> tuple[jax.typing.ArrayLike, Any]: ...


class ApplyEvery(NamedTuple):
    """State of :func:`apply_every` (optax's name and fields)."""

    count: jax.Array  # shape=(), dtype=int32: calls since the last emitted update, mod k
    grad_acc: Updates  # like params: the sum of this window's updates (dtype: the state
    #                    policy, docs/dtypes.md: float32 for float16 params)


def apply_every(k: int = 1) -> GradientTransformationExtraArgs:
    r"""Sums the updates of ``k`` calls and emits the sum every ``k``-th call (zeros
    otherwise).

    .. math::
        a_t = g_t + [t \bmod k \ne 0]\, a_{t-1}, \qquad
        u_t = [t \bmod k = k - 1]\, a_t, \qquad t = 0, 1, \ldots

    Transformations chained before it still update their state every call; for an
    exact large-batch equivalent use :class:`gradtx.MultiSteps`. As
    ``optax.apply_every``. The sum is a momentum-like accumulator: it is stored in the
    state dtype policy's dtype (float32 for float16 params, whose range a sum of ``k``
    gradients leaves sooner) and, like :func:`gradtx.trace`'s, the emitted update has
    the wider of the gradient's and the sum's dtype (as in optax, whose update is the
    stored sum).

    Args:
      k: the period, an int ``>= 1`` (default ``1``: every update passes).

    Returns:
      A :class:`gradtx.GradientTransformationExtraArgs`; state :class:`ApplyEvery`.

    Raises:
      ValueError: if ``k`` is not a positive integer.

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> tx = gradtx.apply_every(2)
      >>> state = tx.init(jnp.zeros(()))
      >>> u0, state = tx.update(jnp.asarray(1.0), state)
      >>> u1, state = tx.update(jnp.asarray(2.0), state)
      >>> float(u0), float(u1)
      (0.0, 3.0)
    """
    if not isinstance(k, jax.core.Tracer):
        _checks.positive_int("k", k)

    def init_fn(params):
        return ApplyEvery(count=zero_count(), grad_acc=state_like(params, MOMENT))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.grad_acc)
        c = state.count % k
        keep = c != 0
        grad_acc = jax.tree.map(
            lambda g, a: (keep * a + g).astype(a.dtype), updates, state.grad_acc
        )
        emit = c == k - 1
        new_updates = jax.tree.map(
            lambda a, g: (emit * a).astype(jnp.promote_types(g.dtype, a.dtype)), grad_acc, updates
        )
        return new_updates, ApplyEvery(count=safe_increment(state.count) % k, grad_acc=grad_acc)

    return GradientTransformationExtraArgs(init_fn, update_fn)


def skip_not_finite(
    updates: Updates, gradient_step: jax.typing.ArrayLike, params: Params | None
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """A ``should_skip_update_fn`` for :class:`gradtx.MultiSteps`: skip a micro-batch
    whose updates hold a NaN or an infinity.

    Args:
      updates: the micro-batch's gradients.
      gradient_step: ignored.
      params: ignored.

    Returns:
      ``(skip, {"should_skip": skip, "num_not_finite": n})`` with ``n`` the int32
      count of non-finite elements, as ``optax.skip_not_finite``.

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> skip, info = gradtx.skip_not_finite({"w": jnp.array([1.0, jnp.nan])}, 0, None)
      >>> bool(skip), int(info["num_not_finite"])
      (True, 1)
    """
    del gradient_step, params
    counts = [jnp.sum(jnp.logical_not(jnp.isfinite(p))) for p in jax.tree.leaves(updates)]
    num_not_finite = jnp.sum(jnp.array(counts)) if counts else jnp.zeros([], jnp.int32)
    should_skip = num_not_finite > 0
    return should_skip, {"should_skip": should_skip, "num_not_finite": num_not_finite}


def skip_large_updates(
    updates: Updates,
    gradient_step: jax.typing.ArrayLike,
    params: Params | None,
    max_squared_norm: float | jax.Array,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    r"""A ``should_skip_update_fn`` for :class:`gradtx.MultiSteps`: skip a micro-batch
    with ``\|g\|_2^2 \ge`` ``max_squared_norm`` (bind it with ``functools.partial``).

    Args:
      updates: the micro-batch's gradients.
      gradient_step: ignored.
      params: ignored.
      max_squared_norm: the largest accepted squared global norm (exclusive).

    Returns:
      ``(skip, {"should_skip": skip, "norm_squared": n2})``, as
      ``optax.skip_large_updates`` (a NaN norm is skipped too).

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> skip, info = gradtx.skip_large_updates({"w": jnp.array([3.0, 4.0])}, 0, None, 20.0)
      >>> bool(skip), float(info["norm_squared"])
      (True, 25.0)
    """
    del gradient_step, params
    # in at least float32 (a float16 sum of squares overflows past 65504, which would
    # skip every micro-batch) and |g|^2 for complex leaves
    norm_sq = sum_of_squares(updates)
    should_skip = jnp.logical_not(norm_sq < max_squared_norm)
    return should_skip, {"should_skip": should_skip, "norm_squared": norm_sq}
