"""Pytree utilities: optax 0.2.8's ``optax.tree`` and ``optax.tree_utils`` in gradtx.

``gradtx.tree`` has both spellings: optax's short names (``gradtx.tree.norm``,
``gradtx.tree.get``, ``gradtx.tree.update_moment``, as ``optax.tree``) and the
``tree_``-prefixed ones (``gradtx.tree.tree_norm``, as ``optax.tree_utils``).
``gradtx.tree_utils`` is the optax-compatible alias with the ``tree_`` names and
:class:`NamedTupleKey` (``import gradtx as optax; optax.tree_utils.tree_get(state,
"learning_rate")``). Same signatures and numbers as optax (tested in
``tests/test_tree_utils.py``); complex leaves use :math:`|x|^2` in norms.

The safe numerics ``safe_norm``, ``safe_root_mean_squares`` and ``safe_int32_increment``
are at the top level (``gradtx.safe_norm``), where optax has them.
"""

from gradtx.tree._casting import tree_cast, tree_cast_like, tree_dtype
from gradtx.tree._math import (
    tree_add,
    tree_add_scale,
    tree_allclose,
    tree_batch_shape,
    tree_clip,
    tree_conj,
    tree_div,
    tree_full_like,
    tree_max,
    tree_min,
    tree_mul,
    tree_norm,
    tree_ones_like,
    tree_real,
    tree_scale,
    tree_size,
    tree_sub,
    tree_sum,
    tree_vdot,
    tree_where,
    tree_zeros_like,
)
from gradtx.tree._moments import (
    tree_bias_correction,
    tree_update_infinity_moment,
    tree_update_moment,
    tree_update_moment_per_elem_norm,
)
from gradtx.tree._random_trees import (
    tree_random_like,
    tree_split_key_like,
    tree_unwrap_random_key_data,
)
from gradtx.tree._state import (
    NamedTupleKey as NamedTupleKey,
)
from gradtx.tree._state import (
    tree_get,
    tree_get_all_with_path,
    tree_map_params,
    tree_set,
)

# optax.tree's short names (the same functions).
cast = tree_cast
cast_like = tree_cast_like
dtype = tree_dtype
random_like = tree_random_like
split_key_like = tree_split_key_like
unwrap_random_key_data = tree_unwrap_random_key_data
get = tree_get
get_all_with_path = tree_get_all_with_path
map_params = tree_map_params
set = tree_set  # noqa: A001
add = tree_add
add_scale = tree_add_scale
allclose = tree_allclose
batch_shape = tree_batch_shape
bias_correction = tree_bias_correction
clip = tree_clip
conj = tree_conj
div = tree_div
full_like = tree_full_like
max = tree_max  # noqa: A001
min = tree_min  # noqa: A001
mul = tree_mul
norm = tree_norm
ones_like = tree_ones_like
real = tree_real
scale = tree_scale
size = tree_size
sub = tree_sub
sum = tree_sum  # noqa: A001
update_infinity_moment = tree_update_infinity_moment
update_moment = tree_update_moment
update_moment_per_elem_norm = tree_update_moment_per_elem_norm
vdot = tree_vdot
where = tree_where
zeros_like = tree_zeros_like

TREE_UTILS_NAMES = sorted(n for n in dir() if n.startswith("tree_")) + ["NamedTupleKey"]
__all__ = sorted(n for n in dir() if not n.startswith("_") and n != "TREE_UTILS_NAMES")
