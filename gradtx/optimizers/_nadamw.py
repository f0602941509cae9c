"""NAdamW: AdamW with Nesterov's momentum (Dozat's NAdam first moment)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradtx.base import GradientTransformation, ScalarOrSchedule
from gradtx.optimizers._adam import adamw


def nadamw(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Any | Callable[[Any], Any] | None = None,
    *,
    nesterov: bool = True,
) -> GradientTransformation:
    r"""NAdamW: :func:`gradtx.adamw` with NAdam's first-moment estimate.

    .. math::
        \hat m_t = \frac{\beta_1 m_t}{1-\beta_1^{t+1}} + \frac{(1-\beta_1) g_t}{1-\beta_1^t},
        \quad
        p_t = p_{t-1} - \alpha_t\Big(\frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{root}}
        + \epsilon} + \lambda p_{t-1}\Big)

    Same signature, defaults and numbers as optax's ``nadamw`` (``adamw`` with
    ``nesterov=True``). torch's ``NAdam(decoupled_weight_decay=True)`` differs: it
    adds a momentum-decay schedule :math:`\mu_t = \beta_1(1 - 0.5\cdot 0.96^{t\psi})`,
    ``psi=0.004``, which gradtx does not implement (see ``docs/conventions.md``).

    Args:
        learning_rate: a float (>= 0) or a schedule of the step.
        b1, b2: decays of the first and second moments (defaults 0.9, 0.999).
        eps, eps_root: added outside / inside the root (defaults 1e-8, 0).
        mu_dtype: storage dtype of the first moment.
        weight_decay: decoupled weight decay (default 1e-4, multiplied by the lr).
        mask: a tree of booleans (or a function of the params): where decay applies.
        nesterov: keyword-only, default True (False is :func:`gradtx.adamw`).

    Returns:
        A :class:`gradtx.GradientTransformation`; ``update`` needs the params.

    Raises:
        ValueError: a negative ``learning_rate``, ``eps`` or ``weight_decay``, or
            ``b1``/``b2`` outside ``[0, 1)``.

    References: Dozat, *Incorporating Nesterov Momentum into Adam*, ICLR workshop 2016;
    Loshchilov & Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> opt = gradtx.nadamw(0.1, weight_decay=0.0)
        >>> params = jnp.array([1.0, -2.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(jax.grad(lambda x: jnp.sum(x**2))(params), state, params)
        >>> [round(float(v), 3) for v in gradtx.apply_updates(params, updates)]
        [0.853, -1.853]
    """
    return adamw(
        learning_rate, b1, b2, eps, eps_root, mu_dtype, weight_decay, mask, nesterov=nesterov
    )


__all__ = ["nadamw"]
