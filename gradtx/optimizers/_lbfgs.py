"""L-BFGS with a zoom line search, as ``optax.lbfgs``."""

from __future__ import annotations

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain, identity
from gradtx.transforms._linesearch import scale_by_lbfgs
from gradtx.transforms._scaling import scale, scale_by_learning_rate
from gradtx.transforms._zoom_linesearch import scale_by_zoom_linesearch

# the default line search (one shared instance, as optax's default argument)
_ZOOM = scale_by_zoom_linesearch(max_linesearch_steps=20, initial_guess_strategy="one")


def lbfgs(
    learning_rate: ScalarOrSchedule | None = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: GradientTransformation | None = _ZOOM,
) -> GradientTransformation:
    r"""L-BFGS: the limited-memory quasi-Newton direction, with a step size found by a
    line search.

    .. math::
        w_{k+1} = w_k - \eta_k\, P_k \nabla f(w_k)

    with ``P_k`` the L-BFGS inverse-Hessian approximation over the last ``memory_size``
    pairs of parameter and gradient differences (:func:`gradtx.scale_by_lbfgs`, the
    two-loop recursion) and ``eta_k`` chosen by ``linesearch`` (by default
    :func:`gradtx.scale_by_zoom_linesearch` with 20 trials and first trial 1, which
    satisfies the strong Wolfe conditions). The chain is ``scale_by_lbfgs ->
    scale(-1)`` (or ``scale_by_learning_rate(learning_rate)``) ``-> linesearch``, as
    optax's; numbers and state tree equal ``optax.lbfgs``.

    ``update(grads, state, params, *, value, grad, value_fn, **fn_kwargs)``: ``value``
    and ``grad`` are ``f`` and its gradient at ``params``, ``value_fn(params,
    **fn_kwargs)`` evaluates ``f``. For a deterministic objective,
    :func:`gradtx.value_and_grad_from_state` reuses the value and gradient the line
    search computed at the accepted point.

    Args:
        learning_rate: None (default: the step comes from the line search alone), or a
            float ``>= 0`` / schedule multiplying the direction before the search.
        memory_size: the number of stored pairs ``m`` (default 10), a positive integer.
        scale_init_precond: start each recursion from ``gamma_k I`` (default True; see
            :func:`gradtx.scale_by_lbfgs`) instead of ``I``.
        linesearch: the line search (default: the zoom search above), or None for none
            (then the update is ``-lr P_k g``).

    Returns:
        A :class:`gradtx.GradientTransformation` (a chain) whose ``update`` needs the
        params and, with a line search, ``value``, ``grad`` and ``value_fn``.

    Raises:
        ValueError: ``memory_size < 1``; a negative or non-finite ``learning_rate``.

    References: Nocedal & Wright, *Numerical Optimization*, Algorithms 7.4 and 7.5,
    1999; Liu & Nocedal, *On the limited memory BFGS method for large scale
    optimization*, Math. Programming 1989.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> f = lambda x: jnp.sum(x ** 2)
        >>> solver = gradtx.lbfgs()
        >>> params = jnp.array([1.0, 2.0, 3.0])
        >>> state = solver.init(params)
        >>> value_and_grad = gradtx.value_and_grad_from_state(f)
        >>> @jax.jit  # one compiled step
        ... def step(params, state):
        ...     value, grad = value_and_grad(params, state=state)
        ...     updates, state = solver.update(
        ...         grad, state, params, value=value, grad=grad, value_fn=f)
        ...     return gradtx.apply_updates(params, updates), state
        >>> for _ in range(2):
        ...     params, state = step(params, state)
        ...     print(f"{float(f(params)):.2E}")
        7.52E+00
        7.46E-14
    """
    if learning_rate is None:
        base_scaling = scale(-1.0)
    else:
        _checks.learning_rate("learning_rate", learning_rate)
        base_scaling = scale_by_learning_rate(learning_rate)
    return chain(
        scale_by_lbfgs(memory_size=memory_size, scale_init_precond=scale_init_precond),
        base_scaling,
        identity() if linesearch is None else linesearch,
    )


__all__ = ["lbfgs"]
