"""Rprop (resilient backpropagation)."""

from __future__ import annotations

from gradtx.base import GradientTransformation, chain
from gradtx.transforms import scale, scale_by_rprop


def rprop(
    learning_rate: float,
    eta_minus: float = 0.5,
    eta_plus: float = 1.2,
    min_step_size: float = 1e-6,
    max_step_size: float = 50.0,
    *,
    lagged: bool = True,
) -> GradientTransformation:
    r"""Rprop: :math:`p_t = p_{t-1} - u_t` with :math:`u_t` from
    :func:`gradtx.scale_by_rprop` (per-parameter step sizes grown by ``eta_plus`` while
    the gradient keeps its sign, shrunk by ``eta_minus`` when it flips, no step right
    after a flip).

    .. math::
        d_t = \begin{cases} 0 & g_t d_{t-1} < 0 \\ \eta_t\,\mathrm{sign}(g_t) & \text{else}
        \end{cases}

    ``lagged=True`` (default) gives optax 0.2.8's numbers, which apply each step one
    update late (the first update is 0; see :func:`gradtx.scale_by_rprop`);
    ``lagged=False`` is torch's ``Rprop`` (:math:`p_t = p_{t-1} - d_t`). Rprop is meant
    for full-batch gradients.

    Args:
        learning_rate: the initial step size (a float > 0; torch's default is 0.01).
        eta_minus: factor after a sign change (default 0.5).
        eta_plus: factor after a sign agreement (default 1.2).
        min_step_size, max_step_size: bounds of the step sizes (defaults 1e-6, 50).
        lagged: keyword-only; True is optax's output, False torch's.

    Returns:
        A :class:`gradtx.GradientTransformation`.

    Raises:
        ValueError: see :func:`gradtx.scale_by_rprop`.

    Reference: Riedmiller & Braun, ICNN 1993; Igel & Huesken, 2000.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> opt = gradtx.rprop(0.1, lagged=False)
        >>> params = jnp.array([1.0, -2.0])
        >>> state = opt.init(params)
        >>> for _ in range(3):
        ...     updates, state = opt.update(jax.grad(lambda x: jnp.sum(x**2))(params), state)
        ...     params = gradtx.apply_updates(params, updates)
        >>> [round(float(v), 3) for v in params]  # steps 0.1, 0.12, 0.144
        [0.636, -1.636]
    """
    return chain(
        scale_by_rprop(
            learning_rate, eta_minus, eta_plus, min_step_size, max_step_size, lagged=lagged
        ),
        scale(-1.0),
    )


__all__ = ["rprop"]
