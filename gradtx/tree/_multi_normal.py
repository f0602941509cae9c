"""optax's ``multi_normal``: a diagonal Gaussian parametrised by its mean and log scale
(used by perturbation-based gradient estimators), same methods and numbers."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import jax.scipy.stats


class MultiNormalDiagFromLogScale:
    r"""The diagonal Gaussian ``N(loc, diag(exp(log_scale))^2)`` over arrays of the
    broadcast shape of ``loc`` and ``log_scale``.

    ``sample(shape, key)``: ``loc + exp(log_scale) * N(0, 1)`` of shape ``shape +
    param_shape``; ``log_prob(x)``: the log density summed over the parameter axes,
    :math:`\sum_i -\frac{(x_i - \mu_i)^2}{2 \sigma_i^2} - \log \sigma_i - \frac12 \log
    2\pi`; ``params``: ``[loc, log_scale]``. Same as optax's class of this name.
    """

    def __init__(self, loc: jax.typing.ArrayLike, log_scale: jax.typing.ArrayLike) -> None:
        self._log_scale = jnp.asarray(log_scale)
        self._scale = jnp.exp(log_scale)
        self._mean = jnp.asarray(loc)
        self._param_shape = jax.lax.broadcast_shapes(self._mean.shape, self._scale.shape)

    def sample(self, shape: Sequence[int], key: jax.Array) -> jax.Array:
        sample_shape = tuple(shape) + self._param_shape
        return jax.random.normal(key, shape=sample_shape) * self._scale + self._mean

    def log_prob(self, x: jax.typing.ArrayLike) -> jax.Array:
        log_prob = jax.scipy.stats.norm.logpdf(x, loc=self._mean, scale=self._scale)
        return jnp.sum(log_prob, axis=[-(i + 1) for i in range(len(self._param_shape))])

    @property
    def log_scale(self) -> jax.Array:
        return self._log_scale

    @property
    def params(self) -> Sequence[jax.Array]:
        return [self._mean, self._log_scale]


def multi_normal(
    loc: jax.typing.ArrayLike, log_scale: jax.typing.ArrayLike
) -> MultiNormalDiagFromLogScale:
    """A diagonal Gaussian with mean ``loc`` and standard deviation ``exp(log_scale)``
    (arrays broadcast together). Same as ``optax.multi_normal``.

    Args:
        loc: the mean.
        log_scale: the log of the standard deviation.

    Returns:
        A :class:`MultiNormalDiagFromLogScale` (``sample``, ``log_prob``, ``params``).

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> d = gradtx.multi_normal(jnp.zeros(2), jnp.zeros(2))
        >>> round(float(d.log_prob(jnp.zeros(2))), 4)  # -log(2 pi)
        -1.8379
        >>> d.sample((3,), jax.random.PRNGKey(0)).shape
        (3, 2)
    """
    return MultiNormalDiagFromLogScale(loc=loc, log_scale=log_scale)


__all__ = ["MultiNormalDiagFromLogScale", "multi_normal"]
