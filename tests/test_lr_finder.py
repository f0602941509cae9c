"""The LR range test on f(x) = h x^2 / 2, whose good lr range is known: SGD contracts
x by (1 - lr h) per step, so the loss falls for lr < 2/h and grows for lr > 2/h."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

import gradtx

# Matplotlib draws with Agg (MPLBACKEND is set in conftest.py).

H = 4.0  # curvature: divergence for lr > 2/H = 0.5
X0 = 1.0


def quadratic(params, batch):
    del batch
    return 0.5 * H * params["x"] ** 2


def _closed_form_losses(lrs):
    """L_i: the loss after the steps with lrs[0..i] (x_{i+1} = (1 - lr_i h) x_i)."""
    return 0.5 * H * (X0 * np.cumprod(1.0 - lrs * H)) ** 2


def _smoothed(losses, smoothing):
    beta, avg, out = 1.0 - smoothing, 0.0, []
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** (i + 1)))
    return np.array(out)


def test_exponential_sweep_on_the_quadratic():
    traces = []

    def optimizer(lr):
        traces.append(lr)
        return gradtx.sgd(lr)

    x_np = np.array(X0, np.float32)
    params = {"x": x_np, "y": jnp.ones(2)}
    before = {"x": x_np.copy(), "y": np.ones(2)}
    result = gradtx.lr_range_test(
        lambda p, b: quadratic(p, b) + 0.0 * jnp.sum(p["y"]), params, optimizer, [None]
    )
    n = len(result.lrs)
    np.testing.assert_allclose(result.lrs, np.geomspace(1e-7, 10.0, 100)[:n], rtol=1e-12)
    np.testing.assert_allclose(result.losses, _closed_form_losses(result.lrs), rtol=1e-4)
    np.testing.assert_allclose(result.smoothed_losses, _smoothed(result.losses, 0.05), rtol=1e-9)
    # Divergence starts exactly past 2/h: the loss never rises before it ...
    rises = np.flatnonzero(np.diff(result.losses) > 0) + 1
    assert rises.size and result.lrs[rises[0]] > 2 / H
    assert np.all(np.diff(result.losses[result.lrs <= 2 / H]) <= 0)
    # ... and the sweep stops there (smoothed > 4 x best), well before max_lr.
    assert result.stopped_early and 2 / H < result.lrs[-1] < 10.0
    assert result.smoothed_losses[-1] > 4 * result.smoothed_losses[:-1].min()
    # Both suggestions lie in the stable range (0, 2/h).
    assert 0 < result.suggested_lr < 2 / H
    assert 0 < result.lr_min_div10 < 2 / H
    # Steepest descent of the smoothed loss against log(lr), up to its minimum, after
    # skipping the first num_steps // 10 = 10 points.
    lrs, sm = result.lrs[10:], result.smoothed_losses[10:]
    i_min = int(np.argmin(sm))
    slope = np.gradient(sm[: i_min + 1], np.log(lrs[: i_min + 1]))
    assert result.suggested_lr == lrs[np.argmin(slope)]
    assert result.lr_min_div10 == pytest.approx(lrs[i_min] / 10)
    # One compile for the whole sweep: the factory ran at init and in one trace.
    assert len(traces) == 2
    # The user's params are untouched (the test trained a copy).
    assert params["x"] is x_np
    np.testing.assert_array_equal(x_np, before["x"])
    np.testing.assert_array_equal(np.asarray(params["y"]), before["y"])


def test_linear_sweep_momentum_and_plot():
    result = gradtx.lr_range_test(
        quadratic, {"x": jnp.float32(X0)}, lambda lr: gradtx.sgd(lr), [None, None, None],
        min_lr=0.0, max_lr=1.0, num_steps=40, mode="linear", smoothing=1.0,  # lr != 1/h
        diverge_threshold=math.inf,
    )
    np.testing.assert_allclose(result.lrs, np.linspace(0.0, 1.0, 40), rtol=1e-12)
    np.testing.assert_allclose(result.losses, _closed_form_losses(result.lrs), rtol=1e-4)
    np.testing.assert_allclose(result.smoothed_losses, result.losses)  # smoothing=1: none
    assert not result.stopped_early  # threshold inf: the whole sweep runs
    rises = np.flatnonzero(np.diff(result.losses) > 0) + 1
    assert result.lrs[rises[0]] > 2 / H and result.lrs[rises[0] - 1] <= 2 / H
    assert 0 < result.suggested_lr < 2 / H
    ax = result.plot()
    assert ax.get_xlabel() == "learning rate" and len(ax.lines) >= 2
    # With momentum the same sweep still finds a stable lr.
    mom = gradtx.lr_range_test(quadratic, {"x": jnp.float32(X0)},
                               lambda lr: gradtx.sgd(lr, momentum=0.9), [None], plot=True)
    assert mom.stopped_early and 0 < mom.suggested_lr < 2 / H


class CountingBatches:
    """A re-iterable of batches (like a data loader) that counts its epochs."""

    def __init__(self, batches):
        self.batches, self.epochs = batches, 0

    def __iter__(self):
        self.epochs += 1
        return iter(self.batches)


def test_batches_are_cycled_and_fed_to_the_loss():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 2)).astype(np.float32)
    y = x @ np.array([1.0, -1.0], np.float32)
    batches = [(x[i : i + 4], y[i : i + 4]) for i in range(0, 12, 4)]

    def loss(params, batch):
        xb, yb = batch
        return 0.5 * jnp.mean((xb @ params - yb) ** 2)

    loader = CountingBatches(batches)
    kwargs = dict(min_lr=1e-3, max_lr=1.0, num_steps=10, diverge_threshold=math.inf)
    result = gradtx.lr_range_test(loss, jnp.zeros(2), lambda lr: gradtx.sgd(lr), loader,
                                  **kwargs)
    assert loader.epochs == 4  # 11 batches drawn: 3 + 3 + 3 + 2
    # A one-shot generator is cycled over what it yielded: same batches, same losses.
    again = gradtx.lr_range_test(loss, jnp.zeros(2), lambda lr: gradtx.sgd(lr),
                                 (b for b in batches), **kwargs)
    np.testing.assert_allclose(again.losses, result.losses, rtol=1e-6)
    # NumPy: the same SGD run, batch i+1 measures the params after the step with lrs[i].
    w = np.zeros(2)
    want = []
    for i, lr in enumerate(result.lrs):
        xb, yb = batches[i % 3]
        w = w - lr * xb.T @ (xb @ w - yb) / len(yb)
        xn, yn = batches[(i + 1) % 3]
        want.append(0.5 * np.mean((xn @ w - yn) ** 2))
    np.testing.assert_allclose(result.losses, want, rtol=1e-4)


def test_bad_input():
    sgd = lambda lr: gradtx.sgd(lr)  # noqa: E731
    p = {"x": jnp.float32(1.0)}
    bad = [
        (dict(min_lr=0.0), ValueError, "min_lr must be in"),
        (dict(min_lr=1.0, max_lr=0.5), ValueError, "max_lr must be in"),
        (dict(num_steps=1), ValueError, "num_steps must be an integer >= 2"),
        (dict(num_steps=10.0), ValueError, "num_steps must be an integer >= 2"),
        (dict(mode="cosine"), ValueError, "mode must be 'exp' or 'linear'"),
        (dict(smoothing=0.0), ValueError, "smoothing must be in"),
        (dict(smoothing=1.5), ValueError, "smoothing must be in"),
        (dict(diverge_threshold=1.0), ValueError, "diverge_threshold must be in"),
        (dict(progress="yes"), TypeError, "progress must be True, False or None, got 'yes'"),
    ]
    for kwargs, err, msg in bad:
        with pytest.raises(err, match=msg):
            gradtx.lr_range_test(quadratic, p, sgd, [None], **kwargs)
    with pytest.raises(TypeError, match="optimizer must be a function lr -> "):
        gradtx.lr_range_test(quadratic, p, gradtx.sgd(0.1), [None])
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        gradtx.lr_range_test(None, p, sgd, [None])
    with pytest.raises(TypeError, match="batches must be an iterable"):
        gradtx.lr_range_test(quadratic, p, sgd, 3)
    with pytest.raises(ValueError, match="batches is empty"):
        gradtx.lr_range_test(quadratic, p, sgd, [])


def test_progress_bar_on_request_quiet_by_default(capsys):
    """``progress=True`` draws a tqdm bar on stderr; the default is quiet when stderr is
    not a terminal (pytest's capture); the numbers do not depend on it."""
    runs = {}
    for progress in (True, None):
        runs[progress] = gradtx.lr_range_test(
            quadratic, {"x": jnp.float32(X0)}, lambda lr: gradtx.sgd(lr), [None],
            num_steps=20, max_lr=1.0, progress=progress)
        runs[progress, "err"] = capsys.readouterr().err
    assert "LR range test" in runs[True, "err"] and "step" in runs[True, "err"]
    assert runs[None, "err"] == ""
    np.testing.assert_array_equal(runs[True].losses, runs[None].losses)


def test_suggestions_skip_the_noisy_first_points():
    # Loss c * (h x^2 / 2 + 1): a floor at c. Batch 1 (the first loss recorded) is a
    # lucky one, c = 0.05, lower than anything the sweep reaches later: unskipped, it
    # would be "the minimum" with no descent before it (both suggestions NaN).
    scales = [1.0, 0.05] + [1.0] * 100
    result = gradtx.lr_range_test(
        lambda p, c: c * (quadratic(p, None) + 1.0), {"x": jnp.float32(X0)},
        lambda lr: gradtx.sgd(lr), iter(scales), min_lr=1e-4, smoothing=1.0,
        diverge_threshold=math.inf,  # the lucky batch would also trigger the stop
    )
    assert result.losses[0] == result.losses.min()
    assert 0 < result.suggested_lr < 2 / H and 0 < result.lr_min_div10 < 2 / H
