"""Arithmetic and reductions on pytrees (optax 0.2.8's ``tree_utils`` math; the moment
math is in :mod:`gradtx.tree._moments`).

Same names, signatures and numbers as ``optax.tree_utils.tree_*`` (source:
``optax/tree_utils/_tree_math.py``). Complex leaves: norms and the per-element-norm moment
use :math:`|x|^2 = \\Re(x)^2 + \\Im(x)^2`; :func:`tree_vdot` conjugates its first
argument. The moment math reuses :mod:`gradtx.tree._core` (computed in at least float32, then
returned in the dtype optax returns).
"""

from __future__ import annotations

import functools
import operator
from typing import Any

import jax
import jax.numpy as jnp

from gradtx.tree import _core as _tree


def tree_add(tree_x: Any, tree_y: Any, *other_trees: Any) -> Any:
    r"""Leaf-wise sum :math:`x + y + \dots` of trees of the same structure.

    Args:
      tree_x, tree_y, \*other_trees: pytrees of the same structure (array leaves).

    Returns:
      The tree of sums.

    Raises:
      ValueError: the structures differ (from ``jax.tree.map``).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.tree.tree_add({"a": jnp.ones(2)}, {"a": jnp.ones(2)})["a"].tolist()
      [2.0, 2.0]
    """
    trees = [tree_x, tree_y, *other_trees]
    return jax.tree.map(lambda *leaves: sum(leaves), *trees)


def tree_sub(tree_x: Any, tree_y: Any) -> Any:
    r"""Leaf-wise difference :math:`x - y`.

    Args:
      tree_x, tree_y: pytrees of the same structure.

    Returns:
      The tree of differences.

    Raises:
      ValueError: the structures differ.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.tree.tree_sub([jnp.ones(2)], [jnp.ones(2)])[0].tolist()
      [0.0, 0.0]
    """
    return jax.tree.map(operator.sub, tree_x, tree_y)


def tree_mul(tree_x: Any, tree_y: Any) -> Any:
    r"""Leaf-wise product :math:`x \odot y`.

    Args:
      tree_x, tree_y: pytrees of the same structure.

    Returns:
      The tree of products.

    Raises:
      ValueError: the structures differ.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.tree.tree_mul([jnp.full(2, 2.0)], [jnp.full(2, 3.0)])[0].tolist()
      [6.0, 6.0]
    """
    return jax.tree.map(operator.mul, tree_x, tree_y)


def tree_div(tree_x: Any, tree_y: Any) -> Any:
    r"""Leaf-wise quotient :math:`x / y`.

    Args:
      tree_x, tree_y: pytrees of the same structure.

    Returns:
      The tree of quotients.

    Raises:
      ValueError: the structures differ.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.tree.tree_div([jnp.full(2, 3.0)], [jnp.full(2, 2.0)])[0].tolist()
      [1.5, 1.5]
    """
    return jax.tree.map(operator.truediv, tree_x, tree_y)


def tree_scale(scalar: Any, tree: Any) -> Any:
    r"""Every leaf times a scalar: :math:`\alpha x`.

    Args:
      scalar: :math:`\alpha`, a number or scalar array.
      tree: a pytree.

    Returns:
      The scaled tree.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.tree.tree_scale(0.5, [jnp.ones(2)])[0].tolist()
      [0.5, 0.5]
    """
    return jax.tree.map(lambda x: scalar * x, tree)


def tree_add_scale(tree_x: Any, scalar: Any, tree_y: Any) -> Any:
    r""":math:`x + \alpha y` leaf by leaf (``None`` leaves of ``tree_x`` stay ``None``).

    Args:
      tree_x: a pytree :math:`x`.
      scalar: :math:`\alpha`.
      tree_y: a pytree :math:`y` of the same structure.

    Returns:
      The tree :math:`x + \alpha y`.

    Raises:
      ValueError: the structures differ.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.tree.tree_add_scale([jnp.ones(2)], 2.0, [jnp.ones(2)])[0].tolist()
      [3.0, 3.0]
    """
    scalar = jnp.asarray(scalar)
    return jax.tree.map(
        lambda x, y: None if x is None else x + scalar * y,
        tree_x,
        tree_y,
        is_leaf=lambda x: x is None,
    )


def _vdot(a: Any, b: Any) -> jax.Array:
    a, b = jnp.asarray(a), jnp.asarray(b)
    return jnp.vdot(a, b, precision=jax.lax.Precision.HIGHEST)


