"""The gradient-transformation protocol, shared with optax.

A :class:`GradientTransformation` is a pair of pure functions::

    state = tx.init(params)
    updates, state = tx.update(grads, state, params=None, **extra_args)

It is a ``NamedTuple`` ``(init, update)``, the same shape as optax's, so gradtx
transforms go into ``optax.chain`` and optax transforms go into :func:`chain`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

# Type names as in optax (``optax.Params`` ...): plain aliases, for annotations.
PyTree = Any
Params = Any  # a tree of arrays (the model's parameters)
Updates = Any  # a tree like Params (gradients or updates)
OptState = Any  # a tree of arrays (a transformation's state)
Schedule = Callable[[jax.typing.ArrayLike], jax.typing.ArrayLike]  # step -> value
ScalarOrSchedule = float | jax.Array | Schedule


class TransformInitFn(Protocol):
    def __call__(self, params: Params) -> OptState: ...


class TransformUpdateFn(Protocol):
    def __call__(
        self, updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]: ...


class TransformUpdateExtraArgsFn(Protocol):
    """An ``update`` that accepts (and ignores unknown) keyword ``extra_args``."""

    def __call__(
        self, updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]: ...


class GradientTransformation(NamedTuple):
    """A pure gradient transformation: ``init(params)`` and ``update(updates, state, params)``.

    Every gradtx ``update`` accepts and ignores unknown keyword ``extra_args`` (for
    example ``value=loss`` for :func:`gradtx.reduce_on_plateau`), as optax's
    ``GradientTransformationExtraArgs`` does.
    """

    init: TransformInitFn
    update: TransformUpdateFn


class GradientTransformationExtraArgs(GradientTransformation):
    """A :class:`GradientTransformation` whose ``update`` takes keyword ``extra_args``.

    The same ``(init, update)`` pair (a subclass, as in optax): wrappers that forward
    ``extra_args`` (:func:`gradtx.masked`, :func:`gradtx.partition`, ...) return one.
    Use :func:`with_extra_args_support` to make any transformation into one.

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> def update(updates, state, params=None, *, loss=None, **extra_args):
      ...     return updates, state
      >>> tx = gradtx.GradientTransformationExtraArgs(gradtx.init_empty_state, update)
      >>> tx.update(jnp.ones(1), tx.init(jnp.ones(1)), loss=0.5)[0]
      Array([1.], dtype=float32)
    """

    update: TransformUpdateExtraArgsFn


class TransformSpec(NamedTuple):
    """What a transformation computes, as the call that built it.

    gradtx's constructors attach one to the ``update`` function of what they return
    (``tx.update.spec``), so a backend can recognise a transformation from the outside,
    without a hidden registry: :func:`gradtx.make_step` uses it to run the single-pass
    native kernel for a chain it knows (``gradtx.native.explain`` says why it does or
    does not). A transformation without one (an optax transform, a user's own) is run as
    it is.
    """

    name: str  # the constructor's name, e.g. "scale_by_adam"
    hyperparams: dict[str, Any]  # the arguments that define its math
    links: tuple[Any, ...] = ()  # for "chain": the linked (init, update) pairs


def with_spec(
    tx: GradientTransformation, name: str, links: tuple[Any, ...] = (), **hyperparams: Any
) -> GradientTransformation:
    """Attaches a :class:`TransformSpec` to ``tx.update``; returns ``tx``."""
    tx.update.spec = TransformSpec(name, dict(hyperparams), tuple(links))  # type: ignore[attr-defined]
    return tx


def spec_of(tx: Any) -> TransformSpec | None:
    """The :class:`TransformSpec` attached to ``tx`` by its constructor, or ``None``."""
    spec = getattr(getattr(tx, "update", None), "spec", None)
    return spec if isinstance(spec, TransformSpec) else None


class EmptyState(NamedTuple):
    """The state of a stateless transformation."""


def init_empty_state(params: Params) -> EmptyState:
    """The ``init`` of a stateless transformation: returns ``EmptyState()``.

    Args:
      params: ignored.

    Returns:
      ``EmptyState()``, an empty tuple (no leaves), as ``optax.init_empty_state``.

    Example:
      >>> import gradtx
      >>> gradtx.init_empty_state({"w": 1.0})
      EmptyState()
    """
    del params
    return EmptyState()


def identity() -> GradientTransformation:
    r"""The transformation that returns its updates unchanged.

    .. math::

        u_t = g_t

    Stateless: its state is ``EmptyState()``. Same as ``optax.identity``; useful as a
    placeholder link in a :func:`chain` (gradtx's optimisers use it where an optional
    step, such as momentum, is switched off).

    Returns:
        A :class:`GradientTransformation` whose ``init`` returns ``EmptyState()`` and
        whose ``update(updates, state, params=None, **extra_args)`` returns
        ``(updates, state)`` unchanged.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.identity()
        >>> u, state = tx.update(jnp.array([1.0, -2.0]), tx.init(jnp.zeros(2)))
        >>> u.tolist(), state
        ([1.0, -2.0], EmptyState())
    """

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return updates, state

    return with_spec(GradientTransformation(init_empty_state, update_fn), "identity")


def stateless(f: Callable[[Updates, Params | None], Updates]) -> GradientTransformationExtraArgs:
    r"""A stateless transformation from a function of the whole tree: ``u_t = f(g_t, p_t)``.

    Args:
      f: ``f(updates, params) -> updates``; ``params`` is ``None`` when ``update`` is
        called without parameters.

    Returns:
      A :class:`GradientTransformationExtraArgs` with state ``EmptyState()`` (as
      ``optax.stateless``); unknown keyword ``extra_args`` are ignored.

    Raises:
      TypeError: if ``f`` is not callable.

    Example:
      >>> import gradtx, jax
      >>> tx = gradtx.stateless(lambda g, p: jax.tree.map(lambda x: 2 * x, g))
      >>> tx.update({"w": 1.5}, tx.init({"w": 0.0}))[0]
      {'w': 3.0}
    """
    if not callable(f):
        raise TypeError(f"stateless: f must be callable, got {f!r}")

    def update_fn(updates, state, params=None, **extra_args):
        del state, extra_args
        return f(updates, params), EmptyState()

    return GradientTransformationExtraArgs(init_empty_state, update_fn)


def stateless_with_tree_map(
    f: Callable[[jax.typing.ArrayLike, jax.typing.ArrayLike | None], jax.typing.ArrayLike],
) -> GradientTransformationExtraArgs:
    r"""A stateless transformation from a per-array function: ``u_t^i = f(g_t^i, p_t^i)``.

    Args:
      f: ``f(update_array, param_array) -> update_array``, mapped over the leaves;
        ``param_array`` is ``None`` when ``update`` is called without parameters.

    Returns:
      A :class:`GradientTransformationExtraArgs` with state ``EmptyState()`` (as
      ``optax.stateless_with_tree_map``).

    Raises:
      TypeError: if ``f`` is not callable.

    Example:
      >>> import gradtx
      >>> tx = gradtx.stateless_with_tree_map(lambda g, p: g + 0.1 * p)
      >>> tx.update({"w": 1.0}, tx.init({"w": 2.0}), {"w": 2.0})[0]
      {'w': 1.2}
    """
    if not callable(f):
        raise TypeError(f"stateless_with_tree_map: f must be callable, got {f!r}")

    def update_fn(updates, state, params=None, **extra_args):
        del state, extra_args
        if params is None:
            return jax.tree.map(lambda u: f(u, None), updates), EmptyState()
        return jax.tree.map(f, updates, params), EmptyState()

    return GradientTransformationExtraArgs(init_empty_state, update_fn)


def with_extra_args_support(tx: Any) -> GradientTransformationExtraArgs:
    """Wraps a transformation so that its ``update`` accepts (and drops) keyword
    ``extra_args``; one whose ``update`` already takes ``**extra_args`` keeps it.

    Args:
      tx: a gradient transformation (gradtx or optax).

    Returns:
      ``tx`` itself if it is a :class:`GradientTransformationExtraArgs`, otherwise a
      :class:`GradientTransformationExtraArgs` with the same ``init``.

    Raises:
      TypeError: if ``tx`` has no callable ``init`` and ``update``.

    Example:
      >>> import gradtx, jax.numpy as jnp
      >>> tx = gradtx.with_extra_args_support(gradtx.scale(2.0))
      >>> isinstance(tx, gradtx.GradientTransformationExtraArgs)
      True
      >>> tx.update(jnp.ones(1), tx.init(jnp.ones(1)), loss=3.0)[0]
      Array([2.], dtype=float32)
    """
    return _with_extra_args(tx, "with_extra_args_support: tx")


def _with_extra_args(tx: Any, what: str) -> GradientTransformationExtraArgs:
    """:func:`with_extra_args_support`, with ``what`` naming ``tx`` in the TypeError."""
    if isinstance(tx, GradientTransformationExtraArgs):
        return tx
    init, update = _as_transformation(tx, 0, what=what)
    return GradientTransformationExtraArgs(init, update)


def _accepts_extra_args(update_fn: Callable) -> bool:
    try:
        sig = inspect.signature(update_fn)
    except (TypeError, ValueError):
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())


def _as_transformation(
    tx: Any, position: int, what: str | None = None
) -> tuple[Callable, Callable]:
    init = getattr(tx, "init", None)
    update = getattr(tx, "update", None)
    if not (callable(init) and callable(update)):
        where = what or f"chain: argument {position}"
        raise TypeError(
            f"{where} is {type(tx).__name__}, not a gradient "
            "transformation (an object with callable .init and .update)"
        )
    if _accepts_extra_args(update):
        return init, update

    def update_without_extra_args(updates, state, params=None, **extra_args):
        del extra_args
        return update(updates, state, params)

    return init, update_without_extra_args


def chain(*transforms: Any) -> GradientTransformationExtraArgs:
    r"""Applies transformations in sequence.

    .. math::

        u_t = T_n\big(\cdots T_2(T_1(g_t))\big)

    Accepts gradtx transforms and any optax ``GradientTransformation``; keyword
    ``extra_args`` are passed to the links that accept them (a link whose ``update``
    does not take ``**extra_args`` is called without them). The state is a tuple with
    one entry per link, as in ``optax.chain``, so states round-trip between the two.
    ``params`` is passed to every link.

    Args:
        *transforms: the links, applied first to last; each an object with callable
            ``init`` and ``update`` (a gradtx or optax transformation). With no links
            the chain is the identity.

    Returns:
        A :class:`GradientTransformationExtraArgs` whose state is a ``tuple`` holding
        each link's state in order (``()`` for an empty chain).

    Raises:
        TypeError: a link is not a gradient transformation (no callable ``init`` and
            ``update``); the message names its position.
        ValueError: ``update`` is given a state that is not a tuple of one entry per
            link.

    Source: ``optax.chain``.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.chain(gradtx.clip_by_global_norm(1.0),
        ...                   gradtx.scale_by_learning_rate(0.1))
        >>> u, state = tx.update(jnp.array([3.0, 4.0]), tx.init(jnp.zeros(2)))
        >>> [round(x, 4) for x in u.tolist()]  # clipped to norm 1, then times -0.1
        [-0.06, -0.08]
        >>> len(state)
        2
    """
    links = tuple(_as_transformation(t, i) for i, t in enumerate(transforms))

    def init_fn(params):
        return tuple(init(params) for init, _ in links)

    def update_fn(updates, state, params=None, **extra_args):
        if not isinstance(state, tuple) or len(state) != len(links):
            got = (
                f"{type(state).__name__} of length {len(state)}"
                if isinstance(state, tuple)
                else type(state).__name__
            )
            raise ValueError(
                f"chain of {len(links)} transformations got a state that is a {got}; "
                "pass the state returned by this chain's init"
            )
        new_state = []
        for (_, update), s in zip(links, state, strict=True):
            updates, s = update(updates, s, params, **extra_args)
            new_state.append(s)
        return updates, tuple(new_state)

    links_tx = tuple(GradientTransformation(i, u) for i, u in links)
    return with_spec(GradientTransformationExtraArgs(init_fn, update_fn), "chain", links_tx)


def apply_updates(params: Params, updates: Updates) -> Params:
    r"""Returns ``params + updates``, leaf by leaf, keeping each parameter's dtype.

    .. math::

        p_t = p_{t-1} + u_t

    The sum is computed in the wider of the two dtypes and cast back to the parameter's
    dtype, so bf16 parameters stay bf16 and f32 updates are not rounded first. A ``None``
    parameter leaf stays ``None``. Same as ``optax.apply_updates``.

    Args:
        params: a tree of arrays (the parameters :math:`p_{t-1}`), any dtypes.
        updates: a tree of the same structure and leaf shapes (the step :math:`u_t`,
            already scaled by the negative learning rate).

    Returns:
        A tree like ``params``: each leaf ``p + u`` with ``p``'s shape and dtype.

    Raises:
        ValueError: ``updates`` and ``params`` differ in tree structure or in a leaf's
            shape (the message names the leaf).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> params = {"w": jnp.array([1.0, 2.0], jnp.bfloat16)}
        >>> new = gradtx.apply_updates(params, {"w": jnp.array([0.5, -0.5])})
        >>> new["w"].tolist(), new["w"].dtype
        ([1.5, 1.5], dtype(bfloat16))
    """
    from gradtx.tree._core import check_same_tree

    check_same_tree(updates, params, what="updates", against="params")
    return jax.tree.map(
        lambda p, u: None if p is None else jnp.asarray(p + u).astype(jnp.asarray(p).dtype),
        params,
        updates,
        is_leaf=lambda x: x is None,
    )
