"""Microbatching, as ``optax.microbatching``: evaluate a function over a large batch as a
sequential loop over microbatches, combining the results (sum, mean, running mean or
concatenation), so the peak memory is that of one microbatch.

``gradtx.microbatch`` is :func:`microbatch`; ``gradtx.microbatching`` is this module.
Same names, arguments, microbatch layout and numbers as optax 0.2.8's ``microbatch``,
``Accumulator``, ``AccumulationType`` and ``reshape_batch_axis`` (optax's ``micro_vmap``
and ``micro_grad`` are not provided). Explicitly sharded (``jax.sharding`` explicit-axes)
inputs are reshaped without optax's sharding annotations.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

Function = Callable[..., Any]


@dataclasses.dataclass(frozen=True)
class Accumulator:
    """How microbatch results combine: ``carry = init(shape_dtype_of_one_result)``,
    ``carry = update(carry, result_i, i)`` for each microbatch ``i``, then
    ``finalize(carry)``; ``aggregate(stacked_results)`` is the same reduction over a
    stacked axis. Same fields as optax's ``Accumulator``."""

    init: Callable[[Any], Any]
    update: Callable[[Any, Any, Any], Any]
    finalize: Callable[[Any], Any]
    aggregate: Callable[[Any], Any]


class AccumulationType(enum.Enum):
    """The built-in accumulations (optax's): the sum, the mean over the microbatches,
    the running mean (over the microbatches actually run), or the concatenation of the
    results along axis 0 in the original batch order."""

    MEAN = enum.auto()
    SUM = enum.auto()
    RUNNING_MEAN = enum.auto()
    CONCAT = enum.auto()