def tree_vdot(tree_x: Any, tree_y: Any) -> Any:
    r"""The inner product :math:`\langle x, y\rangle = \sum_i \bar x_i y_i` over all leaves
    (the first argument conjugated, as ``jnp.vdot``).

    Args:
      tree_x, tree_y: pytrees of the same structure and leaf shapes.

    Returns:
      A scalar (``0`` for empty trees).

    Raises:
      ValueError: the structures differ.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> float(gradtx.tree.tree_vdot([jnp.arange(3.0)], [jnp.ones(3)]))
      3.0
    """
    vdots = jax.tree.map(_vdot, tree_x, tree_y)
    return jax.tree.reduce(operator.add, vdots, initializer=0)


def tree_sum(tree: Any, associative_reduction: bool = False) -> Any:
    r"""The sum of every element of every leaf.

    Args:
      tree: a pytree.
      associative_reduction: sum the per-leaf sums with
        ``jax.tree.reduce_associative`` (a balanced tree of additions) instead of left
        to right (default False).

    Returns:
      A scalar (``0`` for empty trees).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> float(gradtx.tree.tree_sum({"a": jnp.ones(3), "b": jnp.ones(2)}))
      5.0
    """
    sums = jax.tree.map(jnp.sum, tree)
    if associative_reduction:
        return jax.tree.reduce_associative(operator.add, sums, identity=0)
    return jax.tree.reduce(operator.add, sums, initializer=0)


def _reduce(tree: Any, fn, combine, initial: float) -> Any:
    parts = jax.tree.map(lambda x: None if jnp.size(x) == 0 else fn(x), tree)
    return jax.tree.reduce(combine, parts, initializer=initial)


def tree_max(tree: Any) -> Any:
    r"""The largest element over all leaves (``-inf`` for an empty tree; empty leaves are
    skipped).

    Args:
      tree: a pytree of real arrays.

    Returns:
      A scalar.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> float(gradtx.tree.tree_max([jnp.arange(3.0), jnp.ones(1)]))
      2.0
    """
    return _reduce(tree, jnp.max, jnp.maximum, -float("inf"))


def tree_min(tree: Any) -> Any:
    r"""The smallest element over all leaves (``inf`` for an empty tree).

    Args:
      tree: a pytree of real arrays.

    Returns:
      A scalar.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> float(gradtx.tree.tree_min([jnp.arange(3.0), jnp.ones(1)]))
      0.0
    """
    return _reduce(tree, jnp.min, jnp.minimum, float("inf"))


def tree_size(tree: Any) -> int:
    r"""The number of elements over all leaves, :math:`\sum_i \mathrm{size}(x_i)`.

    Args:
      tree: a pytree.

    Returns:
      A Python int.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.tree.tree_size({"w": jnp.ones((2, 3)), "b": jnp.ones(3)})
      9
    """
    return sum(jnp.size(leaf) for leaf in jax.tree.leaves(tree))


def tree_conj(tree: Any) -> Any:
    r"""The complex conjugate :math:`\bar x` of every leaf.

    Args:
      tree: a pytree.

    Returns:
      The conjugated tree (real leaves unchanged).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> complex(gradtx.tree.tree_conj([jnp.array(1 + 2j)])[0])
      (1-2j)
    """
    return jax.tree.map(jnp.conj, tree)


def tree_real(tree: Any) -> Any:
    r"""The real part :math:`\Re x` of every leaf.

    Args:
      tree: a pytree.

    Returns:
      The tree of real parts.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> float(gradtx.tree.tree_real([jnp.array(1 + 2j)])[0])
      1.0
    """
    return jax.tree.map(jnp.real, tree)


def tree_norm(tree: Any, ord: int | str | float | None = None, squared: bool = False) -> jax.Array:  # noqa: A002
    r"""The norm of the tree seen as one vector: :math:`\|x\|_2 =
    \sqrt{\sum_i |x_i|^2}` (``ord=None`` or 2), :math:`\sum_i |x_i|` (``ord=1``) or
    :math:`\max_i |x_i|` (``ord=inf``, ``"inf"``, ``"infinity"``).

    Args:
      tree: a pytree (complex leaves use :math:`|x|^2 = \Re(x)^2 + \Im(x)^2`).
      ord: the norm's order (default ``None``, the 2-norm).
      squared: return the norm squared (default False).

    Returns:
      A scalar array.

    Raises:
      ValueError: an unsupported ``ord``.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> float(gradtx.tree.tree_norm({"a": jnp.array([3.0]), "b": jnp.array([4.0])}))
      5.0
    """
    if ord is None or (not isinstance(ord, str) and ord == 2):
        sqnorm = tree_sum(jax.tree.map(_tree.abs_sq, tree))
        return jnp.array(sqnorm if squared else jnp.sqrt(sqnorm))
    if not isinstance(ord, str) and ord == 1:
        out = tree_sum(jax.tree.map(jnp.abs, tree))
    elif ord in ("inf", "infinity") or (not isinstance(ord, str) and ord == jnp.inf):
        out = tree_max(jax.tree.map(jnp.abs, tree))
    else:
        raise ValueError(f"ord must be None, 1, 2, inf, 'inf' or 'infinity', got {ord!r}")
    return jnp.array(_tree.abs_sq(out) if squared else out)


