"""Differentially private aggregation of per-example gradients, and DP-SGD (Abadi et
al., 2016): clip each example's gradient to a global norm, sum, add Gaussian noise.

Same names, signatures, defaults, numbers and state tree as ``optax.contrib``: for the
same key, gradtx draws optax's noise (one key split per leaf, ``jax.random.normal``).
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain, identity
from gradtx.transforms import scale_by_learning_rate, trace
from gradtx.transforms._clipping import per_example_global_norm_clip
from gradtx.tree._core import compute_dtype


class DifferentiallyPrivateAggregateState(NamedTuple):
    """State of :func:`differentially_private_aggregate` (optax.contrib's field)."""

    rng_key: jax.Array  # typed PRNG key of the next draw (split at every update)


def _as_key(key: Any) -> jax.Array:
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    if isinstance(key, jax.Array) and key.shape == (2,) and key.dtype == jnp.uint32:
        return jax.random.wrap_key_data(key)  # a raw jax.random.PRNGKey
    if isinstance(key, bool) or not isinstance(key, int):
        raise TypeError(f"key must be a PRNG key or an int seed, got {key!r}")
    return jax.random.key(key)


def differentially_private_aggregate(
    l2_norm_clip: float,
    noise_multiplier: float,
    key: jax.Array | int | None = None,
    *,
    seed: int | None = None,
) -> GradientTransformation:
    r"""DP-SGD's aggregation: per-example clipping, a sum, Gaussian noise, the mean.

    The updates are *per-example* gradients: every leaf has a leading batch axis of
    size :math:`B` (``jax.vmap(jax.grad(loss), in_axes=(None, 0))``). With :math:`C` =
    ``l2_norm_clip`` and :math:`\sigma` = ``noise_multiplier``:

    .. math::
        \bar g = \frac{1}{B}\left(\sum_{b=1}^B g_b
        \min\!\left(1, \frac{C}{\lVert g_b\rVert_2}\right)
        + \mathcal N(0, \sigma^2 C^2 I)\right)

    with :math:`\lVert g_b\rVert_2` the norm of example :math:`b`'s gradient over all
    leaves. Each update splits the key into a new state key and one key per leaf (as
    optax.contrib, so the same key draws the same noise). It must come first in a chain;
    accumulation wrappers (``MultiSteps``, ``apply_every``) break its privacy accounting.

    Args:
        l2_norm_clip: :math:`C \ge 0`, the per-example norm bound.
        noise_multiplier: :math:`\sigma \ge 0`, the noise standard deviation over
            :math:`C`.
        key: a PRNG key (typed, or a raw ``jax.random.PRNGKey``) or an int seed;
            default ``None``: ``jax.random.key(0)`` with a warning, as optax.
        seed: keyword-only, deprecated (optax's): an int seed; not with ``key``.

    Returns:
        A :class:`gradtx.GradientTransformation` with state
        :class:`DifferentiallyPrivateAggregateState`.

    Raises:
        ValueError: a negative ``l2_norm_clip`` or ``noise_multiplier``; both ``key`` and
            ``seed``; leaves without a shared leading batch axis.
        TypeError: a ``key`` that is neither a key nor an int.

    Reference: Abadi, Chu, Goodfellow et al., *Deep Learning with Differential Privacy*,
    CCS 2016 (arXiv:1607.00133).

    Example:
        >>> import jax, jax.numpy as jnp, gradtx.contrib
        >>> tx = gradtx.contrib.differentially_private_aggregate(1.0, 0.0, key=0)
        >>> per_example = {"w": jnp.array([[3.0, 4.0], [0.3, 0.4]])}  # batch of 2
        >>> u, _ = tx.update(per_example, tx.init(None))
        >>> [round(x, 4) for x in u["w"].tolist()]  # (0.6 + 0.3, 0.8 + 0.4) / 2
        [0.45, 0.6]
    """
    _checks.non_negative("l2_norm_clip", l2_norm_clip)
    _checks.non_negative("noise_multiplier", noise_multiplier)
    if seed is not None:
        warnings.warn('"seed" is deprecated, use "key".', DeprecationWarning, stacklevel=2)
        if key is not None:
            raise ValueError("Only one of seed or key can be specified.")
        key = jax.random.key(seed)
    if key is None:
        warnings.warn("Specifying a key will be required (as in optax); using key 0.",
                      stacklevel=2)
        key = jax.random.key(0)
    key = _as_key(key)
    noise_std = l2_norm_clip * noise_multiplier

    def init_fn(params):
        del params
        return DifferentiallyPrivateAggregateState(rng_key=key)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        leaves, treedef = jax.tree.flatten(updates)
        if not leaves:
            return updates, state
        bsize = leaves[0].shape[0]
        clipped, _ = per_example_global_norm_clip(leaves, l2_norm_clip)
        new_key, *keys = jax.random.split(state.rng_key, len(leaves) + 1)

        def noisy_mean(g, k):
            # drawn and added in at least float32 (optax's numbers there): float16 params
            # get float32's draws, rounded once, not float16's coarser sampler
            dt = compute_dtype(g)
            out = (g.astype(dt) + noise_std * jax.random.normal(k, g.shape, dt)) / bsize
            return out.astype(g.dtype)

        noised = [noisy_mean(g, k) for g, k in zip(clipped, keys, strict=True)]
        return treedef.unflatten(noised), DifferentiallyPrivateAggregateState(rng_key=new_key)

    return GradientTransformation(init_fn, update_fn)


def dpsgd(
    learning_rate: ScalarOrSchedule,
    l2_norm_clip: float,
    noise_multiplier: float,
    seed: int,
    momentum: float | None = None,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""DP-SGD: SGD (with optional momentum) on differentially private mean gradients.

    :func:`differentially_private_aggregate` (key ``jax.random.key(seed)``), then
    :func:`gradtx.trace` when ``momentum`` is given, then the learning rate: optax's
    chain, signature, defaults and numbers (the same ``seed`` draws the same noise). The
    updates are per-example gradients (a leading batch axis on every leaf).

    Args:
        learning_rate: a float ``>= 0`` or a schedule.
        l2_norm_clip: :math:`C \ge 0`.
        noise_multiplier: :math:`\sigma \ge 0`.
        seed: the int seed of the noise.
        momentum: heavy-ball decay, or ``None`` for none (default ``None``).
        nesterov: Nesterov momentum (default ``False``).

    Returns:
        A :class:`gradtx.GradientTransformation`; state
        ``(DifferentiallyPrivateAggregateState, trace or empty state, lr state)``.

    Raises:
        ValueError: as :func:`differentially_private_aggregate`; a bad learning rate.

    Reference: Abadi et al., CCS 2016 (arXiv:1607.00133).

    Example:
        >>> import jax, jax.numpy as jnp, gradtx, gradtx.contrib
        >>> loss = lambda p, x: jnp.sum((p - x) ** 2)
        >>> xs = jnp.array([[1.0, 1.0], [1.2, 0.8], [0.9, 1.1], [1.1, 0.9]])
        >>> opt = gradtx.contrib.dpsgd(0.1, l2_norm_clip=1.0, noise_multiplier=0.1, seed=0)
        >>> params = jnp.zeros(2)
        >>> state = opt.init(params)
        >>> @jax.jit
        ... def step(params, state):
        ...     per_example = jax.vmap(jax.grad(loss), in_axes=(None, 0))(params, xs)
        ...     updates, state = opt.update(per_example, state, params)
        ...     return gradtx.apply_updates(params, updates), state
        >>> for _ in range(100):
        ...     params, state = step(params, state)
        >>> bool(jnp.all(jnp.abs(params - 1.0) < 0.1))
        True
    """
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(
        differentially_private_aggregate(l2_norm_clip, noise_multiplier,
                                         key=jax.random.key(seed)),
        trace(decay=momentum, nesterov=nesterov) if momentum is not None else identity(),
        scale_by_learning_rate(learning_rate),
    )


__all__ = ["DifferentiallyPrivateAggregateState", "differentially_private_aggregate", "dpsgd"]
