"""The image-classification workhorse of experiments 4-6: data, a LeNet-style flax CNN,
and a jitted, vmapped training loop (one ``lax.scan`` per epoch over N copies of the
network that differ only in their optimiser's hyperparameters or schedule)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

import gradtx
from gradtx import datasets
from gradtx.demo._common import Config, progress

BATCH_SIZE = 32  # the mini-batch of experiments 4-6 (1438 digits: 44 steps per epoch)


class Data(NamedTuple):
    name: str
    x_train: np.ndarray  # (n, H, W) float32 in [0, 1]
    y_train: np.ndarray  # (n,) int32
    x_test: np.ndarray
    y_test: np.ndarray


def load_data(cfg: Config) -> Data:
    """Fashion-MNIST from ``cfg.data_dir`` if given, else the shipped digits. Sizes:
    digits are used whole except in smoke mode (128 train / 64 test images: one batch of
    128, the least experiment 6 needs); Fashion-MNIST keeps 128/64 (smoke), 2048/1000
    (default) or all (full)."""
    if cfg.data_dir is not None:
        (xtr, ytr), (xte, yte) = datasets.load_fashion_mnist(cfg.data_dir)
        name = "Fashion-MNIST"
        # A 28x28 LeNet step costs ~25 ms on 2 CPU cores: 2048 images keep the default
        # run to minutes; --full trains on everything (hours on a CPU).
        ntr, nte = cfg.pick((128, 64), (2048, 1000), (len(ytr), len(yte)))
    else:
        (xtr, ytr), (xte, yte) = datasets.load_digits()
        name = "digits"
        ntr, nte = cfg.pick((128, 64), (len(ytr), len(yte)), (len(ytr), len(yte)))
    return Data(name, xtr[:ntr], ytr[:ntr], xte[:nte], yte[:nte])


def lecun_normal(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
    """flax's default kernel initialiser, ``nn.initializers.lecun_normal()`` (a normal
    truncated at two standard deviations, of variance ``1 / fan_in``; ``fan_in`` is the
    product of all axes but the last), with the same numbers, but drawn as a flat vector
    and reshaped: XLA's CPU backend compiles a random draw of a small N-d shape such as
    ``(3, 3, 6, 16)`` about ten times slower (LLVM unrolls the hash over the short last
    axis), which made the LeNet's initialisation cost ~9 s of compiling per process."""
    fan_in = math.prod(shape[:-1])
    stddev = jnp.sqrt(jnp.array(1.0 / fan_in, dtype)) / jnp.array(0.87962566103423978, dtype)
    flat = jax.random.truncated_normal(key, -2, 2, (math.prod(shape),), dtype)
    return flat.reshape(shape) * stddev


class LeNet(nn.Module):
    """LeNet-5 with ReLU and max-pooling (LeCun et al. 1998; d2l sec. 7.6's variant).

    28x28 inputs: conv 5x5 (6, pad 2) -> pool -> conv 5x5 (16) -> pool -> 120 -> 84 -> 10.
    Small inputs (8x8 digits): the second conv is 3x3 with 'SAME' padding, so two 2x2
    poolings leave a 2x2x16 map."""

    num_classes: int = 10

    @nn.compact
    def __call__(self, x):
        small = x.shape[1] < 16
        x = x[..., None]
        init = {"kernel_init": lecun_normal}
        x = nn.max_pool(nn.relu(nn.Conv(6, (5, 5), padding=2, **init)(x)), (2, 2), (2, 2))
        conv2 = (
            nn.Conv(16, (3, 3), padding="SAME", **init)
            if small
            else nn.Conv(16, (5, 5), padding="VALID", **init)
        )
        x = nn.max_pool(nn.relu(conv2(x)), (2, 2), (2, 2))
        x = x.reshape(x.shape[0], -1)
        x = nn.relu(nn.Dense(120, **init)(x))
        x = nn.relu(nn.Dense(84, **init)(x))
        return nn.Dense(self.num_classes, **init)(x)


MODEL = LeNet()


@jax.jit
def _init(key: jax.Array, x: jax.Array) -> Any:
    return MODEL.init(key, x)


def init_params(data: Data, seed: int = 0) -> Any:
    """The LeNet's initial parameters for ``data``'s image size (one compiled program)."""
    return _init(jax.random.key(seed), jnp.asarray(data.x_train[:1]))


def cross_entropy(params, x, y):
    """Mean softmax cross-entropy and the logits."""
    logits = MODEL.apply(params, x)
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1)), logits


def accuracy(params, x, y) -> jax.Array:
    return jnp.mean(jnp.argmax(MODEL.apply(params, x), -1) == y)


