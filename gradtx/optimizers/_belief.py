"""AdaBelief."""

from __future__ import annotations

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain
from gradtx.transforms import scale_by_belief, scale_by_learning_rate


def adabelief(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""AdaBelief: Adam with the second moment of the prediction error.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
        s_t = \beta_2 s_{t-1} + (1-\beta_2)(g_t - m_t)^2 + \bar\epsilon,\quad
        p_t = p_{t-1} - \alpha_t \frac{m_t/(1-\beta_1^t)}{\sqrt{s_t/(1-\beta_2^t)} + \epsilon}

    See :func:`gradtx.scale_by_belief`. Signature, defaults and numbers are optax's
    (the paper's experiments use ``eps=1e-8``, ``eps_root=0``).

    Args:
        learning_rate: a float (>= 0) or a schedule of the step.
        b1, b2: decays of the two moments (defaults 0.9, 0.999).
        eps: added to the root (default 1e-16).
        eps_root: added to :math:`s_t` each step (default 1e-16).
        nesterov: NAdam's first moment (keyword-only, default False).

    Returns:
        A :class:`gradtx.GradientTransformation`.

    Raises:
        ValueError: a negative ``learning_rate`` or epsilon, or ``b1``/``b2`` outside
            ``[0, 1)``.

    Reference: Zhuang et al., *AdaBelief Optimizer: Adapting Stepsizes by the Belief in
    Observed Gradients*, NeurIPS 2020.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> opt = gradtx.adabelief(0.1)
        >>> params = jnp.array([1.0, -2.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(jax.grad(lambda x: jnp.sum(x**2))(params), state)
        >>> [round(float(v), 3) for v in gradtx.apply_updates(params, updates)]
        [0.889, -1.889]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(
        scale_by_belief(b1, b2, eps, eps_root, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )


__all__ = ["adabelief"]
