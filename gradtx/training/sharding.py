"""Running gradtx on a device mesh: helpers for JAX's SPMD partitioner, not a new engine.

Every gradtx ``init`` gives per-parameter state leaves (momenta, second moments,
accumulators) shaped, typed and **sharded like their parameter**, and scalar leaves
(step counts) replicated; every per-parameter ``update`` is elementwise, so with the
state sharded like the parameters the optimiser step runs on each device's shard with
no communication. Cross-leaf reductions (:func:`gradtx.global_norm`,
:func:`gradtx.clip_by_global_norm`) are ordinary ``jnp`` reductions, for which XLA
inserts the cross-device sum. The helpers below write down the shardings so that
``jax.jit`` can check and keep them:

- :func:`state_shardings`: the sharding tree of ``tx.init(params)`` (each state leaf
  gets its parameter's sharding, scalars are replicated), for
  ``jax.jit(tx.init, out_shardings=...)`` and for a step's in/out shardings;
- :func:`fsdp_shardings`: a simple fully-sharded (FSDP / ZeRO-3) layout of the params;
- :func:`make_train_step`: a jitted ``(params, state, batch) -> (params, state, loss)``
  step with in/out shardings and donated buffers: data-parallel (params replicated,
  batch sharded) or FSDP (params, grads and optimiser state sharded, batch sharded);
- :func:`bytes_per_device`: how many bytes of a tree each device holds.

They live in ``gradtx.sharding`` (``from gradtx import sharding``) and are also exported
at the top level (``gradtx.state_shardings`` ...). See ``docs/sharding.md``.

References: Xu et al., *GSPMD: General and Scalable Parallelization for ML Computation
Graphs*, 2021; Rajbhandari et al., *ZeRO: Memory Optimizations Toward Training
Trillion Parameter Models*, SC 2020.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec, Sharding

from gradtx import _checks
from gradtx.base import GradientTransformation, OptState, Params, apply_updates
from gradtx.training._layout import (
    _broadcast_shardings,
    _per_param,
    _replicated,
    _shape,
    _sharding_leaves,
)

__all__ = [
    "bytes_per_device",
    "fsdp_shardings",
    "global_batch",
    "make_train_step",
    "state_shardings",
]


def _param_shardings(params: Params, param_shardings: Any | None) -> Any:
    if param_shardings is not None:
        return _broadcast_shardings(param_shardings, params, "param_shardings")

    def one(path, x):
        s = getattr(x, "sharding", None)
        if not isinstance(s, Sharding):
            raise TypeError(
                f"params leaf {jax.tree_util.keystr(path) or '<root>'} ({type(x).__name__}) "
                "has no sharding: jax.device_put the params onto the mesh, give "
                "ShapeDtypeStructs with a sharding, or pass param_shardings="
            )
        return s

    return jax.tree_util.tree_map_with_path(one, params)


def state_shardings(
    tx: GradientTransformation, params: Params, param_shardings: Any | None = None
) -> Any:
    r"""The sharding of every leaf of ``tx.init(params)``, without running it.

    The state's shapes come from ``jax.eval_shape(tx.init, params)``; every state
    subtree with the structure and leaf shapes of ``params`` (Adam's ``mu`` and ``nu``,
    momentum's ``trace`` ...), or of one inner subtree of ``params`` (the per-group
    states of a partitioned optimiser such as ``optax.multi_transform``), gets those
    parameters' shardings leaf by leaf. A subtree with the params' structure but other
    shapes (a factored second moment: Adafactor's ``v_row``, ``v_col``, ``v``) is
    matched leaf by leaf: a leaf with its parameter's shape gets its sharding; a leaf
    with its parameter's shape less one dimension ``d`` gets its ``NamedSharding``
    spec less entry ``d`` (replicated if two such dimensions give different specs, as
    for a square matrix). A subtree with the params' structure in which some subtrees
    are ``MaskedNode`` holes (the state of ``masked``, ``partition``, ``muon``,
    ``optax.masked``) is matched the same way leaf by leaf, the holes kept. Every
    other leaf (step counts, PRNG keys) gets the fully replicated sharding of the same
    mesh. In symbols, for a state leaf ``s`` at
    parameter ``p_\ell``'s position:

    .. math::
        \mathrm{sharding}(s) = \begin{cases} \mathrm{sharding}(p_\ell) &
        \mathrm{shape}(s) = \mathrm{shape}(p_\ell) \\
        \mathrm{spec}(p_\ell) \setminus d & \mathrm{shape}(s) =
        \mathrm{shape}(p_\ell) \setminus d \text{ (one such spec)} \\
        \text{replicated} & \text{otherwise (and every leaf elsewhere)}
        \end{cases}

    Under ``jit`` the compiler, not the parameters, places values that do not depend on
    the inputs (zeros, counts), so a jitted ``init`` needs these ``out_shardings`` (or
    an explicit-axes mesh, ``jax.set_mesh``); an eager ``tx.init(params)`` already
    places the state beside its parameters. A gradtx helper; optax has none.

    Args:
        tx: any ``GradientTransformation`` (gradtx or optax).
        params: the parameters: sharded ``jax.Array`` s, or ``jax.ShapeDtypeStruct`` s
            with a ``sharding``, or any arrays if ``param_shardings`` is given.
        param_shardings: optional tree of ``jax.sharding.Sharding`` with the params'
            structure (or a prefix of it; one ``Sharding`` covers every leaf); default
            None: each leaf's ``.sharding``.

    Returns:
        A tree of ``jax.sharding.Sharding`` with the structure of ``tx.init(params)``
        (``tx.init`` is only traced, through ``jax.eval_shape``).

    Raises:
        TypeError: a params leaf has no sharding (and ``param_shardings`` is None);
            ``param_shardings`` holds something that is not a ``Sharding``; the
            shardings are neither ``NamedSharding`` nor ``SingleDeviceSharding`` (no
            replicated sharding can be built).
        ValueError: ``param_shardings`` is not a prefix of the params' structure.

    References:
        Xu et al., *GSPMD*, 2021; Rajbhandari et al., *ZeRO*, SC 2020.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp, numpy as np
        >>> from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        >>> mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
        >>> params = jax.device_put({"w": jnp.zeros((4, 2))}, NamedSharding(mesh, P("data")))
        >>> tx = gradtx.adam(0.1)
        >>> shardings = gradtx.state_shardings(tx, params)
        >>> tuple(shardings[0].mu["w"].spec), tuple(shardings[0].count.spec)  # like w; replicated
        (('data',), ())
        >>> state = jax.jit(tx.init, out_shardings=shardings)(params)
        >>> tuple(state[0].nu["w"].sharding.spec)
        ('data',)
    """
    shardings = _param_shardings(params, param_shardings)
    abstract = jax.eval_shape(tx.init, params)
    return _per_param(abstract, params, shardings, _replicated(shardings))


def fsdp_shardings(params: Params, mesh: Mesh, axis: str | tuple[str, ...] | None = None) -> Any:
    r"""A fully-sharded (FSDP / ZeRO-3) layout: each leaf split along one dimension.

    For each leaf, the largest dimension divisible by ``n`` (the product of the sizes
    of the mesh axes ``axis``; default: all mesh axes) is split over those axes (the
    first such dimension on ties); leaves with no such dimension (scalars, small
    biases) are replicated. Per-device parameter memory is then about ``1/n`` of the
    total, and so is the optimiser state's (see :func:`state_shardings`):

    .. math::
        d^*_\ell = \operatorname*{arg\,max}_{d\,:\, n \mid \mathrm{shape}_\ell[d]}
        \mathrm{shape}_\ell[d], \qquad
        \text{bytes per device} \approx \frac{1}{n}\sum_\ell \mathrm{bytes}(p_\ell)

    A gradtx helper; optax has none.

    Args:
        params: a pytree of arrays or ``jax.ShapeDtypeStruct`` s (only shapes are read).
        mesh: the ``jax.sharding.Mesh`` to shard over.
        axis: a mesh axis name or a tuple of names to split over; default None: all
            the mesh's axes.

    Returns:
        A tree of ``NamedSharding`` on ``mesh`` with the params' structure (a
        ``PartitionSpec`` with ``axis`` at the split dimension, or ``P()``), ready for
        ``jax.device_put(params, shardings)`` and :func:`make_train_step`.

    Raises:
        TypeError: ``mesh`` is not a ``jax.sharding.Mesh``.
        ValueError: ``axis`` names no axis of the mesh (or is an empty tuple).

    Reference: Rajbhandari et al., *ZeRO*, SC 2020 (stage 3).

    Example:
        With one device ``n = 1``: the largest dimension of ``w`` is split, the scalar
        replicated (use ``np.array(jax.devices())`` for all devices).

        >>> import gradtx, jax, jax.numpy as jnp, numpy as np
        >>> mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
        >>> params = {"w": jnp.zeros((4, 6)), "b": jnp.zeros(())}
        >>> shardings = gradtx.fsdp_shardings(params, mesh)
        >>> tuple(shardings["w"].spec), tuple(shardings["b"].spec)
        ((None, 'data'), ())
        >>> params = jax.device_put(params, shardings)
    """
    if not isinstance(mesh, Mesh):
        raise TypeError(f"mesh must be a jax.sharding.Mesh, got {type(mesh).__name__}")
    axes = tuple(mesh.axis_names) if axis is None else (axis,) if isinstance(axis, str) else axis
    unknown = [a for a in axes if a not in mesh.axis_names]
    if unknown or not axes:
        raise ValueError(f"axis must name axes of the mesh {mesh.axis_names}, got {axis!r}")
    n = math.prod(mesh.shape[a] for a in axes)
    split = axes[0] if len(axes) == 1 else tuple(axes)

    def one(x: Any) -> NamedSharding:
        shape = _shape(x)
        for d in sorted(range(len(shape)), key=lambda d: -shape[d]):
            if shape[d] >= n and shape[d] % n == 0:
                spec = [None] * len(shape)
                spec[d] = split
                return NamedSharding(mesh, PartitionSpec(*spec))
        return NamedSharding(mesh, PartitionSpec())

    return jax.tree.map(one, params)


def make_train_step(
    loss_fn: Callable[[Params, Any], jax.Array],
    tx: GradientTransformation,
    param_sharding: Any,
    batch_sharding: Any,
    donate: bool = True,
    *,
    state_sharding: Any | None = None,
) -> Callable[[Params, OptState, Any], tuple[Params, OptState, jax.Array]]:
    r"""A jitted training step ``step(params, state, batch) -> (params, state, loss)``.

    .. math:: \ell, g = \nabla_{\theta}\,\mathrm{loss}(\theta_{t-1}, b_t),\quad
              u_t, s_t = \mathrm{tx.update}(g, s_{t-1}, \theta_{t-1}),\quad
              \theta_t = \theta_{t-1} + u_t

    ``jax.jit`` with ``in_shardings``/``out_shardings`` ``(param_sharding, state,
    batch_sharding)`` and ``(param_sharding, state, replicated)``. The gradients are
    constrained to ``param_sharding`` and the new state to its parameters' shardings
    (scalars replicated), so XLA reduce-scatters (FSDP) or all-reduces (data-parallel)
    the gradients and runs the optimiser on each device's shard.

    - Data-parallel: ``param_sharding = NamedSharding(mesh, P())`` (params and state
      replicated), ``batch_sharding = NamedSharding(mesh, P("data"))``.
    - FSDP: ``param_sharding = fsdp_shardings(params, mesh)`` (params, gradients and
      optimiser state sharded; XLA all-gathers each parameter for the forward and
      backward passes), batch sharded over the same devices.

    Several processes (``jax.distributed.initialize``, one per host): the same code runs
    in each; the mesh spans every process's devices. A batch leaf that is not a
    ``jax.Array`` (a NumPy array from this host's data loader) is **this process's
    rows** of the global batch and is made global by
    ``jax.make_array_from_process_local_data`` (:func:`global_batch`); on one process
    that is the whole batch, as before.

    Args:
        loss_fn: ``loss_fn(params, batch) -> scalar``, differentiable in ``params``.
        tx: the optimiser, any gradtx or optax ``GradientTransformation``.
        param_sharding: a ``Sharding`` or a tree of them with the params' structure (or a
            prefix of it).
        batch_sharding: a ``Sharding`` or a tree of them, a prefix of the batch.
        donate: default True: the params and state buffers are donated (reused for the
            outputs, so the step needs no second copy of them); do not use the arrays
            passed in after the call.
        state_sharding: keyword-only, optional, ``state_shardings(tx, params)``: the
            state's input sharding is then checked by ``jit`` (a mismatch raises).
            Default None: taken from the state's arrays (``tx.init`` of sharded params
            places it right).

    Returns:
        The jitted ``step(params, state, batch) -> (params, state, loss)``: new params
        and state sharded as above and the loss, a replicated scalar (computed at the
        params passed in, before the update). Its batch goes through
        :func:`global_batch` first; ``step.lower`` (and every other attribute of a
        ``jax.jit`` function) is the jitted function's.

    Raises:
        TypeError: ``loss_fn`` not callable; ``tx`` without callable
            ``init``/``update``; a sharding tree holding something that is not a
            ``Sharding``; no ``NamedSharding``/``SingleDeviceSharding`` to build the
            replicated one from. (From ``step``) ``ValueError`` when
            ``param_sharding`` is not a prefix of the params.

    References:
        Xu et al., *GSPMD*, 2021; Rajbhandari et al., *ZeRO*, SC 2020. A gradtx helper;
        optax has none.

    Example:
        FSDP on a one-device mesh (the same code runs on ``n`` devices):

        >>> import gradtx, jax, jax.numpy as jnp, numpy as np
        >>> from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        >>> mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
        >>> def loss_fn(params, batch):
        ...     x, y = batch
        ...     return 0.5 * jnp.mean((x @ params["w"] - y) ** 2)
        >>> tx = gradtx.sgd(0.5)
        >>> shardings = gradtx.fsdp_shardings({"w": jnp.zeros(2)}, mesh)
        >>> params = jax.device_put({"w": jnp.zeros(2)}, shardings)
        >>> state = tx.init(params)
        >>> step = gradtx.make_train_step(loss_fn, tx, shardings, NamedSharding(mesh, P("data")))
        >>> params, state, loss = step(params, state, (jnp.eye(2), jnp.array([1.0, 2.0])))
        >>> round(float(loss), 4), params["w"].tolist()  # w - 0.5 * (w - y) / 2
        (1.25, [0.25, 0.5])
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    _checks.transformation("tx", tx)
    _sharding_leaves(param_sharding, "param_sharding")
    _sharding_leaves(batch_sharding, "batch_sharding")
    if state_sharding is not None:
        _sharding_leaves(state_sharding, "state_sharding")
    replicated = _replicated(param_sharding, batch_sharding)

    def step(params, opt_state, batch):
        shardings = _broadcast_shardings(param_sharding, params, "param_sharding")
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        grads = jax.lax.with_sharding_constraint(grads, shardings)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = apply_updates(params, updates)
        opt_state = jax.lax.with_sharding_constraint(
            opt_state, _per_param(opt_state, params, shardings, replicated)
        )
        return params, opt_state, loss

    jitted = jax.jit(
        step,
        in_shardings=(param_sharding, state_sharding, batch_sharding),
        out_shardings=(param_sharding, state_sharding, replicated),
        donate_argnums=(0, 1) if donate else (),
    )
    return _TrainStep(jitted, batch_sharding)


