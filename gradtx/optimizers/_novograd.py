"""NovoGrad."""

from __future__ import annotations

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain
from gradtx.transforms import scale_by_learning_rate, scale_by_novograd


def novograd(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.25,
    eps: float = 1e-6,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
) -> GradientTransformation:
    r"""NovoGrad: layer-wise second moments, momentum on the normalised gradient.

    .. math::
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\lVert g_t\rVert^2,\quad
        m_t = \beta_1 m_{t-1} + \frac{g_t}{\sqrt{v_t + \epsilon_{root}} + \epsilon}
        + \lambda p_{t-1},\quad p_t = p_{t-1} - \alpha_t m_t

    per leaf, with :math:`v_1 = \lVert g_1\rVert^2` (see
    :func:`gradtx.scale_by_novograd`). Signature, defaults and numbers are optax's
    (``weight_decay`` is a number: optax's type hint allows a schedule its code cannot
    use).

    Args:
        learning_rate: a float (>= 0) or a schedule of the step.
        b1: the momentum's decay (default 0.9).
        b2: decay of the per-leaf second moment (default 0.25).
        eps, eps_root: added outside / inside the root (defaults 1e-6, 0).
        weight_decay: :math:`\lambda`, added inside the momentum (default 0; when it is
            not 0, ``update`` needs the params).

    Returns:
        A :class:`gradtx.GradientTransformation`.

    Raises:
        ValueError: a negative ``learning_rate``/epsilon/``weight_decay`` or a decay
            outside ``[0, 1)``.

    Reference: Ginsburg et al., *Stochastic Gradient Methods with Layer-wise Adaptive
    Moments for Training of Deep Networks*, 2019.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.novograd(0.1)
        >>> u, _ = opt.update(jnp.array([3.0, 4.0]), opt.init(jnp.zeros(2)))
        >>> [round(float(v), 3) for v in u]  # -lr g / ||g||
        [-0.06, -0.08]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(
        scale_by_novograd(b1, b2, eps, eps_root, weight_decay),
        scale_by_learning_rate(learning_rate),
    )


__all__ = ["novograd"]
