"""GaLore (Zhao et al., 2024): run the base optimiser on gradients projected onto a
rank-``r`` subspace of each matrix (refreshed by an SVD every ``update_proj_gap``
steps), and project its updates back.

Same names, signatures, defaults, numbers and state tree as ``optax.contrib``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule
from gradtx.contrib._chains import decoupled_decay_chain
from gradtx.transforms import scale_by_adam
from gradtx.tree._core import MOMENT, safe_increment, state_dtype, zero_count


class GaLoreDimensionNumbers(NamedTuple):
    """Which axes of a parameter form GaLore's matrix (optax.contrib's fields): the
    ``reduction_axis`` axes (the input side, flattened into rows) and the
    ``output_axis`` axes (flattened into columns); together they must name every axis.
    A conv kernel ``(h, w, in, out)`` is ``GaLoreDimensionNumbers((0, 1, 2), 3)``."""

    reduction_axis: Sequence[int] | int = 0
    output_axis: Sequence[int] | int = 1


class GaLoreState(NamedTuple):
    """State of :func:`scale_by_galore` (optax.contrib's fields and order)."""

    count: jax.Array  # shape=(), dtype=int32: steps taken
    base_optimizer_state: Any  # the base optimiser's state, on the low-rank gradients
    projector: Any  # per leaf: the (m, r) or (n, r) projector (float32 for float16
    # params: the state policy); a 0-d zero for a leaf not projected (optax: (0, 0))


def _is_dim_nums(x: Any) -> bool:
    return isinstance(x, GaLoreDimensionNumbers)


def _is_dim_nums_leaf(x: Any) -> bool:
    return x is None or isinstance(x, GaLoreDimensionNumbers)


def _axes(ax: Sequence[int] | int, ndim: int) -> tuple[int, ...]:
    return (ax % ndim,) if isinstance(ax, int) else tuple(a % ndim for a in ax)


def _reshapes(x: Any, dim_nums: GaLoreDimensionNumbers) -> tuple[Callable, Callable]:
    """``(to_2d, from_2d)``: ``x``'s shape to ``(rows, cols)`` and back."""
    if x.ndim < 2:
        raise ValueError(f"GaLore requires tensors with rank >= 2, got shape {x.shape}")
    red, out = _axes(dim_nums.reduction_axis, x.ndim), _axes(dim_nums.output_axis, x.ndim)
    if set(red) & set(out):
        raise ValueError(
            f"Reduction axes {red} and output axes {out} must be disjoint. Got "
            f"dim_nums={dim_nums} for shape {x.shape}"
        )
    if len(set(red) | set(out)) != x.ndim:
        raise ValueError(
            f"All axes must be specified. Got reduction={red}, output={out} for tensor "
            f"with {x.ndim} dimensions"
        )
    perm = red + out
    inv = tuple(sorted(range(x.ndim), key=lambda i: perm[i]))
    rows = math.prod(x.shape[a] for a in red)
    cols = math.prod(x.shape[a] for a in out)
    permuted = tuple(x.shape[a] for a in perm)
    return (lambda y: y.transpose(perm).reshape(rows, cols),
            lambda y: y.reshape(permuted).transpose(inv))


def scale_by_galore(
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: float = 1.0,
    base_optimizer: GradientTransformation | None = None,
    weight_dimension_numbers: Any = None,
) -> GradientTransformation:
    r"""GaLore's scaling: the base optimiser in a low-rank subspace of each matrix.

    For a matrix gradient :math:`G \in \mathbb R^{m\times n}` (a parameter viewed
    through its dimension numbers) and :math:`r' = \min(r, m, n)`, every
    ``update_proj_gap`` steps (from step 0) the projector is refreshed from the SVD
    :math:`G = U S V^\top` (in float32):

    .. math::
        m \ge n:\ P = U_{:, :r'},\ R = P^\top G,\ u = s\,P\,\rho(R);\qquad
        m < n:\ Q = V_{:, :r'},\ R = G Q,\ u = s\,\rho(R)\,Q^\top

    with :math:`\rho` the base optimiser (default :func:`gradtx.scale_by_adam`), whose
    state lives on the :math:`r'`-wide projected gradients and persists across
    refreshes, and :math:`s` = ``scale``. Leaves that are not matrices (by default: not
    2-D) go to the base optimiser unprojected.

    Where optax and the authors differ (gradtx follows optax): the authors' projector
    (jiaweizhao/GaLore, ``GaLoreProjector``, type ``std``) projects from the right when
    :math:`m \ge n` (keeping the long side, state :math:`m \times r`) and their default
    ``scale`` is 0.25; optax projects the long side away (state :math:`r \times n`, the
    smaller) and defaults to 1.0. Both are GaLore's update
    :math:`\tilde G = P\rho(P^\top G)`; only the subspace's side differs.

    The state is optax's (fields, tree, leaf dtypes for float32 and bfloat16 params,
    numbers), with two differences: a leaf that is not projected holds a 0-d zero as its
    projector where optax holds a ``(0, 0)`` array, which orbax refuses to save (zero
    size); and for float16 params the projectors are float32 (the state policy,
    docs/dtypes.md), where optax rounds them to float16. Either library's state runs in
    the other (neither reads the placeholder).

    Args:
        rank: :math:`r \ge 1` (default 128).
        update_proj_gap: steps between SVD refreshes, ``>= 1`` (default 200).
        scale: :math:`s`, the factor of the projected-back update (default 1.0).
        base_optimizer: the transformation run on the projected gradients (default
            ``None``: ``scale_by_adam()``).
        weight_dimension_numbers: which leaves are matrices and how: ``None`` (default:
            every 2-D leaf, rows = axis 0), one :class:`GaLoreDimensionNumbers` (every
            leaf of rank >= 2), a tree of them (``None`` leaves unprojected), or a
            function of the params returning such a tree.

    Returns:
        A :class:`gradtx.GradientTransformation` with state :class:`GaLoreState`.

    Raises:
        TypeError: ``rank`` not an int; (at ``update``) a complex leaf to project.
        ValueError: ``rank < 1``; ``update_proj_gap < 1``; dimension numbers that do not
            partition a leaf's axes, or name a leaf of rank < 2.

    Reference: Zhao, Zhang, Chen, Wang, Anandkumar & Tian, *GaLore: Memory-Efficient LLM
    Training by Gradient Low-Rank Projection*, ICML 2024 (arXiv:2403.03507).

    Example:
        >>> import jax.numpy as jnp, gradtx, gradtx.contrib
        >>> tx = gradtx.contrib.scale_by_galore(rank=1, base_optimizer=gradtx.identity())
        >>> g = {"w": jnp.array([[3.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), "b": jnp.ones(2)}
        >>> u, state = tx.update(g, tx.init(g))
        >>> u["w"].tolist()  # the rank-1 part of the gradient
        [[3.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
        >>> state.projector["w"].shape, state.projector["b"].shape
        ((3, 1), ())
    """
    if isinstance(rank, bool) or not isinstance(rank, int):
        raise TypeError(f"`rank` must be an int, got {type(rank)}")
    if rank <= 0:
        raise ValueError(f"`rank` must be positive, got {rank}")
    _checks.positive_int("update_proj_gap", update_proj_gap)
    base = scale_by_adam() if base_optimizer is None else base_optimizer

    def dim_nums_of(params):
        if weight_dimension_numbers is None:
            return jax.tree.map(
                lambda p: GaLoreDimensionNumbers() if jnp.ndim(p) == 2 else None, params)
        if callable(weight_dimension_numbers):
            return weight_dimension_numbers(params)
        if _is_dim_nums(weight_dimension_numbers):
            return jax.tree.map(
                lambda p: weight_dimension_numbers if jnp.ndim(p) >= 2 else None, params)
        return weight_dimension_numbers

    def shapes(p, dn):
        dt = jnp.result_type(p)
        # the projector, an orthonormal basis, in the policy's dtype (float32 for float16
        # params: optax rounds it to float16, 2^-11 relative, each projection twice)
        proj_dt = state_dtype(dt, MOMENT)
        if dn is None:
            # a 0-d placeholder: optax's (0, 0) array has zero size, which orbax refuses
            # to save ("Cannot save arrays with zero size")
            return jnp.zeros((), proj_dt), jnp.zeros_like(p)
        to_2d, _ = _reshapes(p, dn)
        m, n = to_2d(p).shape
        r = min(rank, m, n)
        proj, proxy = ((m, r), (r, n)) if m >= n else ((n, r), (m, r))
        return jnp.zeros(proj, proj_dt), jnp.zeros(proxy, dt)

    def init_fn(params):
        if not jax.tree.leaves(params):
            return GaLoreState(zero_count(), base.init(params), params)
        out = jax.tree.map(shapes, params, dim_nums_of(params), is_leaf=_is_dim_nums_leaf)
        projectors, proxies = jax.tree.transpose(
            jax.tree.structure(params), jax.tree.structure((0, 0)), out)
        return GaLoreState(zero_count(), base.init(proxies), projectors)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        refresh = state.count % update_proj_gap == 0
        dim_nums = dim_nums_of(updates)

        def project(g, proj, dn):
            if dn is None:
                return g, proj
            if jnp.iscomplexobj(g):
                raise TypeError(
                    f"galore projects real matrices (an SVD of the gradient), got a complex "
                    f"{g.dtype} leaf of shape {g.shape}; optax.contrib.galore would drop its "
                    "imaginary part. Run GaLore on the real split "
                    "(gradtx.contrib.split_real_and_imaginary) or mask the leaf out"
                )
            to_2d, _ = _reshapes(g, dn)
            g2 = to_2d(g)
            m, n = g2.shape
            r = min(rank, m, n)

            def fresh():
                u, _, vh = jnp.linalg.svd(g2.astype(jnp.float32), full_matrices=False)
                basis = u[:, :r] if m >= n else vh[:r, :].T
                return basis.astype(proj.dtype)

            if isinstance(refresh, jax.core.Tracer):
                new = jax.lax.cond(refresh, fresh, lambda: proj)
            else:  # eager: branch in Python (a lax.cond of fresh closures compiles per call)
                new = fresh() if refresh else proj
            return (new.T @ g2 if m >= n else g2 @ new), new

        def back(low, proj, g, dn):
            if dn is None:
                return low
            to_2d, from_2d = _reshapes(g, dn)
            m, n = to_2d(g).shape
            full = proj @ low if m >= n else low @ proj.T
            return (scale * from_2d(full)).astype(g.dtype)

        out = jax.tree.map(project, updates, state.projector, dim_nums, is_leaf=_is_dim_nums_leaf)
        low, projectors = jax.tree.transpose(
            jax.tree.structure(updates), jax.tree.structure((0, 0)), out)
        low_updates, base_state = base.update(low, state.base_optimizer_state, None)
        full = jax.tree.map(back, low_updates, projectors, updates, dim_nums,
                            is_leaf=_is_dim_nums_leaf)
        return full, GaLoreState(safe_increment(state.count), base_state, projectors)

    return GradientTransformation(init_fn, update_fn)


def galore(
    learning_rate: ScalarOrSchedule,
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: float = 1.0,
    base_optimizer: GradientTransformation | None = None,
    weight_decay: float = 0.0,
    mask: Any | Callable[[Any], Any] | None = None,
    weight_dimension_numbers: Any = None,
) -> GradientTransformation:
    r"""GaLore: full-parameter training with the optimiser state of a low-rank subspace.

    :func:`scale_by_galore`, decoupled weight decay, then the learning rate (optax's
    chain, signature, defaults and numbers): with the default Adam this is AdamW whose
    moments are :math:`r \times n` per matrix instead of :math:`m \times n`.

    Args:
        learning_rate: a float ``>= 0`` or a schedule.
        rank: (default 128).
        update_proj_gap: (default 200).
        scale: (default 1.0; the authors use 0.25).
        base_optimizer: (default ``None``: ``scale_by_adam()``).
        weight_decay: ``>= 0`` (default 0.0).
        mask: which leaves decay (default ``None``: all).
        weight_dimension_numbers: (default ``None``: the 2-D leaves).

    Returns:
        A :class:`gradtx.GradientTransformation`; state
        ``(GaLoreState, weight-decay state, lr state)``.

    Raises:
        TypeError, ValueError: as :func:`scale_by_galore`; a bad learning rate.

    Reference: Zhao et al., ICML 2024 (arXiv:2403.03507).

    Example:
        >>> import jax, jax.numpy as jnp, gradtx, gradtx.contrib
        >>> opt = gradtx.contrib.galore(0.1, rank=1)
        >>> params = {"w": jnp.ones((4, 3)), "b": jnp.zeros(3)}
        >>> state = opt.init(params)
        >>> jax.tree.map(jnp.shape, state[0].base_optimizer_state.mu)  # Adam's moments
        {'b': (3,), 'w': (1, 3)}
    """
    return decoupled_decay_chain(
        scale_by_galore(rank, update_proj_gap, scale, base_optimizer, weight_dimension_numbers),
        learning_rate, weight_decay, mask,
    )  # fmt: skip


__all__ = ["GaLoreDimensionNumbers", "GaLoreState", "galore", "scale_by_galore"]