def global_batch(batch: Any, batch_sharding: Any) -> Any:
    r"""The global ``jax.Array`` batch made from this process's part of it.

    Each leaf that is not a ``jax.Array`` (a NumPy array, a list, a Python number) is
    **this process's rows** of the global batch and becomes
    ``jax.make_array_from_process_local_data(sharding, leaf)``: with ``P`` processes
    each feeding ``b`` rows of a batch sharded over all of them, the global batch has
    ``P * b`` rows, process ``i`` holding rows ``[i b, (i+1) b)`` (in the mesh's device
    order). On one process the local data is the whole batch, so this is
    ``jax.device_put(leaf, sharding)``. ``jax.Array`` leaves (already global) and
    ``jax.ShapeDtypeStruct`` s are returned as they are.

    ``jax.jit`` itself would take a NumPy leaf for the **global** value: on several
    processes each would pass a different "global" batch (silently wrong, or an
    ``IndivisibleError``). :func:`make_train_step`'s step calls this on its batch, so
    a training loop feeds each process its own rows unchanged. A gradtx helper; optax
    has none.

    Args:
        batch: a pytree of process-local arrays (any leaves ``np.asarray`` accepts) and/or
            global ``jax.Array`` s.
        batch_sharding: a ``Sharding`` or a tree of them, a prefix of ``batch``.

    Returns:
        ``batch`` with every non-``jax.Array`` leaf replaced by its global array.

    Raises:
        TypeError: ``batch_sharding`` holds something that is not a ``Sharding``.
        ValueError: ``batch_sharding`` is not a prefix of the batch's structure.

    Example:
        >>> import gradtx, jax, numpy as np
        >>> from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        >>> mesh = Mesh(np.array(jax.devices()), ("data",))
        >>> local = np.ones((2 * jax.local_device_count(), 3), np.float32)
        >>> x = gradtx.sharding.global_batch(local, NamedSharding(mesh, P("data")))
        >>> x.shape == (2 * jax.device_count(), 3)  # the rows of every process
        True
    """
    shardings = _broadcast_shardings(batch_sharding, batch, "batch_sharding")

    def one(x: Any, s: Sharding) -> Any:
        if isinstance(x, (jax.Array, jax.ShapeDtypeStruct)):
            return x
        return jax.make_array_from_process_local_data(s, np.asarray(x))

    return jax.tree.map(one, batch, shardings)


