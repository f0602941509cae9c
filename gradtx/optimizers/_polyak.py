"""SGD with Polyak's step size."""

from __future__ import annotations

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain
from gradtx.optimizers._sgd import sgd
from gradtx.transforms import scale_by_polyak


def polyak_sgd(
    max_learning_rate: float = 1.0,
    scaling: ScalarOrSchedule = 1.0,
    f_min: float = 0.0,
    eps: float = 0.0,
    variant: str = "sps",
) -> GradientTransformation:
    r"""SGD with Polyak's step size (SPS_max).

    .. math::
        p_t = p_{t-1} - s_t\,\min\Big(\frac{f(p_{t-1}) - f^\star}{s_t^2\lVert g_t\rVert^2
        + \epsilon}, \gamma_{max}\Big)\, g_t

    with :math:`s_t` = ``scaling`` (a float or schedule): optax's chain
    ``sgd(scaling) -> scale_by_polyak``, which takes the Polyak step of the *scaled*
    gradient (hence :math:`s_t^2`; with the default ``scaling=1`` it is the paper's
    SPS_max). ``update`` needs the loss:
    ``opt.update(grads, state, params, value=loss)``.

    Args:
        max_learning_rate: :math:`\gamma_{max}` (default 1.0).
        scaling: a float (>= 0) or schedule multiplying the step (default 1.0).
        f_min: :math:`f^\star`, a lower bound of the loss (default 0).
        eps: added to the squared norm (default 0).
        variant: ``"sps"`` or ``"sps+"`` (the gap clipped at 0).

    Returns:
        A :class:`gradtx.GradientTransformation` whose ``update`` takes ``value``.

    Raises:
        ValueError: see :func:`gradtx.scale_by_polyak`; a negative ``scaling``.

    Reference: Loizou et al., *Stochastic Polyak Step-size for SGD: An Adaptive
    Learning Rate for Fast Convergence*, AISTATS 2021.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> f = lambda x: jnp.sum(x**2)
        >>> opt = gradtx.polyak_sgd(max_learning_rate=10.0)
        >>> params = jnp.array([1.0, -2.0])
        >>> state = opt.init(params)
        >>> value, grad = jax.value_and_grad(f)(params)
        >>> updates, state = opt.update(grad, state, params, value=value)
        >>> [round(float(v), 3) for v in gradtx.apply_updates(params, updates)]
        [0.5, -1.0]
    """
    _checks.learning_rate("scaling", scaling)
    return chain(
        sgd(learning_rate=scaling),
        scale_by_polyak(
            f_min=f_min, max_learning_rate=max_learning_rate, eps=eps, variant=variant
        ),  # fmt: skip
    )


__all__ = ["polyak_sgd"]
