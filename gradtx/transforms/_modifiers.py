"""Gradient modifiers: weight decay, clipping by the global norm, annealed noise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx.base import EmptyState, GradientTransformation, ScalarOrSchedule, with_spec
from gradtx.transforms._masking import MaskedState
from gradtx.tree import _core as _tree
from gradtx.tree._core import (
    check_same_tree,
    check_updates,
    global_norm,
    safe_increment,
    zero_count,
)


class WeightDecayState(NamedTuple):
    """:func:`add_decayed_weights`' state when ``weight_decay`` is a schedule (optax's
    ``WeightDecaySchedule``); a number keeps ``EmptyState()``, as optax does."""

    count: jax.Array  # shape=(), dtype=int32: the updates made so far


def _full_mask(mask: Any, params: Any) -> Any:
    """The mask as a tree of booleans with the params' structure (a prefix tree of
    booleans is broadcast over the subtrees it covers)."""
    tree = mask(params) if callable(mask) else mask
    try:
        return jax.tree.map(
            lambda m, sub: jax.tree.map(lambda _: m, sub),
            tree,
            params,
            is_leaf=lambda x: x is None,
        )
    except ValueError as e:
        raise ValueError(
            "the weight-decay mask must have the structure of the params (or a prefix "
            f"of it):\n  mask:   {jax.tree.structure(tree)}\n"
            f"  params: {jax.tree.structure(params)}"
        ) from e


def add_decayed_weights(
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Any | Callable[[Any], Any] | None = None,
) -> GradientTransformation:
    r"""Adds the decayed parameters to the updates, where the mask is True.

    .. math::

        u_t = g_t + \lambda_t\, p_t \quad (\text{mask True}), \qquad
        u_t = g_t \quad (\text{mask False})

    Placed before an adaptive scaling this is L2 regularisation (torch's
    ``weight_decay`` in Adam/AdaBound); placed after it, before the learning rate, it
    is decoupled weight decay (AdamW). ``weight_decay`` may be a schedule (evaluated at
    ``t = 0, 1, ...``). ``mask`` is a tree of booleans (or a prefix of one, or a function
    of the params returning one): False leaves are passed through unchanged. Same as
    ``optax.add_decayed_weights`` (numbers and state trees).

    Args:
        weight_decay: :math:`\lambda`, a float ``>= 0`` (default 0.0) or a schedule (a
            callable of the step).
        mask: default ``None`` (every leaf decays); a tree of booleans with the params'
            structure or a prefix of it, or a function ``params -> tree``.

    Returns:
        A :class:`gradtx.GradientTransformation`. Its ``update`` needs ``params``. State:
        ``EmptyState()`` for a number, ``WeightDecayState`` (``count``) for a schedule,
        either inside ``MaskedState`` when ``mask`` is given (optax's trees).

    Raises:
        ValueError: a negative or NaN ``weight_decay``; ``update`` called without
            ``params``; updates, params or mask of different tree structure or shapes.
        TypeError: ``weight_decay`` is not a number; a non-float gradient leaf.

    Reference: Loshchilov & Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.add_decayed_weights(0.1)
        >>> params = jnp.array([0.5, 1.0])
        >>> u, _ = tx.update(jnp.array([1.0, -2.0]), tx.init(params), params)
        >>> [round(x, 4) for x in u.tolist()]  # g + 0.1 p
        [1.05, -1.9]
        >>> tx = gradtx.add_decayed_weights(0.1, mask={"w": True, "b": False})
        >>> params = {"w": jnp.ones(1), "b": jnp.ones(1)}
        >>> u, _ = tx.update({"w": jnp.zeros(1), "b": jnp.zeros(1)}, tx.init(params), params)
        >>> round(float(u["w"][0]), 4), float(u["b"][0])  # "b" is masked out
        (0.1, 0.0)
    """
    if not callable(weight_decay):
        _checks.non_negative("weight_decay", weight_decay)

    scheduled = callable(weight_decay)

    # optax's state tree: EmptyState for a number, a count for a schedule, and both
    # inside MaskedState when there is a mask (optax wraps the transform in masked)
    def wrap(inner):
        return inner if mask is None else MaskedState(inner_state=inner)

    def init_fn(params):
        del params
        return wrap(WeightDecayState(count=zero_count()) if scheduled else EmptyState())

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError(
                "add_decayed_weights needs the params: call update(updates, state, params)"
            )
        check_updates(updates)
        check_same_tree(updates, params, against="params")
        inner = state if mask is None else state.inner_state
        if scheduled:
            wd = weight_decay(inner.count)
            new_state = wrap(WeightDecayState(count=safe_increment(inner.count)))
        else:
            wd, new_state = weight_decay, state
        full = _full_mask(mask, params) if mask is not None else None  # validates the mask
        if not scheduled and isinstance(wd, (int, float)) and wd == 0.0:
            # a constant 0 adds nothing: skipped as optax skips it, so the compiled step
            # does not read the params for ``g + 0 * p`` (nor make 0 * inf = NaN)
            return updates, new_state

        def one(g, p, m=True):
            decayed = g + jnp.asarray(wd, g.dtype) * p.astype(g.dtype)
            if m is True:
                return decayed
            if m is False:
                return g
            return jnp.where(m, decayed, g)

        if full is None:
            return jax.tree.map(one, updates, params), new_state
        return jax.tree.map(one, updates, params, full), new_state

    return with_spec(
        GradientTransformation(init_fn, update_fn), "add_decayed_weights",
        weight_decay=weight_decay, mask=mask
    )


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    r"""Rescales the whole update so its global L2 norm is at most ``max_norm``.

    .. math::

        u_t = g_t \cdot \min\!\Big(1, \frac{c}{\lVert g_t \rVert_2}\Big),\qquad
        \lVert g\rVert_2 = \sqrt{\textstyle\sum_{\text{leaves}} \sum |g|^2}

    The norm is one reduction over every leaf (it stays correct when leaves are
    sharded: XLA inserts the cross-device sum); complex leaves count ``|g|^2``. An update
    whose norm is below :math:`c` passes unchanged (a zero gradient gives no ``0/0``).
    Same as ``optax.clip_by_global_norm``.

    Args:
        max_norm: :math:`c > 0`, the largest global norm allowed (a float; no default).

    Returns:
        A stateless :class:`gradtx.GradientTransformation` (state ``EmptyState()``);
        every leaf keeps its dtype.

    Raises:
        ValueError: ``max_norm <= 0`` or NaN.
        TypeError: ``max_norm`` is not a number; a non-float gradient leaf.

    Reference: Pascanu et al., *On the difficulty of training recurrent neural
    networks*, ICML 2013.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.clip_by_global_norm(1.0)
        >>> u, _ = tx.update({"a": jnp.array([3.0]), "b": jnp.array([4.0])}, tx.init(None))
        >>> [round(x, 4) for x in u["a"].tolist() + u["b"].tolist()]  # norm 5 -> 1
        [0.6, 0.8]
    """
    _checks.positive("max_norm", max_norm)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates)
        norm = global_norm(updates)
        keep = norm < max_norm
        # max(norm, max_norm) is norm wherever the quotient is used; where it is not
        # (keep), it avoids computing 0/0 for a zero gradient (jax_debug_nans flags it).
        safe = jnp.maximum(norm, max_norm)
        updates = jax.tree.map(
            lambda g: jnp.where(keep, g, (g / safe.astype(g.dtype)) * max_norm).astype(g.dtype),
            updates,
        )
        return updates, state

    return with_spec(
        GradientTransformation(lambda params: EmptyState(), update_fn),
        "clip_by_global_norm",
        max_norm=max_norm,
    )


def _normal(key: jax.Array, g: jax.Array) -> jax.Array:
    """Standard normal noise shaped like ``g``. For a complex ``g`` of shape ``s`` the
    real and imaginary parts are each standard normal, drawn as one real array of shape
    ``s + (2,)`` (real parts ``[..., 0]``, imaginary parts ``[..., 1]``): exactly the noise
    the real split of ``g`` (a leaf of shape ``s + (2,)``) gets from the same key."""
    if not jnp.iscomplexobj(g):
        return jax.random.normal(key, g.shape, g.dtype)
    pair = jax.random.normal(key, (*g.shape, 2), _tree.real_dtype(g.dtype))
    return jax.lax.complex(pair[..., 0], pair[..., 1])


class AddNoiseState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32
    rng_key: jax.Array  # a PRNG key, split once per update


def add_noise(
    eta: float = 0.01,
    gamma: float = 0.55,
    key: int | jax.Array | None = None,
    *,
    seed: int | jax.Array | None = None,
) -> GradientTransformation:
    r"""Adds annealed Gaussian noise to the updates.

    .. math::

        u_t = g_t + \sigma_t\, \xi_t, \qquad \xi_t \sim \mathcal N(0, I), \qquad
        \sigma_t^2 = \frac{\eta}{t^{\gamma}}, \quad t = 1, 2, \ldots

    ``key`` (optax's name; the third positional argument) or the keyword ``seed``
    (gradtx's earlier name, kept) is an int or a PRNG key, default 0; giving both raises
    ``ValueError``. The paper's defaults are ``eta`` in {0.01, 0.3, 1.0} and
    ``gamma = 0.55``. Given the same ``eta``, ``gamma`` and seed the noise on real leaves
    equals ``optax.add_noise``'s. A complex leaf gets noise of variance ``sigma_t^2`` on
    its real part and on its imaginary part, each as a real parameter would (optax splits
    ``sigma_t^2`` between the two parts); the numbers are those its real split (a real
    leaf of shape ``shape + (2,)`` holding ``(Re, Im)``) would get.

    Args:
        eta: :math:`\eta \ge 0`, the initial noise variance (default 0.01).
        gamma: :math:`\gamma \ge 0`, the annealing exponent (default 0.55).
        key: an int seed or a JAX PRNG key (default ``None``: seed 0). A typed key
            (``jax.random.key``) is copied at ``init``, so a donated step cannot delete
            the caller's key.
        seed: keyword-only, the same as ``key`` (gradtx's earlier name).

    Returns:
        A :class:`gradtx.GradientTransformation` with state ``AddNoiseState``
        (``count``: int32 scalar; ``rng_key``: a PRNG key split once per update, as
        optax's).

    Raises:
        ValueError: a negative or NaN ``eta`` or ``gamma``; both ``key`` and ``seed``.
        TypeError: ``key``/``seed`` neither an int nor a PRNG key (a bool, a float).

    Reference: Neelakantan et al., *Adding Gradient Noise Improves Learning for Very
    Deep Networks*, 2015.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.add_noise(eta=0.01, gamma=0.55, key=0)
        >>> u, state = tx.update(jnp.zeros(1000), tx.init(jnp.zeros(1000)))
        >>> 0.07 < float(jnp.std(u)) < 0.13  # sigma_1 = sqrt(0.01) = 0.1
        True
        >>> int(state.count)
        1
    """
    _checks.non_negative("eta", eta)
    _checks.non_negative("gamma", gamma)
    if key is not None and seed is not None:
        raise ValueError(f"give key or seed, not both; got key={key!r}, seed={seed!r}")
    seed = 0 if key is None and seed is None else (seed if key is None else key)
    if not isinstance(seed, jax.Array) and (
        isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
    ):
        raise TypeError(f"key (seed) must be an int or a PRNG key, got {seed!r}")

    def init_fn(params):
        del params
        if isinstance(seed, jax.Array) and not jnp.issubdtype(seed.dtype, jnp.integer):
            # The caller's key is copied: a donated step would otherwise delete it.
            key = seed.copy() if not isinstance(seed, jax.core.Tracer) else seed
        else:
            key = jax.random.key(seed)
        return AddNoiseState(count=zero_count(), rng_key=key)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates)
        count = safe_increment(state.count)
        std = jnp.sqrt(eta / count.astype(jnp.float32) ** gamma)
        rng_key, sample_key = jax.random.split(state.rng_key)
        leaves, treedef = jax.tree.flatten(updates)
        keys = jax.random.split(sample_key, len(leaves)) if leaves else []
        noisy = [
            g + (std * _normal(k, g)).astype(g.dtype) for g, k in zip(leaves, keys, strict=True)
        ]
        return treedef.unflatten(noisy), AddNoiseState(count=count, rng_key=rng_key)

    return GradientTransformation(init_fn, update_fn)
