"""Normalising the whole update tree to unit global norm: SAM's adversarial direction
(optax.contrib keeps it beside SAM, in ``_sam.py``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradtx.base import EmptyState, GradientTransformation
from gradtx.tree._core import check_float_updates, global_norm

# jitted so that an eager ``update`` compiles the norm (a lax.cond) once, not per call
_global_norm = jax.jit(global_norm)

NormalizeState = EmptyState
"""State of :func:`normalize`: ``EmptyState()`` (optax.contrib's alias)."""


def normalize() -> GradientTransformation:
    r"""Divides the updates by their global norm.

    .. math::
        u = \frac{g}{\lVert g \rVert_2},\qquad
        \lVert g \rVert_2 = \sqrt{\textstyle\sum_\ell \sum_i |g_{\ell,i}|^2}

    over every leaf together (:func:`gradtx.global_norm`). The adversarial step of SAM
    is ``chain(normalize(), sgd(rho))`` (see :func:`gradtx.contrib.sam`). Equal to
    ``optax.contrib.normalize`` except where the norm is 0: optax returns ``0/0 = NaN``,
    gradtx returns the zero updates unchanged (a zero gradient has no direction; a NaN
    would poison the parameters).

    Returns:
        A stateless :class:`gradtx.GradientTransformation` (state ``EmptyState()``).

    Raises:
        TypeError: a non-float gradient leaf.

    Example:
        >>> import gradtx.contrib, jax.numpy as jnp
        >>> tx = gradtx.contrib.normalize()
        >>> u, _ = tx.update({"a": jnp.array([3.0]), "b": jnp.array([4.0])}, tx.init(None))
        >>> round(float(u["a"][0]), 4), round(float(u["b"][0]), 4)
        (0.6, 0.8)
    """

    def init_fn(params):
        del params
        return NormalizeState()

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_float_updates(updates)
        norm = _global_norm(updates)
        safe = jnp.where(norm > 0, norm, 1.0)
        return jax.tree.map(lambda g: (g / safe.astype(g.dtype)).astype(g.dtype), updates), state

    return GradientTransformation(init_fn, update_fn)


__all__ = ["NormalizeState", "normalize"]
