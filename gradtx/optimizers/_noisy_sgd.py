"""SGD with annealed Gaussian gradient noise."""

from __future__ import annotations

import jax

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain
from gradtx.transforms import add_noise, scale_by_learning_rate


def noisy_sgd(
    learning_rate: ScalarOrSchedule,
    eta: float = 0.01,
    gamma: float = 0.55,
    key: jax.Array | int | None = None,
    *,
    seed: int | None = None,
) -> GradientTransformation:
    r"""Noisy SGD: SGD on the gradient plus annealed Gaussian noise.

    .. math::
        p_t = p_{t-1} - \alpha_t\,(g_t + \xi_t),\qquad
        \xi_t \sim \mathcal N\big(0, \tfrac{\eta}{t^\gamma}\big),\ t = 1, 2, \dots

    The chain ``add_noise(eta, gamma, key) -> scale_by_learning_rate``; with the same
    ``key`` the noise equals optax's ``noisy_sgd``'s. Signature and defaults are
    optax's: ``key`` is an int or a PRNG key; ``seed`` is optax's deprecated spelling
    of it; neither given means key 0 (optax warns and does the same).

    Args:
        learning_rate: a float (>= 0) or a schedule of the step.
        eta: the noise's base variance (default 0.01, >= 0; the paper tries 0.01,
            0.3, 1.0).
        gamma: the variance's decay exponent (default 0.55, >= 0).
        key: an int seed or a PRNG key (default None: 0).
        seed: keyword-only, deprecated alias of ``key``.

    Returns:
        A :class:`gradtx.GradientTransformation`.

    Raises:
        ValueError: a negative ``learning_rate``/``eta``/``gamma``, or both ``key`` and
            ``seed`` given.
        TypeError: a ``key`` that is neither an int nor a PRNG key.

    Reference: Neelakantan et al., *Adding Gradient Noise Improves Learning for Very
    Deep Networks*, 2015.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.noisy_sgd(0.1, eta=0.0)  # no noise: plain SGD
        >>> u, _ = opt.update(jnp.array([1.0, -2.0]), opt.init(jnp.zeros(2)))
        >>> [round(float(v), 3) for v in u]
        [-0.1, 0.2]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    if seed is not None:
        if key is not None:
            raise ValueError(f"give key or seed, not both: got key={key!r} and seed={seed!r}")
        key = seed
    return chain(
        add_noise(eta, gamma, 0 if key is None else key), scale_by_learning_rate(learning_rate)
    )


__all__ = ["noisy_sgd"]
