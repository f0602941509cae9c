"""SAM, sharpness-aware minimisation (Foret et al., 2021), as optax.contrib's wrapper of
an outer optimiser and an adversarial one.

Same names, signatures, defaults, numbers and state tree as ``optax.contrib.sam``. SAM
needs a second gradient per step (at the adversarially perturbed params): in the default
(transparent) mode every other ``update`` call is the adversarial one, so the training
loop computes a gradient and calls ``update`` twice per SAM step; with
``opaque_mode=True`` one ``update`` call takes a ``grad_fn`` and does both. Complete
training steps for both are in the example of :func:`sam` and in
``docs/contrib_training_steps.md``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.base import GradientTransformationExtraArgs, apply_updates
from gradtx.tree._core import MOMENT, state_dtype, zero_count


class SAMState(NamedTuple):
    """State of :func:`sam` (optax.contrib's fields and order)."""

    steps_since_sync: jax.Array  # shape=(), int32: adversarial steps since the outer step
    opt_state: Any  # the outer optimiser's state
    adv_state: Any  # the adversarial optimiser's state
    cache: Any  # the outer params at the last sync (f32 for f16 params); None in opaque mode


def _pick(cond: jax.Array, if_true: Any, if_false: Any) -> Any:
    """Leaf by leaf ``where(cond, a, b)`` (optax blends ``c a + (1-c) b``, the same for
    finite values; ``where`` keeps an Inf or NaN in the unpicked branch out)."""
    return jax.tree.map(lambda a, b: jnp.where(cond, a, b), if_true, if_false)


def sam(
    optimizer: Any,
    adv_optimizer: Any,
    sync_period: int = 2,
    reset_state: bool = True,
    opaque_mode: bool = False,
    batch_axis_name: str | None = None,
) -> GradientTransformationExtraArgs:
    r"""SAM: steps of ``adv_optimizer`` up the loss, then one outer step from the start.

    With ``sync_period = n`` and the outer params :math:`w`, each SAM step is ``n``
    calls. Calls ``1 .. n-1`` are adversarial: they return
    :math:`-\mathrm{adv}(g)` (``adv_optimizer``'s update, negated, so that
    ``chain(normalize(), sgd(rho))`` moves *up* by :math:`\rho\,g/\lVert g\rVert`).
    Call ``n`` returns the update that takes the params back to :math:`w` and applies
    ``optimizer``'s update for the gradient at the perturbed point:

    .. math::
        \epsilon = \rho\,\frac{\nabla L(w)}{\lVert\nabla L(w)\rVert},\qquad
        w \leftarrow w + \mathrm{opt}\big(\nabla L(w + \epsilon)\big)

    (the paper's SAM for ``n = 2``; larger ``n`` takes more adversarial steps). The
    adversarial optimiser's state is reset after each outer step when ``reset_state``.
    With ``opaque_mode=True`` one ``update(grads, state, params, grad_fn=...)`` call does
    all ``n`` (``grad_fn(params, i)`` returns the gradient at the adversarial params of
    step ``i``; ``lax.pmean`` over ``batch_axis_name`` when given), so the params never
    hold the perturbed point (needed when anything else, such as BatchNorm statistics,
    is updated on every call).

    optax.contrib's numbers and state tree; gradtx selects with ``where`` where optax
    blends ``c a + (1-c) b`` (the same for finite values). The authors' code
    (google-research/sam) takes the outer step with the gradient at
    :math:`w + \epsilon` and SGD with momentum, as here with ``optimizer=sgd(lr,
    momentum)``.

    Args:
        optimizer: the outer optimiser (any gradient transformation).
        adv_optimizer: the adversarial optimiser, normally
            ``chain(normalize(), sgd(rho))``.
        sync_period: ``n >= 1`` calls per SAM step (default 2).
        reset_state: reset ``adv_optimizer``'s state after each outer step (default
            ``True``).
        opaque_mode: do the whole SAM step in one call with ``grad_fn`` (default
            ``False``).
        batch_axis_name: a ``pmap``/``shard_map`` axis to average the adversarial
            gradients over, in opaque mode (default ``None``).

    Returns:
        A :class:`gradtx.GradientTransformationExtraArgs` with state :class:`SAMState`.
        ``update`` needs ``params``; in opaque mode also ``grad_fn``.

    Raises:
        ValueError: ``sync_period < 1``; in opaque mode, ``update`` without ``grad_fn``.

    Reference: Foret, Kleiner, Mobahi & Neyshabur, *Sharpness-Aware Minimization for
    Efficiently Improving Generalization*, ICLR 2021 (arXiv:2010.01412).

    Example:
        A complete training step (transparent mode: two gradients, two updates):

        >>> import jax, jax.numpy as jnp, gradtx, gradtx.contrib
        >>> X = jnp.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
        >>> y = jnp.array([1.0, 2.0, 3.0])
        >>> loss_fn = lambda p, batch: jnp.mean((batch[0] @ p - batch[1]) ** 2)
        >>> opt = gradtx.contrib.sam(
        ...     gradtx.sgd(0.01), gradtx.chain(gradtx.contrib.normalize(), gradtx.sgd(0.05)))
        >>> @jax.jit
        ... def train_step(params, state, batch):
        ...     for _ in range(2):  # the adversarial call, then the outer one
        ...         grads = jax.grad(loss_fn)(params, batch)
        ...         updates, state = opt.update(grads, state, params)
        ...         params = gradtx.apply_updates(params, updates)
        ...     return params, state
        >>> params = jnp.zeros(2)
        >>> state = opt.init(params)
        >>> for _ in range(200):
        ...     params, state = train_step(params, state, (X, y))
        >>> print(f"{float(loss_fn(params, (X, y))):.4f}")
        0.0184
    """
    if isinstance(sync_period, bool) or not isinstance(sync_period, int) or sync_period < 1:
        raise ValueError(f"Synchronization period must be >= 1, got sync_period={sync_period!r}")

    def init_fn(params):
        return SAMState(
            steps_since_sync=zero_count(),
            opt_state=optimizer.init(params),
            adv_state=adv_optimizer.init(params),
            # a copy of the params (donating them must not free the cache), float32 for
            # float16 params (the state dtype policy)
            cache=None if opaque_mode else jax.tree.map(
                lambda p: jnp.array(p, dtype=state_dtype(jnp.result_type(p), MOMENT),
                                    copy=True), params),
        )

    def transparent_update(updates, state, params=None, *, grad_fn=None, **extra_args):
        del grad_fn, extra_args
        if params is None:
            raise ValueError("sam needs params: call update(updates, state, params)")
        first = state.steps_since_sync == 0
        last = state.steps_since_sync == sync_period - 1
        adv_updates, adv_state = adv_optimizer.update(updates, state.adv_state, params)
        adv_updates = jax.tree.map(jnp.negative, adv_updates)
        opt_updates, opt_state = optimizer.update(updates, state.opt_state, state.cache)
        opt_updates = jax.tree.map(
            lambda c, p, u: (c - p + u).astype(jnp.result_type(u)), state.cache, params,
            opt_updates)
        cache = _pick(first, jax.tree.map(lambda p, c: p.astype(c.dtype), params, state.cache),
                      state.cache)
        new_updates = _pick(last, opt_updates, adv_updates)
        if reset_state:
            adv_state = _pick(last, adv_optimizer.init(params), adv_state)
        else:
            adv_state = _pick(last, state.adv_state, adv_state)
        opt_state = _pick(last, opt_state, state.opt_state)
        return new_updates, SAMState(
            steps_since_sync=(state.steps_since_sync + 1) % sync_period,
            opt_state=opt_state,
            adv_state=adv_state,
            cache=cache,
        )

    def opaque_update(updates, state, params=None, *, grad_fn=None, **extra_args):
        del extra_args
        if grad_fn is None:
            raise ValueError("grad_fn must be provided when opaque_mode=True.")
        if params is None:
            raise ValueError("sam needs params: call update(updates, state, params)")
        adv_params, adv_updates, adv_state = params, updates, state.adv_state
        for i in range(sync_period - 1):
            adv_updates, adv_state = adv_optimizer.update(adv_updates, adv_state, adv_params)
            adv_updates = jax.tree.map(jnp.negative, adv_updates)
            adv_params = apply_updates(adv_params, adv_updates)
            adv_updates = grad_fn(adv_params, i)
            if batch_axis_name is not None:
                adv_updates = jax.lax.pmean(adv_updates, axis_name=batch_axis_name)
        if reset_state:
            adv_state = adv_optimizer.init(params)
        new_updates, opt_state = optimizer.update(adv_updates, state.opt_state, params)
        return new_updates, SAMState(
            steps_since_sync=zero_count(),
            opt_state=opt_state,
            adv_state=adv_state,
            cache=None,
        )

    update_fn = opaque_update if opaque_mode else transparent_update
    return GradientTransformationExtraArgs(init_fn, update_fn)


__all__ = ["SAMState", "sam"]
