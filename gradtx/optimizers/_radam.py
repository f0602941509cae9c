"""RAdam (rectified Adam)."""

from __future__ import annotations

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain
from gradtx.transforms import scale_by_learning_rate, scale_by_radam


def radam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    threshold: float = 5.0,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""RAdam: ``p_t = p_{t-1} - lr_t u_t`` with ``u_t`` from :func:`gradtx.scale_by_radam`:

    .. math::
        u_t = \begin{cases}
          r_t\, \hat m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon)
            & \rho_t \ge \text{threshold} \\
          \hat m_t & \text{otherwise}
        \end{cases}

    Until :math:`\rho_t` reaches the threshold (the first 5 steps with ``b2=0.999``)
    the step is SGD with bias-corrected momentum. Signature, defaults and numbers are
    optax's. torch's ``RAdam`` uses ``rho_t > 5`` (the same steps in practice) and
    L2 weight decay by default (``chain(add_decayed_weights(wd), radam(lr))``;
    torch's ``decoupled_weight_decay=True`` is
    ``chain(scale_by_radam(), add_decayed_weights(wd), scale_by_learning_rate(lr))``).

    Args:
        learning_rate: a float (>= 0) or a schedule of the step.
        b1, b2: decays of the first and second moments (defaults 0.9, 0.999).
        eps, eps_root: added outside / inside the root (defaults 1e-8, 0).
        threshold: tractability threshold on :math:`\rho_t` (default 5.0).
        nesterov: NAdam's first moment (keyword-only, default False).

    Returns:
        A :class:`gradtx.GradientTransformation`.

    Raises:
        ValueError: a negative ``learning_rate``/``eps``/``threshold`` or ``b1``/``b2``
            outside ``[0, 1)``.

    Reference: Liu et al., *On the Variance of the Adaptive Learning Rate and Beyond*,
    ICLR 2020.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> opt = gradtx.radam(0.1)
        >>> params = jnp.array([1.0, -2.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(jax.grad(lambda x: jnp.sum(x**2))(params), state)
        >>> gradtx.apply_updates(params, updates).round(3)  # first step: SGD, lr 0.1
        Array([ 0.8, -1.6], dtype=float32)
    """
    _checks.learning_rate("learning_rate", learning_rate)
    return chain(
        scale_by_radam(b1, b2, eps, eps_root, threshold, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )


__all__ = ["radam"]
