"""Complex parameters as pairs of real ones: torch's per-part convention, as a wrapper.

gradtx (like optax) treats a complex parameter ``z`` as one number with a magnitude: its
second moments average ``|g|^2 = Re(g)^2 + Im(g)^2``, shared by the real and imaginary
parts, so every update is equivariant under a global phase (``z -> e^{i theta} z``).
torch's optimisers instead view a complex tensor as a real one with a trailing axis of 2
(``torch.view_as_real``): the real and imaginary parts get separate second moments.
:func:`split_real_and_imaginary` gives torch's convention for any gradtx or optax
transformation, with optax.contrib's name, signature and state tree.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation, _as_transformation


class SplitRealAndImaginaryArrays(NamedTuple):
    """A complex array as the pair of its real parts (optax.contrib's node)."""

    real: jax.Array  # Re(z), real dtype of z
    imaginary: jax.Array  # Im(z), real dtype of z


class SplitRealAndImaginaryState(NamedTuple):
    """State of :func:`split_real_and_imaginary` (optax.contrib's fields)."""

    inner_state: Any  # the inner transformation's state, on the split params


def _split(x: Any) -> Any:
    if x is not None and jnp.iscomplexobj(x):
        return SplitRealAndImaginaryArrays(jnp.real(x), jnp.imag(x))
    return x


def _merge(x: Any) -> Any:
    if isinstance(x, SplitRealAndImaginaryArrays):
        return jax.lax.complex(x.real, x.imaginary)
    return x


def _is_pair(x: Any) -> bool:
    return isinstance(x, SplitRealAndImaginaryArrays)


def split_real_and_imaginary(inner: GradientTransformation) -> GradientTransformation:
    r"""Runs ``inner`` on the real and imaginary parts of complex leaves as separate reals.

    Each complex leaf ``z`` (and its gradient) becomes the pair ``(Re z, Im z)`` before
    ``inner`` sees it, and the pair of real updates is merged back into
    ``u = u_{re} + i\,u_{im}`` afterwards; real leaves pass through unchanged. For every
    transformation this is exactly ``inner`` run on the real parameters
    ``(Re z, Im z)`` (torch's ``view_as_real`` convention): Adam's second moment, for
    example, is kept per part, ``v_{re} = E[Re(g)^2]``, ``v_{im} = E[Im(g)^2]``, instead
    of gradtx's (and optax's) shared ``E|g|^2``. Gradients must be in torch's
    convention, ``conj(jax.grad(loss)(z))``.

    Args:
      inner: the transformation to wrap (gradtx or optax).

    Returns:
      The wrapped transformation; its state is
      ``SplitRealAndImaginaryState(inner_state)``, as in optax.contrib.

    Raises:
      TypeError: ``inner`` is not a gradient transformation.

    Example:
      >>> import jax.numpy as jnp
      >>> import gradtx, gradtx.contrib
      >>> tx = gradtx.contrib.split_real_and_imaginary(gradtx.adam(0.1))
      >>> z = jnp.array([1.0 + 2.0j])
      >>> u, _ = tx.update(jnp.array([3.0 - 0.5j]), tx.init(z), z)
      >>> print(jnp.round(u, 3))  # Adam's first step: -lr * sign, per part
      [-0.1+0.1j]

    Reference: optax.contrib ``split_real_and_imaginary``; PyTorch's handling of complex
    parameters in ``torch.optim`` (``torch.view_as_real``).
    """
    _checks.transformation("inner", inner)
    inner_init, inner_update = _as_transformation(inner, 0)

    def init_fn(params):
        return SplitRealAndImaginaryState(inner_init(jax.tree.map(_split, params)))

    def update_fn(updates, state, params=None, **extra_args):
        split_updates = jax.tree.map(_split, updates)
        split_params = None if params is None else jax.tree.map(_split, params)
        new_updates, inner_state = inner_update(
            split_updates, state.inner_state, split_params, **extra_args
        )
        merged = jax.tree.map(_merge, new_updates, is_leaf=_is_pair)
        return merged, SplitRealAndImaginaryState(inner_state)

    return GradientTransformation(init_fn, update_fn)


__all__ = [
    "SplitRealAndImaginaryArrays",
    "SplitRealAndImaginaryState",
    "split_real_and_imaginary",
]