class History(NamedTuple):
    """Per-epoch metrics, each ``(N, epochs)``: the mean mini-batch loss and accuracy of
    the epoch (as d2l reports them) and the test accuracy after it; plus the params
    after the first and the last epoch."""

    train_loss: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    params: Any
    first_epoch_params: Any


def make_epoch(
    make_opt: Callable[[Any], gradtx.GradientTransformation],
    data: Data,
    batch_size: int,
    eval_params: Callable[[Any, Any], Any] | None = None,
):
    """``(init, epoch)``, both jitted and vmapped over a leading sweep axis of the
    hyperparameters ``hp`` (any pytree ``make_opt`` accepts), the params and the state.
    ``eval_params(state, params)`` gives the params the test accuracy is measured with
    (default: the params; schedule-free optimisers evaluate an average)."""
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    xt, yt = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
    n = x.shape[0]
    steps = n // batch_size
    if steps < 1:
        raise ValueError(f"batch_size must be <= {n} (the training set), got {batch_size}")

    def init(hp, params):
        return make_opt(hp).init(params)

    def epoch(hp, params, state, key):
        opt = make_opt(hp)
        idx = jax.random.permutation(key, n)[: steps * batch_size].reshape(steps, batch_size)

        def step(carry, i):
            p, s = carry
            (loss, logits), g = jax.value_and_grad(cross_entropy, has_aux=True)(p, x[i], y[i])
            u, s = opt.update(g, s, p)
            return (gradtx.apply_updates(p, u), s), (loss, jnp.mean(jnp.argmax(logits, -1) == y[i]))

        (params, state), (losses, accs) = jax.lax.scan(step, (params, state), idx)
        evaluated = params if eval_params is None else eval_params(state, params)
        metrics = jnp.stack([losses.mean(), accs.mean(), accuracy(evaluated, xt, yt)])
        return params, state, metrics

    vm_init = jax.jit(jax.vmap(init))
    vm_epoch = jax.jit(jax.vmap(epoch, in_axes=(0, 0, 0, None)))
    return vm_init, vm_epoch, steps


def trainer(
    make_opt: Callable[[Any], gradtx.GradientTransformation],
    data: Data,
    *,
    batch_size: int,
    eval_params: Callable[[Any, Any], Any] | None = None,
) -> Callable[..., History]:
    """``run(cfg, hparams, *, epochs, bar=None, desc="cnn") -> History``, which trains
    ``N`` CNNs at once (``N`` = leading axis of every leaf of ``hparams``), all from the
    same init and the same data order, the i-th with ``make_opt(hparams[i])``, for
    ``epochs`` jitted epochs, advancing ``bar`` (or its own tqdm bar) each epoch.

    Every call of one ``run`` shares its compiled programs: runs that differ only in
    the *values* of ``hparams`` (same structure and shapes) compile once."""
    vm_init, vm_epoch, _ = make_epoch(make_opt, data, batch_size, eval_params)

    def run(cfg: Config, hparams: Any, *, epochs: int, bar=None, desc: str = "cnn") -> History:
        num = jax.tree.leaves(hparams)[0].shape[0]
        p0 = init_params(data, cfg.seed)
        # N copies, broadcast in NumPy (no compile per leaf shape and N)
        params = jax.tree.map(lambda a: np.broadcast_to(np.asarray(a), (num, *a.shape)), p0)
        state = vm_init(hparams, params)
        key = jax.random.key(cfg.seed + 1)
        metrics, first = [], None
        own = bar is None
        bar = progress(cfg, epochs, desc) if own else bar
        try:
            for _ in range(epochs):
                key, sub = jax.random.split(key)
                params, state, m = vm_epoch(hparams, params, state, sub)
                metrics.append(np.asarray(m))
                first = params if first is None else first
                bar.update(1)
        finally:
            if own:
                bar.close()
        m = np.stack(metrics, axis=1)  # (N, epochs, 3)
        return History(m[..., 0], m[..., 1], m[..., 2], params, first)

    return run


def train(
    cfg: Config,
    make_opt: Callable[[Any], gradtx.GradientTransformation],
    hparams: Any,
    data: Data,
    *,
    batch_size: int,
    epochs: int,
    bar=None,
    desc: str = "cnn",
    eval_params: Callable[[Any, Any], Any] | None = None,
) -> History:
    """One call of :func:`trainer`'s ``run``: trains ``N`` CNNs at once, the i-th with
    ``make_opt(hparams[i])`` (see there)."""
    run = trainer(make_opt, data, batch_size=batch_size, eval_params=eval_params)
    return run(cfg, hparams, epochs=epochs, bar=bar, desc=desc)