def _floating_only(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def wrapper(value):
        if not jnp.issubdtype(value.dtype, jnp.floating):
            raise ValueError(
                f"MEAN and RUNNING_MEAN accumulators need floating-point results, got {value.dtype}"
            )
        return fn(value)

    return wrapper


def _lift(acc: Accumulator) -> Accumulator:
    """An array accumulator applied leaf by leaf to a pytree of results."""
    return Accumulator(
        lambda value: jax.tree.map(acc.init, value),
        lambda carry, value, i: jax.tree.map(lambda c, v: acc.update(c, v, i), carry, value),
        lambda carry: jax.tree.map(acc.finalize, carry),
        lambda values: jax.tree.map(acc.aggregate, values),
    )


def _builtin(kind: AccumulationType, num_microbatches: int) -> Accumulator:
    def add(carry, value, _):
        return carry + value

    if kind is AccumulationType.SUM:
        return _lift(Accumulator(jnp.zeros_like, add, lambda x: x,
                                 functools.partial(jnp.sum, axis=0)))  # fmt: skip
    if kind is AccumulationType.MEAN:
        return _lift(
            Accumulator(
                _floating_only(jnp.zeros_like), add, lambda c: c / num_microbatches,
                functools.partial(jnp.mean, axis=0),
            )
        )  # fmt: skip
    if kind is AccumulationType.RUNNING_MEAN:

        def running(carry, value, index):
            p = index / (index + 1)
            return carry * p + value * (1 - p)

        return _lift(Accumulator(_floating_only(jnp.zeros_like), running, lambda x: x,
                                 functools.partial(jnp.mean, axis=0)))  # fmt: skip
    if kind is AccumulationType.CONCAT:

        def init(value):
            return jnp.zeros((num_microbatches, *value.shape), value.dtype)

        def finalize(carry):
            return carry.reshape(-1, *carry.shape[2:], order="F")

        return _lift(Accumulator(init, lambda c, v, i: c.at[i].set(v), finalize, lambda x: x))
    raise ValueError(f"unknown accumulator: {kind!r}")


def _canonicalize(tree: Any, num_microbatches: int) -> Accumulator:
    """One accumulator for a pytree (prefix of the results) of accumulators / types."""

    def leaf(acc):
        if isinstance(acc, Accumulator):
            return acc
        if isinstance(acc, AccumulationType):
            return _builtin(acc, num_microbatches)
        if isinstance(acc, enum.Enum) and acc.name in AccumulationType.__members__:
            return _builtin(AccumulationType[acc.name], num_microbatches)  # optax's enum
        raise ValueError(f"accumulator must be an Accumulator or AccumulationType, got {acc!r}")

    is_leaf = lambda x: isinstance(x, (Accumulator, enum.Enum))  # noqa: E731
    accs = jax.tree.map(leaf, tree, is_leaf=is_leaf)

    def each(fn_name, *trees):
        return jax.tree.map(
            lambda acc, *xs: getattr(acc, fn_name)(*xs), accs, *trees, is_leaf=is_leaf
        )

    return Accumulator(
        lambda values: each("init", values),
        lambda carry, values, i: jax.tree.map(
            lambda acc, c, v: acc.update(c, v, i), accs, carry, values, is_leaf=is_leaf
        ),
        lambda carry: each("finalize", carry),
        lambda values: each("aggregate", values),
    )


def reshape_batch_axis(tree: Any, microbatch_size: int, axis: int = 0) -> Any:
    """Splits the batch axis ``axis`` of every leaf into ``(num_microbatches,
    microbatch_size)`` in column-major order (microbatch ``i`` holds rows ``i, i + n,
    i + 2n, ...`` for ``n`` microbatches, so a sharding of the batch axis carries over to
    the ``microbatch_size`` axis). Same as optax's.

    Args:
        tree: a pytree of arrays with a batch axis.
        microbatch_size: the rows per microbatch (must divide the batch size).
        axis: the batch axis (default 0).

    Returns:
        The reshaped pytree.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> gradtx.microbatching.reshape_batch_axis(jnp.arange(6), 2).tolist()
        [[0, 3], [1, 4], [2, 5]]
    """

    def leaf(x):
        return x.reshape(x.shape[:axis] + (-1, microbatch_size) + x.shape[axis + 1 :], order="F")

    return jax.tree.map(leaf, tree)


def microbatch(
    fun: Function,
    argnums: int | Sequence[int],
    microbatch_size: int | None,
    accumulator: Accumulator | AccumulationType | Any = AccumulationType.SUM,
    *,
    argnames: str | Sequence[str] = (),
    in_axes: int | Sequence[int] = 0,
    num_real_microbatches: int | jax.Array | None = None,
) -> Function:
    r"""``fun`` evaluated over a batch as a sequential loop over microbatches.

    .. math::
        F(x) = \mathrm{acc}\big(f(x^{(0)}), \ldots, f(x^{(n-1)})\big)

    with ``x^(i)`` the ``i``-th microbatch of the batch arguments (the rows ``i, i + n,
    ...``, see :func:`reshape_batch_axis`) and ``acc`` the accumulator (sum, mean,
    running mean, concatenation in the original order, or your own
    :class:`Accumulator`; a pytree prefix of ``fun``'s output picks one per subtree). The
    loop is a ``lax.fori_loop``, so only one microbatch is live. Same as
    ``optax.microbatch``.

    Args:
        fun: any function.
        argnums: the positional arguments with a batch axis.
        microbatch_size: rows per microbatch (dividing the batch size); None returns
            ``fun`` itself.
        accumulator: how results combine (default ``AccumulationType.SUM``; optax's
            ``AccumulationType`` members are accepted too).
        argnames: keyword arguments with a batch axis.
        in_axes: the batch axis of each of ``argnums + argnames`` (default 0).
        num_real_microbatches: stop after this many microbatches (the rest are padding;
            default all).

    Returns:
        The microbatched function, with ``fun``'s arguments.

    Raises:
        ValueError: (when called) batch arguments of different batch sizes, or a batch
            size ``microbatch_size`` does not divide.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> fun = lambda x: (x + 1, jnp.sum(3 * x))
        >>> acc = (gradtx.microbatching.AccumulationType.CONCAT,
        ...        gradtx.microbatching.AccumulationType.SUM)
        >>> out = gradtx.microbatch(fun, 0, 2, acc)(jnp.array([1, 2, 3, 4]))
        >>> out[0].tolist(), int(out[1])
        ([2, 3, 4, 5], 30)
    """
    if microbatch_size is None:
        return fun
    argnums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    argnames = (argnames,) if isinstance(argnames, str) else tuple(argnames)
    n_batch_args = len(argnums) + len(argnames)
    in_axes = (in_axes,) * n_batch_args if isinstance(in_axes, int) else tuple(in_axes)

    def microbatched(*args, **kwargs):
        args, kwargs = list(args), dict(kwargs)
        batch = [(args, i, ax) for i, ax in zip(argnums, in_axes, strict=False)]
        batch += [(kwargs, k, ax) for k, ax in zip(argnames, in_axes[len(argnums) :],
                                                   strict=False)]  # fmt: skip
        sizes = {
            x.shape[ax] for holder, key, ax in batch for x in jax.tree.leaves(holder[key])
        }
        if len(sizes) != 1:
            raise ValueError(f"microbatch: batch arguments must have one batch size, got {sizes}")
        (size,) = sizes
        if size % microbatch_size:
            raise ValueError(
                f"microbatch: the batch size {size} must be divisible by microbatch_size="
                f"{microbatch_size}"
            )
        for holder, key, ax in batch:
            holder[key] = reshape_batch_axis(holder[key], microbatch_size, ax)
        n = size // microbatch_size
        acc = _canonicalize(accumulator, n)

        def f(index):
            def take(tree, ax):
                return jax.tree.map(lambda x: jnp.take(x, index, axis=ax), tree)

            a, kw = list(args), dict(kwargs)
            for _, i, ax in batch[: len(argnums)]:
                a[i] = take(a[i], ax)
            for _, k, ax in batch[len(argnums) :]:
                kw[k] = take(kw[k], ax)
            return fun(*a, **kw)

        bound = n if num_real_microbatches is None else num_real_microbatches
        carry = acc.init(jax.eval_shape(f, 0))
        carry = jax.lax.fori_loop(0, bound, lambda i, c: acc.update(c, f(i), i), carry)
        return acc.finalize(carry)

    return microbatched


__all__ = ["AccumulationType", "Accumulator", "microbatch", "reshape_batch_axis"]
