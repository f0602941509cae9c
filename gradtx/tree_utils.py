"""optax-compatible alias of :mod:`gradtx.tree`: the names of ``optax.tree_utils``
(``tree_get``, ``tree_set``, ``tree_norm``, ..., :class:`NamedTupleKey`), the same
function objects as ``gradtx.tree.tree_*``.

Example:
  >>> import gradtx
  >>> gradtx.tree_utils.tree_norm is gradtx.tree.norm
  True
"""

from gradtx.tree import *  # noqa: F403
from gradtx.tree import TREE_UTILS_NAMES as __all__  # noqa: F401