class _TrainStep:
    """The jitted step of :func:`make_train_step`, its batch made global first (see
    :func:`global_batch`); every other attribute (``lower``, ``trace``, ...) is the
    jitted function's."""

    def __init__(self, jitted: Any, batch_sharding: Any) -> None:
        self._jitted = jitted
        self._batch_sharding = batch_sharding
        self.__wrapped__ = jitted
        self.__doc__ = jitted.__doc__

    def __call__(self, params: Params, opt_state: OptState, batch: Any) -> Any:
        return self._jitted(params, opt_state, global_batch(batch, self._batch_sharding))

    def lower(self, params: Any, opt_state: Any, batch: Any) -> Any:
        return self._jitted.lower(params, opt_state, global_batch(batch, self._batch_sharding))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._jitted, name)


def bytes_per_device(tree: Any) -> dict[jax.Device, int]:
    r"""Bytes of ``tree``'s arrays held by each device.

    .. math::
        \mathrm{bytes}(d) = \sum_{\ell} \sum_{\text{shards } k \text{ of } x_\ell
        \text{ on } d} \mathrm{nbytes}(x_{\ell,k})

    The sum of its addressable shards' sizes: a replicated leaf counts in full on
    every device, a leaf sharded ``n`` ways ``1/n`` on each. A typed PRNG key counts
    its key data. A gradtx helper; optax has none.

    Args:
        tree: a pytree of ``jax.Array`` leaves (committed or not, sharded or not).

    Returns:
        A ``dict`` mapping each ``jax.Device`` holding a shard to its byte count
        (``int``); devices this process cannot address are not listed.

    Raises:
        TypeError: a leaf is not a ``jax.Array`` (a NumPy array or Python scalar).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> state = gradtx.adam(0.1).init({"w": jnp.zeros((4, 2))})
        >>> list(gradtx.bytes_per_device(state).values())  # mu, nu: 2 * 32; count: 4
        [68]
        >>> max(gradtx.bytes_per_device(state).values())  # the fullest device
        68
    """
    out: dict[jax.Device, int] = {}
    for leaf in jax.tree.leaves(tree):
        if not isinstance(leaf, jax.Array):
            raise TypeError(f"bytes_per_device needs jax.Array leaves, got {type(leaf).__name__}")
        if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        for shard in leaf.addressable_shards:
            out[shard.device] = out.get(shard.device, 0) + shard.data.nbytes
    return out
