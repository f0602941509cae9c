"""Batch size and learning rate: scaling rules, the gradient noise scale, and a
batch-size schedule.

* When the batch grows from ``B0`` to ``B``, scale the learning rate linearly
  (:func:`linear_scaling_rule`, Goyal et al. 2017) or by the square root
  (:func:`sqrt_scaling_rule`, Krizhevsky 2014; Hoffer et al. 2017).
* The *gradient noise scale* ``B_simple = tr(Sigma) / |G|^2`` (McCandlish et al. 2018)
  estimates the batch size beyond which a larger batch stops paying off
  (:func:`gradient_noise_scale`).
* SGD's noise scale ``g = lr (N/B - 1)`` (Smith & Le 2018) is what stays constant
  when lr and B are traded against each other (:func:`smith_le_noise_scale`); so
  growing ``B`` by a factor at milestones can replace decaying ``lr``
  (:class:`BatchSizeSchedule`, Smith et al. 2018).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx.tree._core import abs_sq, compute_dtype, sum_of_squares


def _positive_size(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a positive number, got {value!r}")
    _checks.positive(name, value)


def linear_scaling_rule(base_lr: float, batch_size: float, base_batch_size: float) -> float:
    r"""The linear scaling rule: ``lr = base_lr * batch_size / base_batch_size``.

    .. math::
        \eta = \eta_0 \, \frac{B}{B_0}

    "When the minibatch size is multiplied by k, multiply the learning rate by k"; it
    keeps SGD's noise scale ``lr N / B`` fixed and holds while ``B`` is below the
    gradient noise scale (use a warm-up for the first epochs at large ``B``). A host
    function of Python numbers (not jittable, no optax counterpart).

    Args:
        base_lr: ``eta_0``, the learning rate tuned at ``base_batch_size``, ``>= 0``.
        batch_size: ``B``, the new batch size (examples per step), a number ``> 0``.
        base_batch_size: ``B_0``, the batch size ``base_lr`` was tuned for, ``> 0``.

    Returns:
        The scaled learning rate, a Python ``float``.

    Raises:
        ValueError: ``base_lr < 0``, or a batch size ``<= 0`` (or NaN).
        TypeError: a batch size that is not a real number (a bool included).

    Reference: Goyal et al., *Accurate, Large Minibatch SGD: Training ImageNet in 1
    Hour*, 2017.

    Example:
        >>> import gradtx
        >>> gradtx.linear_scaling_rule(0.1, batch_size=1024, base_batch_size=256)
        0.4
    """
    _checks.non_negative("base_lr", base_lr)
    _positive_size("batch_size", batch_size)
    _positive_size("base_batch_size", base_batch_size)
    return float(base_lr) * float(batch_size) / float(base_batch_size)


def sqrt_scaling_rule(base_lr: float, batch_size: float, base_batch_size: float) -> float:
    r"""The square-root scaling rule: ``lr = base_lr * sqrt(batch_size / base_batch_size)``.

    .. math::
        \eta = \eta_0 \sqrt{B / B_0}

    Keeps the variance of the SGD step (``lr^2 / B``) fixed; often preferred for
    adaptive optimisers and very large batches. A host function of Python numbers.

    Args:
        base_lr: ``eta_0``, the learning rate tuned at ``base_batch_size``, ``>= 0``.
        batch_size: ``B``, the new batch size (examples per step), a number ``> 0``.
        base_batch_size: ``B_0``, the batch size ``base_lr`` was tuned for, ``> 0``.

    Returns:
        The scaled learning rate, a Python ``float``.

    Raises:
        ValueError: ``base_lr < 0``, or a batch size ``<= 0`` (or NaN).
        TypeError: a batch size that is not a real number (a bool included).

    References:
        Krizhevsky, *One weird trick for parallelizing convolutional neural networks*,
        2014; Hoffer, Hubara & Soudry, *Train longer, generalize better*, NeurIPS 2017.

    Example:
        >>> import gradtx
        >>> round(gradtx.sqrt_scaling_rule(0.1, batch_size=1024, base_batch_size=256), 6)
        0.2
    """
    _checks.non_negative("base_lr", base_lr)
    _positive_size("batch_size", batch_size)
    _positive_size("base_batch_size", base_batch_size)
    return float(base_lr) * math.sqrt(float(batch_size) / float(base_batch_size))


class NoiseScaleEstimate(NamedTuple):
    """The result of :func:`gradient_noise_scale` (float32/64 scalars)."""

    b_simple: jax.Array  # tr(Sigma) / |G|^2, the "simple" critical batch size
    grad_sq_norm: jax.Array  # unbiased estimate of |G|^2, the squared true-gradient norm
    trace_cov: jax.Array  # unbiased estimate of tr(Sigma), per-example gradient covariance


def _from_norms(sq_small, sq_big, b_small, b_big) -> NoiseScaleEstimate:
    # E|G_B|^2 = |G|^2 + tr(Sigma)/B; two batch sizes give two equations.
    g2 = (b_big * sq_big - b_small * sq_small) / (b_big - b_small)
    s = (sq_small - sq_big) / (1.0 / b_small - 1.0 / b_big)
    # |G|^2 = 0 (a zero or exactly balanced gradient): tr(Sigma) / 0 is +inf (noise at
    # any batch size) for tr(Sigma) > 0, and 0 rather than 0/0 = NaN when there is no
    # noise either. A negative estimate of |G|^2 is kept (see the docstring).
    zero = g2 == 0
    b_simple = jnp.where(
        zero, jnp.where(s > 0, jnp.inf, 0.0), s / jnp.where(zero, 1.0, g2)
    ).astype(g2.dtype)
    return NoiseScaleEstimate(b_simple=b_simple, grad_sq_norm=g2, trace_cov=s)


def gradient_noise_scale(
    per_example_grads: Any = None,
    *,
    sq_norm_small: Any = None,
    sq_norm_big: Any = None,
    batch_small: float | None = None,
    batch_big: float | None = None,
) -> NoiseScaleEstimate:
    r"""Estimates the gradient noise scale ``B_simple = tr(Sigma) / |G|^2``.

    ``G`` is the true (full-data) gradient and ``Sigma`` the covariance of the
    per-example gradients. The mean gradient of a batch of ``B`` examples satisfies
    ``E|G_B|^2 = |G|^2 + tr(Sigma)/B``; measured at two batch sizes this gives the
    unbiased estimates (McCandlish et al., appendix A)

    .. math::
        |\mathcal G|^2 = \frac{B_{big}|G_{B_{big}}|^2 - B_{small}|G_{B_{small}}|^2}
                              {B_{big} - B_{small}},\qquad
        \mathcal S = \frac{|G_{B_{small}}|^2 - |G_{B_{big}}|^2}{1/B_{small} - 1/B_{big}},
        \qquad B_{simple} = \mathcal S / |\mathcal G|^2 .

    Two ways to call it:

    * ``gradient_noise_scale(per_example_grads)``: a pytree whose leaves have a leading
      example axis of length ``n >= 2`` (e.g. from ``jax.vmap(jax.grad(loss))``). This
      is the two-batch-size estimator with ``B_small = 1`` (the mean of
      ``|g_i|^2``) and ``B_big = n`` (``|mean g_i|^2``), i.e. ``tr(Sigma)`` is the
      unbiased sample variance (divisor ``n - 1``) and ``|G|^2 = |g_bar|^2 -
      tr(Sigma)/n``.
    * ``gradient_noise_scale(sq_norm_small=..., sq_norm_big=..., batch_small=...,
      batch_big=...)``: squared norms of mean gradients measured at two batch sizes
      (the data-parallel recipe: per-device gradients give the small batch, the
      all-reduced one the big batch). Arrays of several measurements are allowed: the
      two unbiased estimates are averaged over them *before* the ratio is taken, as
      McCandlish et al. recommend (the ratio of unbiased estimates is itself biased).

    The estimate is noisy; ``b_simple`` can be negative or huge when ``|G|^2`` is small
    against its error. Where the estimate of ``|G|^2`` is exactly 0, ``b_simple`` is
    ``+inf`` if ``tr(Sigma) > 0`` and 0 if ``tr(Sigma) <= 0`` (never ``0/0 = NaN``).
    Jittable (the batch sizes are static numbers).

    Args:
        per_example_grads: a pytree of float arrays, each with the same leading example
            axis of length ``n >= 2`` (other axes: the parameter's shape). Default None:
            use the four keyword arguments instead.
        sq_norm_small: ``|G_{B_small}|^2``, the squared norm of a mean gradient over
            ``batch_small`` examples: a float scalar or an array of measurements.
        sq_norm_big: ``|G_{B_big}|^2``, the same over ``batch_big`` examples (scalar or
            array; its mean is used).
        batch_small: ``B_small``, a number ``> 0``.
        batch_big: ``B_big``, a number ``> batch_small``.

    Returns:
        A :class:`NoiseScaleEstimate` of real scalars (at least float32):
        ``b_simple`` (examples), ``grad_sq_norm`` (the estimate of ``|G|^2``) and
        ``trace_cov`` (the estimate of ``tr(Sigma)``).

    Raises:
        ValueError: both ways, or neither, are used (or only some of the four
            keywords); ``per_example_grads`` has no leaves, leaves without a common
            leading axis, or fewer than 2 examples; a batch size ``<= 0``;
            ``batch_big <= batch_small``.
        TypeError: a batch size that is not a real number.

    Reference: McCandlish, Kaplan, Amodei et al., *An Empirical Model of Large-Batch
    Training*, 2018.

    Example:
        Per-example gradients ``1, 3`` (mean 2, sample variance 2): ``|G|^2 = 4 - 2/2 = 3``
        and ``B_simple = 2/3``. In a model, ``per_ex = jax.vmap(jax.grad(loss),
        in_axes=(None, 0))(params, batch)``.

        >>> import gradtx, jax.numpy as jnp
        >>> est = gradtx.gradient_noise_scale({"w": jnp.array([[1.0], [3.0]])})
        >>> [round(float(x), 4) for x in (est.b_simple, est.grad_sq_norm, est.trace_cov)]
        [0.6667, 3.0, 2.0]
        >>> est = gradtx.gradient_noise_scale(sq_norm_small=5.0, sq_norm_big=3.0,
        ...                                   batch_small=1, batch_big=2)
        >>> round(float(est.b_simple), 4)
        4.0
    """
    norms_given = [x is not None for x in (sq_norm_small, sq_norm_big, batch_small, batch_big)]
    if per_example_grads is not None:
        if any(norms_given):
            raise ValueError(
                "pass either per_example_grads or (sq_norm_small, sq_norm_big, batch_small, "
                "batch_big), not both"
            )
        leaves = jax.tree.leaves(per_example_grads)
        if not leaves:
            raise ValueError("per_example_grads has no leaves")
        sizes = {np.shape(x)[0] if np.ndim(x) else None for x in leaves}
        if len(sizes) != 1 or None in sizes:
            raise ValueError(
                "every leaf of per_example_grads needs the same leading example axis, got "
                f"leading sizes {sorted(str(s) for s in sizes)}"
            )
        (n,) = sizes
        if n < 2:
            raise ValueError(f"per_example_grads needs at least 2 examples, got {n}")
        mean_sq = jnp.mean(
            sum(
                jnp.sum(abs_sq(x.astype(compute_dtype(x))).reshape(n, -1), axis=1)
                for x in map(jnp.asarray, leaves)
            )
        )
        sq_mean = sum_of_squares(jax.tree.map(lambda x: jnp.mean(jnp.asarray(x), axis=0), leaves))
        return _from_norms(mean_sq, sq_mean, 1.0, float(n))
    if not all(norms_given):
        raise ValueError(
            "gradient_noise_scale needs per_example_grads, or all four of sq_norm_small, "
            "sq_norm_big, batch_small, batch_big"
        )
    _positive_size("batch_small", batch_small)
    _positive_size("batch_big", batch_big)
    if not float(batch_big) > float(batch_small):  # also in float: the divisors differ
        raise ValueError(
            f"batch_big must be larger than batch_small, got batch_small={batch_small}, "
            f"batch_big={batch_big}"
        )
    small = jnp.asarray(sq_norm_small)
    big = jnp.asarray(sq_norm_big)
    dt = compute_dtype(small, big)
    # Both estimates are linear in the norms: averaging them is averaging the norms.
    return _from_norms(
        jnp.mean(small.astype(dt)), jnp.mean(big.astype(dt)), float(batch_small), float(batch_big)
    )


def smith_le_noise_scale(
    lr: float, dataset_size: int, batch_size: int, momentum: float = 0.0
) -> float:
    r"""SGD's noise scale ``g = lr / (1 - momentum) * (N / B - 1)``.

    The scale of the random fluctuations of SGD seen as a stochastic differential
    equation; ``g ~ lr N / B`` for ``B << N``. Runs with the same ``g`` (and the same
    number of epochs) reach similar test accuracy, which is why lr and B scale together
    and why growing ``B`` can replace decaying ``lr``. With ``B = N`` (full batch) the
    noise is 0. A host function of Python numbers.

    .. math::
        g = \frac{\eta}{1 - m}\left(\frac{N}{B} - 1\right)

    Args:
        lr: ``eta``, the learning rate, ``>= 0``.
        dataset_size: ``N``, the number of training examples, an ``int >= 1``.
        batch_size: ``B``, examples per step, an ``int`` in ``[1, N]``.
        momentum: ``m``, the heavy-ball momentum coefficient (default 0.0), in ``[0, 1)``.

    Returns:
        The noise scale ``g``, a Python ``float`` (units of the learning rate).

    Raises:
        ValueError: ``lr < 0``; ``dataset_size`` or ``batch_size`` not a positive
            integer; ``momentum`` outside ``[0, 1)``; ``batch_size > dataset_size``.

    References:
        Smith & Le, *A Bayesian Perspective on Generalization and Stochastic Gradient
        Descent*, ICLR 2018 (eq. 6, and its momentum form ``lr/(1-m)``).

    Example:
        >>> import gradtx
        >>> round(gradtx.smith_le_noise_scale(0.1, dataset_size=50_000, batch_size=100), 4)
        49.9
        >>> round(gradtx.smith_le_noise_scale(0.1, 1000, 100, momentum=0.9), 4)
        9.0
    """
    _checks.non_negative("lr", lr)
    _checks.positive_int("dataset_size", dataset_size)
    _checks.positive_int("batch_size", batch_size)
    _checks.decay_rate("momentum", momentum)
    if batch_size > dataset_size:
        raise ValueError(
            f"batch_size must be <= dataset_size, got batch_size={batch_size}, "
            f"dataset_size={dataset_size}"
        )
    return float(lr) / (1.0 - float(momentum)) * (dataset_size / batch_size - 1.0)


@dataclasses.dataclass(frozen=True)
class BatchSizeSchedule:
    r"""A batch size that grows by ``factor`` at each milestone, for a data loader.

    .. math::
        B(t) = \min\bigl(\mathrm{round}(B_0 \cdot \text{factor}^{\,m(t)}),\ B_{max}\bigr),
        \qquad m(t) = \#\{\text{milestones} \le t\}

    ``t`` is whatever unit the milestones are in (epochs or steps). Smith et al. replace
    each learning-rate decay by ``1/factor`` with a batch-size increase by ``factor``:
    the noise scale ``lr N / B`` falls the same way, with fewer, larger steps. When
    ``max_batch_size`` caps the batch (memory), :meth:`lr_multiplier` gives the
    learning-rate decay that makes up the difference (``B_uncapped / B`` larger is
    replaced by ``lr * B / B_uncapped``), as in the paper's hybrid schedule.
    The schedule lives on the host (Python ints), where batches are cut.

    Example::

        sched = gradtx.batch_size_schedule(128, milestones=[30, 60, 80], factor=5,
                                           max_batch_size=5120)
        for epoch in range(90):
            loader.batch_size = sched(epoch)          # 128, 640, 3200, then 5120 (cap)
            lr = base_lr * sched.lr_multiplier(epoch)  # 1, then 5120/16000 = 0.32

    Reference: Smith, Kindermans, Ying & Le, *Don't Decay the Learning Rate, Increase
    the Batch Size*, ICLR 2018.
    """

    init_batch_size: int
    milestones: tuple[int, ...]
    factor: float
    max_batch_size: int | None = None

    def __post_init__(self) -> None:
        _checks.positive_int("init_batch_size", self.init_batch_size)
        ms = self.milestones
        if not isinstance(ms, Sequence) or isinstance(ms, str):
            raise TypeError(f"milestones must be a sequence of integers, got {ms!r}")
        for m in ms:
            if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 0:
                raise ValueError(f"milestones must be integers >= 0, got {list(ms)!r}")
        if any(b <= a for a, b in zip(ms[:-1], ms[1:], strict=True)):
            raise ValueError(f"milestones must be strictly increasing, got {list(ms)!r}")
        object.__setattr__(self, "milestones", tuple(int(m) for m in ms))
        _checks.check_range("factor", self.factor, 1.0)
        if self.max_batch_size is not None:
            _checks.positive_int("max_batch_size", self.max_batch_size)
            if self.max_batch_size < self.init_batch_size:
                raise ValueError(
                    f"max_batch_size must be >= init_batch_size ({self.init_batch_size}), "
                    f"got {self.max_batch_size}"
                )

    def _uncapped(self, step: int) -> float:
        if isinstance(step, jax.core.Tracer):
            raise TypeError(
                "BatchSizeSchedule is evaluated on the host (batch sizes are shapes); "
                "call it with a Python int, not a traced value"
            )
        if isinstance(step, bool) or not (
            isinstance(step, int) or np.asarray(step).dtype.kind in "iu"
        ):  # a Python int of any size (np.asarray would make an object array of 2**70)
            raise TypeError(f"step must be an integer, got {step!r}")
        crossed = sum(1 for m in self.milestones if m <= int(step))
        try:
            return self.init_batch_size * float(self.factor) ** crossed
        except OverflowError:  # Python's float power raises instead of giving inf
            return math.inf

    def __call__(self, step: int) -> int:
        """The batch size at ``step`` (epoch or iteration, as the milestones)."""
        uncapped = self._uncapped(step)
        if self.max_batch_size is not None:
            uncapped = min(uncapped, self.max_batch_size)  # before round(): B0 f^m may be inf
        elif math.isinf(uncapped):
            raise OverflowError(
                f"the batch size at step {step} overflows ({self.init_batch_size} * "
                f"{self.factor}^{sum(1 for m in self.milestones if m <= int(step))}); "
                "set max_batch_size"
            )
        return int(max(1, round(uncapped)))

    def lr_multiplier(self, step: int) -> float:
        """``B(step) / B_uncapped(step)``: 1 until the cap, then the learning-rate decay
        that keeps the noise scale on the schedule."""
        return self(step) / self._uncapped(step)


def batch_size_schedule(
    init_batch_size: int,
    milestones: Sequence[int],
    factor: float,
    max_batch_size: int | None = None,
) -> BatchSizeSchedule:
    r"""Builds a :class:`BatchSizeSchedule`: the batch size grows by ``factor`` at each
    milestone.

    .. math::
        B(t) = \min\bigl(\mathrm{round}(B_0 \cdot \text{factor}^{\,m(t)}),\
        B_{max}\bigr), \qquad m(t) = \#\{\text{milestones} \le t\}

    The schedule is evaluated on the host with Python ints (batch sizes are shapes);
    ``sched.lr_multiplier(t)`` gives the learning-rate decay that replaces the growth
    the cap ``max_batch_size`` cuts off.

    Args:
        init_batch_size: ``B_0``, the batch size before the first milestone, an
            ``int >= 1``.
        milestones: a sequence of strictly increasing integers ``>= 0``, in the unit of
            ``t`` (epochs or steps).
        factor: the growth at each milestone, a number ``>= 1``.
        max_batch_size: ``B_max``, an ``int >= init_batch_size``, or None (default: no
            cap).

    Returns:
        A frozen :class:`BatchSizeSchedule`; calling it with an integer step gives an
        ``int`` batch size.

    Raises:
        TypeError: ``milestones`` is not a sequence; (when called) the step is not an
            integer or is a traced value.
        ValueError: ``init_batch_size`` or ``max_batch_size`` not a positive integer;
            a milestone negative or not an integer; milestones not strictly increasing;
            ``factor < 1``; ``max_batch_size < init_batch_size``.
        OverflowError: (when called) the uncapped batch size overflows and there is no
            ``max_batch_size``.

    Reference: Smith, Kindermans, Ying & Le, *Don't Decay the Learning Rate, Increase
    the Batch Size*, ICLR 2018.

    Example:
        >>> import gradtx
        >>> sched = gradtx.batch_size_schedule(256, milestones=[10, 20], factor=2)
        >>> [sched(e) for e in (0, 10, 25)]
        [256, 512, 1024]
        >>> capped = gradtx.batch_size_schedule(128, [30, 60], factor=5, max_batch_size=1000)
        >>> capped(60), capped.lr_multiplier(60)  # 3200 capped at 1000: lr * 1000/3200
        (1000, 0.3125)
    """
    if not isinstance(milestones, Sequence) or isinstance(milestones, str):
        raise TypeError(f"milestones must be a sequence of integers, got {milestones!r}")
    return BatchSizeSchedule(init_batch_size, tuple(milestones), factor, max_batch_size)


__all__ = [
    "BatchSizeSchedule",
    "NoiseScaleEstimate",
    "batch_size_schedule",
    "gradient_noise_scale",
    "linear_scaling_rule",
    "smith_le_noise_scale",
    "sqrt_scaling_rule",
]
