"""The learning-rate range test ("LR finder", Smith 2017).

Train for a short while with a learning rate that grows from tiny to huge, watch the
loss, and read a good base learning rate off the curve: where the loss falls fastest,
or an order of magnitude below the minimum, before it blows up.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx.base import GradientTransformation, Params, apply_updates
from gradtx.schedules._inject import InjectHyperparamsState, base_lr_context
from gradtx.schedules._set_hyperparams import set_hyperparams


class LRRangeTestResult(NamedTuple):
    """What :func:`lr_range_test` measured (NumPy arrays, one entry per step taken).

    ``losses[i]`` is the loss, on the next batch, of the params reached by the step
    taken with ``lrs[i]``; ``smoothed_losses`` its bias-corrected exponential average.
    ``suggested_lr``: the lr of the steepest descent of the smoothed loss against
    ``log(lr)``; ``lr_min_div10``: the lr of the smoothed minimum divided by 10 (both
    skip the first ``num_steps // 10`` points; NaN when the curve gives no answer:
    fewer than 3 points left, or no descent).
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    suggested_lr: float
    lr_min_div10: float
    stopped_early: bool

    def plot(self, ax: Any = None) -> Any:
        """Plots the smoothed (and raw) loss against the lr on a log axis and marks the
        two suggestions; returns the matplotlib ``Axes`` (matplotlib imported here)."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6, 4))
        ax.plot(self.lrs, self.losses, color="0.75", lw=1, label="loss")
        ax.plot(self.lrs, self.smoothed_losses, color="C0", lw=2, label="smoothed loss")
        if np.all(self.lrs > 0):
            ax.set_xscale("log")
        for lr, color, name in (
            (self.suggested_lr, "C3", "steepest"),
            (self.lr_min_div10, "C2", "min / 10"),
        ):
            if np.isfinite(lr):
                ax.axvline(lr, color=color, ls="--", label=f"{name}: {lr:.3g}")
        finite = self.smoothed_losses[np.isfinite(self.smoothed_losses)]
        if finite.size:
            lo, hi = float(finite.min()), float(finite[0])
            ax.set_ylim(lo - 0.1 * (hi - lo + 1e-12), max(hi, lo) + 0.3 * (hi - lo + 1e-12))
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.set_title("LR range test")
        ax.legend()
        return ax


def _lr_grid(min_lr: float, max_lr: float, num_steps: int, mode: str) -> np.ndarray:
    i = np.arange(num_steps) / (num_steps - 1)
    if mode == "exp":
        return min_lr * (max_lr / min_lr) ** i
    return min_lr + (max_lr - min_lr) * i


def _batch_stream(batches: Iterable[Any]) -> Iterator[Any]:
    """Yields batches forever: a re-iterable (list, data loader) is iterated again when
    it runs out; a one-shot iterator is cycled over the batches it gave."""
    if not isinstance(batches, Iterator):
        while True:
            empty = True
            for b in batches:
                empty = False
                yield b
            if empty:
                raise ValueError("batches is empty")
    else:
        seen = []
        for b in batches:
            seen.append(b)
            yield b
        if not seen:
            raise ValueError("batches is empty")
        yield from itertools.cycle(seen)


def _diverged(smoothed: float, best: float, threshold: float) -> bool:
    """``smoothed > threshold * best`` for a positive ``best``, in a form that also works
    for a negative or zero loss: the rise above the best exceeds ``(threshold - 1) *
    |best|``. (``smoothed > 4 * best`` with ``best = -1`` stops a flat run at once.)"""
    return smoothed - best > (threshold - 1.0) * abs(best)


def _suggestions(lrs: np.ndarray, smoothed: np.ndarray, skip: int) -> tuple[float, float]:
    keep = np.arange(len(lrs)) >= skip  # the first averages rest on a few noisy losses
    ok = keep & np.isfinite(smoothed) & (lrs > 0)  # lr 0 (linear mode) has no log
    if ok.sum() < 3:
        return math.nan, math.nan
    lrs, smoothed = lrs[ok], smoothed[ok]
    i_min = int(np.argmin(smoothed))
    lr_min_div10 = float(lrs[i_min] / 10.0) if i_min > 0 else math.nan
    if i_min < 2:
        return math.nan, lr_min_div10
    # Steepest descent before the minimum (past it, the noise of a diverging run
    # could masquerade as a steep fall).
    slope = np.gradient(smoothed[: i_min + 1], np.log(lrs[: i_min + 1]))
    return float(lrs[int(np.argmin(slope))]), lr_min_div10


def _holds_injected_lr(state: Any) -> bool:
    """True when ``state`` holds an injected *number* ``learning_rate``."""
    is_state = lambda x: isinstance(x, InjectHyperparamsState)  # noqa: E731
    return any(
        is_state(x)
        and "learning_rate" in x.hyperparams
        and not callable(x.hyperparams["learning_rate"])
        for x in jax.tree.leaves(state, is_leaf=is_state)
    )


def _progress_bar(progress: bool | None, total: int) -> Any:
    """A tqdm bar on stderr, or ``None`` (see ``lr_range_test``'s ``progress``)."""
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None, got {progress!r}")
    if progress is False or (progress is None and not sys.stderr.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        if progress:
            raise ImportError("progress=True needs tqdm (pip install tqdm)") from None
        return None
    return tqdm(total=total, desc="LR range test", unit="step", leave=False)


def lr_range_test(
    loss_fn: Callable[[Params, Any], jax.Array],
    params: Params,
    optimizer: Callable[[jax.Array], GradientTransformation],
    batches: Iterable[Any],
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    num_steps: int = 100,
    mode: str = "exp",
    smoothing: float = 0.05,
    diverge_threshold: float = 4.0,
    plot: bool = False,
    *,
    base_lr: float | None = None,
    progress: bool | None = None,
) -> LRRangeTestResult:
    r"""Runs the learning-rate range test and suggests a learning rate.

    Step ``i = 0..num_steps-1`` trains with

    .. math::
        \eta_i = \eta_{min} (\eta_{max}/\eta_{min})^{i/(n-1)} \ \ (\text{mode="exp"}),
        \qquad \eta_i = \eta_{min} + (\eta_{max}-\eta_{min})\, i/(n-1)\ \ (\text{"linear"})

    and records ``L_i``, the loss (on the next batch) of the params after that step, its
    bias-corrected exponential average (``beta = 1 - smoothing``)

    .. math::
        a_i = \beta a_{i-1} + (1-\beta) L_i,\qquad \bar L_i = a_i / (1 - \beta^{i+1}),

    and stops early once the smoothed loss rises above its minimum so far by more than
    ``(diverge_threshold - 1) * |minimum|`` (``smoothed > diverge_threshold * minimum``
    for a positive loss, fastai's and torch-lr-finder's rule, which would stop a run with
    negative losses at once) or the loss is not finite (this point is kept in the
    result). Suggestions: the lr where
    ``d smoothed / d log(lr)`` is most negative, looking only up to the smoothed
    minimum (``suggested_lr``); and the lr at the smoothed minimum over 10
    (``lr_min_div10``). Both ignore the first ``num_steps // 10`` points, whose
    averages rest on a few noisy losses (torch-lr-finder's ``skip_start=10`` of 100);
    adding a constant to every loss does not change them. The steepest-descent rule is
    conservative: on a quadratic it lands near ``0.2/h``, 5x below the optimal ``1/h`` (see
    ``docs/training_tools.md``); on noisy losses it is itself noisy, so look at the plot.

    ``optimizer`` is a function ``lr -> GradientTransformation``; it is called *inside*
    one jitted training step with ``lr`` a traced scalar, so the whole sweep compiles
    once (the optimiser's state carries over from step to step, as when torch's
    ``param_group["lr"]`` is changed). ``loss_fn(params, batch)`` returns a scalar;
    ``batches`` is any iterable of batches of one shape (a list or a data loader is
    iterated again when it runs out; a one-shot iterator is cycled over what it
    yielded). ``num_steps + 1`` batches are drawn. An :func:`gradtx.inject_hyperparams`
    optimiser with a number ``learning_rate`` reads it from its state, so the test writes
    each swept lr there (:func:`gradtx.set_hyperparams`). The user's ``params`` are never
    changed: the test trains a copy (also safe with donated or NumPy buffers).

    Differences: fastai and torch-lr-finder pair ``lr_i`` with the loss measured *before*
    the step that used it, one step earlier than here; here a rise in ``losses[i]`` is
    caused by ``lrs[i]`` (and the lrs before it). ``smoothing`` is torch-lr-finder's
    ``smooth_f`` (fastai's ``beta = 0.98`` is ``smoothing=0.02``).

    Args:
        loss_fn: ``loss_fn(params, batch) -> loss``, a real scalar; traced once under
            ``jax.jit`` together with the optimiser step.
        params: the initial parameters, a pytree of float arrays (not modified: the test
            trains a copy).
        optimizer: a function ``lr -> GradientTransformation`` (gradtx or optax), called
            inside the jitted step with ``lr`` a traced float32 scalar, e.g.
            ``lambda lr: gradtx.sgd(lr, 0.9)`` or ``gradtx.adam``.
        batches: an iterable of batches of one shape; ``num_steps + 1`` are drawn
            (re-iterated or cycled as above).
        min_lr: the first lr (default 1e-7), ``> 0`` (``>= 0`` in linear mode).
        max_lr: the last lr (default 10.0), ``> min_lr``.
        num_steps: the number of training steps (lrs), an ``int >= 2`` (default 100).
        mode: ``"exp"`` (default, evenly spaced in ``log lr``) or ``"linear"``.
        smoothing: ``1 - beta``, the weight of a new loss in the average, in ``(0, 1]``
            (default 0.05; 1 = none).
        diverge_threshold: stop when the smoothed loss exceeds this multiple of its
            minimum so far, ``> 1`` (default 4.0); ``math.inf`` never stops (except on
            NaN/Inf).
        plot: also draw :meth:`LRRangeTestResult.plot` (default False; needs
            matplotlib).
        base_lr: keyword-only; the lr an AdaBound-style optimiser (:func:`gradtx.adabound`,
            :func:`gradtx.amsbound`, :func:`gradtx.bound_lr`) is told it was built with, so
            its bounds ``final_lr * lr_i / base_lr`` follow the swept lr as in torch, where
            the optimiser is built at the start lr and the finder changes
            ``param_group["lr"]``. Default: the first positive lr of the sweep. An
            explicit ``base_lr`` in the optimiser wins.
        progress: keyword-only; a tqdm progress bar on stderr showing the lr and the
            smoothed loss. ``None`` (default): shown when stderr is a terminal and tqdm is
            installed, so scripts and logs stay quiet; ``True``: always (raises
            ``ImportError`` without tqdm; in a notebook pass ``True``); ``False``: never.

    Returns:
        An :class:`LRRangeTestResult` of NumPy float64 arrays with one entry per step
        taken (``lrs``, ``losses``, ``smoothed_losses``), the two suggestions as Python
        floats (``suggested_lr``, ``lr_min_div10``; NaN when the curve gives no answer)
        and ``stopped_early`` (a bool).

    Raises:
        TypeError: ``loss_fn`` not callable; ``optimizer`` not a function (or a
            transformation passed instead of a factory); ``batches`` not an iterable
            (or a string).
        ValueError: ``mode`` not ``"exp"``/``"linear"``; ``min_lr``, ``max_lr``,
            ``num_steps``, ``smoothing``, ``diverge_threshold`` or ``base_lr`` out of
            range; ``min_lr`` and ``max_lr`` too close for ``num_steps`` distinct lrs;
            ``batches`` is empty.
        ImportError: ``progress=True`` without tqdm installed.

    References:
        Smith, *Cyclical Learning Rates for Training Neural Networks*, WACV 2017
        (section 3.3); Howard & Gugger, fastai's ``lr_find`` (2018); torch-lr-finder's
        ``LRFinder.range_test``.

    Example:
        On ``L(w) = |w - y|^2 / 2`` (curvature ``h = 1``, SGD diverges above lr 2):

        >>> import gradtx, jax.numpy as jnp
        >>> def loss_fn(w, y):
        ...     return 0.5 * jnp.sum((w - y) ** 2)
        >>> result = gradtx.lr_range_test(loss_fn, jnp.zeros(2), gradtx.sgd,
        ...                               [jnp.array([3.0, -1.0])], min_lr=1e-3,
        ...                               max_lr=10.0, num_steps=20, smoothing=0.5)
        >>> len(result.lrs), result.stopped_early
        (20, False)
        >>> round(result.suggested_lr, 4), round(result.lr_min_div10, 4)
        (0.2069, 0.3793)

        With a model: ``gradtx.lr_range_test(loss_fn, params, lambda lr: gradtx.sgd(lr,
        0.9), batches)``, then ``result.plot()`` and ``gradtx.sgd(result.suggested_lr,
        0.9)``.
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable (params, batch) -> loss, got {loss_fn!r}")
    if not callable(optimizer) or hasattr(optimizer, "update"):
        raise TypeError(
            "optimizer must be a function lr -> GradientTransformation (for example "
            f"lambda lr: gradtx.sgd(lr, momentum=0.9)), got {optimizer!r}"
        )
    if mode not in ("exp", "linear"):
        raise ValueError(f"mode must be 'exp' or 'linear', got {mode!r}")
    if mode == "exp":
        _checks.positive("min_lr", min_lr)
    else:
        _checks.non_negative("min_lr", min_lr)
    _checks.check_range("max_lr", max_lr, float(min_lr), low_open=True)
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)):
        raise ValueError(f"num_steps must be an integer >= 2, got {num_steps!r}")
    if num_steps < 2:
        raise ValueError(f"num_steps must be an integer >= 2, got {num_steps!r}")
    _checks.check_range("smoothing", smoothing, 0.0, 1.0, low_open=True)
    if 1.0 - float(smoothing) == 1.0:  # the bias correction 1 - beta**(i+1) would be 0
        raise ValueError(f"smoothing must be at least 1e-15, got {smoothing!r}")
    _checks.check_range("diverge_threshold", diverge_threshold, 1.0, low_open=True)
    if isinstance(batches, (str, bytes)) or not isinstance(batches, Iterable):
        raise TypeError(f"batches must be an iterable of batches, got {type(batches).__name__}")

    lrs = _lr_grid(float(min_lr), float(max_lr), int(num_steps), mode)
    if not np.all(np.diff(lrs) > 0):  # the slope d loss / d log(lr) divides by the steps
        raise ValueError(
            f"min_lr={min_lr!r} and max_lr={max_lr!r} are too close for {num_steps} distinct "
            "learning rates"
        )
    if base_lr is None:
        base_lr = float(lrs[lrs > 0][0])
    else:
        _checks.positive("base_lr", base_lr)
        base_lr = float(base_lr)
    work = jax.tree.map(lambda p: jnp.array(p, copy=True), params)
    with base_lr_context(base_lr):
        opt_state = optimizer(float(lrs[0])).init(work)

    # An inject_hyperparams optimiser reads its lr from the state, not from the factory:
    # the swept lr goes into the state, or the test would run at lrs[0] throughout.
    injected_lr = _holds_injected_lr(opt_state)

    @jax.jit
    def step(params, opt_state, batch, lr):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        if injected_lr:
            opt_state = set_hyperparams(opt_state, learning_rate=lr)
        with base_lr_context(base_lr):  # inject_hyperparams builds inside update too
            updates, opt_state = optimizer(lr).update(grads, opt_state, params)
        return apply_updates(params, updates), opt_state, loss

    stream = _batch_stream(batches)
    # Each call returns the loss of the params it was given, then steps with `lr`: the
    # loss of the params reached with lrs[i] comes back from the call that applies
    # lrs[i + 1] (lr 0 after the last one, a step that is thrown away).
    work, opt_state, _ = step(work, opt_state, next(stream), jnp.float32(lrs[0]))
    beta = 1.0 - float(smoothing)
    avg, best = 0.0, math.inf
    losses: list[float] = []
    smoothed: list[float] = []
    stopped = False
    bar = _progress_bar(progress, int(num_steps))
    for i in range(num_steps):
        next_lr = lrs[i + 1] if i + 1 < num_steps else 0.0
        work, opt_state, loss = step(work, opt_state, next(stream), jnp.float32(next_lr))
        loss = float(loss)
        avg = beta * avg + (1.0 - beta) * loss
        s = avg / (1.0 - beta ** (i + 1))
        losses.append(loss)
        smoothed.append(s)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(lr=f"{lrs[i]:.3g}", loss=f"{s:.4g}", refresh=False)
        if not math.isfinite(s) or _diverged(s, best, diverge_threshold):
            stopped = i + 1 < num_steps
            break
        best = min(best, s)

    if bar is not None:
        bar.close()
    result_lrs = lrs[: len(losses)].copy()
    smoothed_arr = np.asarray(smoothed, np.float64)
    suggested, min_div10 = _suggestions(result_lrs, smoothed_arr, int(num_steps) // 10)
    result = LRRangeTestResult(
        lrs=result_lrs,
        losses=np.asarray(losses, np.float64),
        smoothed_losses=smoothed_arr,
        suggested_lr=suggested,
        lr_min_div10=min_div10,
        stopped_early=bool(stopped),
    )
    if plot:
        result.plot()
    return result


__all__ = ["LRRangeTestResult", "lr_range_test"]