def tree_batch_shape(tree: Any, shape: tuple[int, ...] = ()) -> Any:
    r"""Every leaf broadcast to ``(*shape, *leaf.shape)``.

    Args:
      tree: a pytree.
      shape: the leading batch shape (default ``()``).

    Returns:
      The broadcast tree.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.tree.tree_batch_shape([jnp.ones(2)], (3,))[0].shape
      (3, 2)
    """
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (*shape, *jnp.shape(x))), tree)


def tree_zeros_like(tree: Any, dtype: Any | None = None) -> Any:
    r"""Zeros shaped (and sharded) like every leaf.

    Args:
      tree: a pytree.
      dtype: the leaves' dtype (default ``None``: each leaf's own).

    Returns:
      The tree of zeros.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.tree.tree_zeros_like([jnp.ones(2)])[0].tolist()
      [0.0, 0.0]
    """
    return _tree.zeros_like(tree, dtype)


def tree_ones_like(tree: Any, dtype: Any | None = None) -> Any:
    r"""Ones shaped (and sharded) like every leaf.

    Args:
      tree: a pytree.
      dtype: the leaves' dtype (default ``None``: each leaf's own).

    Returns:
      The tree of ones (``1 + 0i`` in a complex leaf, as ``optax.tree.ones_like``).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.tree.tree_ones_like([jnp.zeros(2)])[0].tolist()
      [1.0, 1.0]
      >>> gradtx.tree.tree_ones_like([jnp.zeros(1, jnp.complex64)])[0].tolist()
      [(1+0j)]
    """
    return _tree.full_like(tree, 1, dtype, per_part=False)  # 1 + 0i, as optax


def tree_full_like(tree: Any, fill_value: Any, dtype: Any | None = None) -> Any:
    r"""``fill_value`` shaped (and sharded) like every leaf.

    Args:
      tree: a pytree.
      fill_value: the value.
      dtype: the leaves' dtype (default ``None``: each leaf's own).

    Returns:
      The filled tree (a complex leaf holds ``fill_value`` as a complex number: a real
      ``fill_value`` gives ``fill_value + 0i``, as ``jnp.full_like``).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.tree.tree_full_like([jnp.zeros(2)], 3.0)[0].tolist()
      [3.0, 3.0]
    """
    return _tree.full_like(tree, fill_value, dtype, per_part=False)


def tree_clip(tree: Any, min_value: Any | None = None, max_value: Any | None = None) -> Any:
    r"""Every element clipped to :math:`[\text{min\_value}, \text{max\_value}]`.

    Args:
      tree: a pytree.
      min_value: lower bound (default ``None``: none).
      max_value: upper bound (default ``None``: none).

    Returns:
      The clipped tree.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.tree.tree_clip([jnp.array([-2.0, 0.5, 2.0])], -1.0, 1.0)[0].tolist()
      [-1.0, 0.5, 1.0]
    """
    return jax.tree.map(lambda g: jnp.clip(g, min_value, max_value), tree)


def tree_where(condition: Any, tree_x: Any, tree_y: Any) -> Any:
    r"""``jnp.where(condition, x, y)`` leaf by leaf (one condition for all leaves).

    Args:
      condition: a boolean array broadcastable to every leaf.
      tree_x, tree_y: pytrees of the same structure.

    Returns:
      The selected tree.

    Raises:
      ValueError: the structures differ.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.tree.tree_where(True, [jnp.ones(1)], [jnp.zeros(1)])[0].tolist()
      [1.0]
    """
    return jax.tree.map(lambda x, y: jnp.where(condition, x, y), tree_x, tree_y)


def tree_allclose(
    a: Any, b: Any, rtol: Any = 1e-05, atol: Any = 1e-08, equal_nan: bool = False
) -> Any:
    r"""``jnp.allclose`` over every pair of leaves, combined with ``and``.

    Args:
      a, b: pytrees of the same structure.
      rtol, atol: tolerances (defaults ``1e-05``, ``1e-08``), as ``jnp.allclose``.
      equal_nan: NaNs compare equal (default False).

    Returns:
      A boolean scalar (``True`` for empty trees).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> bool(gradtx.tree.tree_allclose([jnp.ones(2)], [jnp.ones(2) + 1e-9]))
      True
    """
    tree = jax.tree.map(
        lambda x, y: jnp.allclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan), a, b
    )
    return functools.reduce(operator.and_, jax.tree.leaves(tree), True)
