"""Tree helpers shared by every transform: the moment math lives here, once.

All checks in this module run at trace time (they look at tree structure, shapes and
dtypes, which are static under ``jit``), so they cost nothing in a compiled step.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_INT32_MAX = np.iinfo(np.int32).max


def _describe(path) -> str:
    return jax.tree_util.keystr(path) or "<root>"


def check_same_tree(tree: Any, ref: Any, *, what: str = "updates", against: str = "state") -> None:
    """Raises ``ValueError`` naming the difference if ``tree`` and ``ref`` differ in
    structure or in any leaf's shape."""
    s_tree, s_ref = jax.tree.structure(tree), jax.tree.structure(ref)
    if s_tree != s_ref:
        raise ValueError(
            f"the {what} tree does not match the {against} tree:\n"
            f"  {what}:  {s_tree}\n  {against}: {s_ref}"
        )
    for (path, a), b in zip(
        jax.tree_util.tree_leaves_with_path(tree), jax.tree.leaves(ref), strict=True
    ):
        sa, sb = np.shape(a), np.shape(b)
        if sa != sb:
            raise ValueError(
                f"leaf {_describe(path)} of the {what} has shape {sa} but the {against} "
                f"holds shape {sb}"
            )


def check_float_updates(updates: Any) -> None:
    """Raises ``TypeError`` if a leaf of ``updates`` is not a floating-point array."""
    for path, g in jax.tree_util.tree_leaves_with_path(updates):
        dtype = jnp.result_type(g)
        if not jnp.issubdtype(dtype, jnp.inexact):
            raise TypeError(
                f"gradient leaf {_describe(path)} has dtype {dtype}; gradients must be "
                "floating point (an integer or boolean gradient usually means the "
                "parameter should not be trained: mask it out or cast it)"
            )


def check_updates(updates: Any, like: Any | None = None) -> None:
    """The input check run at the top of every ``update``: float leaves and, if given,
    the same structure and shapes as ``like`` (a per-parameter state tree)."""
    check_float_updates(updates)
    if like is not None:
        check_same_tree(updates, like)


def _filled_like(x: Any, value: Any, dtype: Any | None, per_part: bool = True) -> jax.Array:
    """``value`` in ``x``'s shape and on ``x``'s devices (``dtype`` defaults to ``x``'s).

    ``lax.full_like`` keeps the sharding of a committed array (a parameter sharded over
    a mesh gives a state leaf sharded the same way, so an eager ``init`` does not gather
    the state onto one device) and of a tracer under an explicit-axes mesh
    (``jax.set_mesh``). NumPy arrays, Python scalars, uncommitted arrays and tracers
    give what ``jnp.full(shape, value, dtype)`` gives. The dtype is always passed, so a
    weakly typed input never gives a weakly typed state.

    ``per_part`` (an accumulator's fill) puts a real ``value`` in both parts of a complex
    leaf; without it the value is the complex number ``value`` (``value + 0i``), as
    ``jnp.full_like`` (the public ``gradtx.tree.tree_full_like``).
    """
    dtype = dtype or jnp.result_type(x)
    if (
        per_part
        and jnp.issubdtype(dtype, jnp.complexfloating)
        and not isinstance(value, complex)
    ):
        # a per-element accumulator of a complex parameter holds one value per part (the
        # real split's two coordinates): an initial value v fills both, v + v i
        value = complex(value, value) if not hasattr(value, "dtype") else value * (1 + 1j)
    return jax.lax.full_like(x, value, dtype)


def zeros_like(tree: Any, dtype: Any | None = None) -> Any:
    """Zeros shaped, typed (unless ``dtype`` is given) and sharded like each leaf."""
    return jax.tree.map(lambda x: _filled_like(x, 0, dtype), tree)


def full_like(tree: Any, value: Any, dtype: Any | None = None, *, per_part: bool = True) -> Any:
    """``value`` shaped, typed (unless ``dtype`` is given) and sharded like each leaf; a
    complex leaf gets ``value`` in both parts (an accumulator's fill) unless ``per_part``
    is False (then ``value + 0i``, as ``jnp.full_like``)."""
    return jax.tree.map(lambda x: _filled_like(x, value, dtype, per_part), tree)


def cast_like(tree: Any, like: Any) -> Any:
    return jax.tree.map(lambda x, y: x.astype(jnp.result_type(y)), tree, like)


def cast(tree: Any, dtype: Any | None) -> Any:
    if dtype is None:
        return tree
    return jax.tree.map(lambda x: x.astype(dtype), tree)


def compute_dtype(*xs: Any) -> Any:
    """At least float32: moments of bf16/f16 parameters accumulate in f32 (complex
    inputs give at least complex64)."""
    return jnp.promote_types(jnp.result_type(*xs), jnp.float32)


def real_dtype(dtype: Any) -> Any:
    """The real dtype of the same precision: float32 for complex64, float64 for
    complex128; a real dtype is returned unchanged."""
    dtype = jnp.dtype(dtype)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        return jnp.finfo(dtype).dtype
    return dtype


def abs_sq(x: Any) -> jax.Array:
    """``|x|^2``, always real: ``x * x`` for a real array, ``Re(x)^2 + Im(x)^2`` for a
    complex one (optax's ``numerics.abs_sq``). Every squared magnitude in gradtx (second
    moments, sums of squares, norms) goes through here: ``x**2`` of a complex number is
    complex and rotates the phase, which is not a magnitude."""
    x = jnp.asarray(x)
    if jnp.iscomplexobj(x):
        return jnp.square(x.real) + jnp.square(x.imag)
    return jnp.square(x)


def mean_abs_sq(x: Any) -> jax.Array:
    """The mean of the squared real coordinates of ``x``: ``sum |x|^2 / n`` with ``n`` the
    number of real coordinates (twice the size for a complex array, whose parts are two
    coordinates, as for the real split), in at least float32; always real."""
    x = jnp.asarray(x)
    n = x.size * (2 if jnp.iscomplexobj(x) else 1)
    return jnp.sum(abs_sq(x.astype(compute_dtype(x)))) / max(n, 1)


# --- the dtype policy of optimiser state (docs/dtypes.md, "Optimiser state") ---
#
# A per-parameter accumulator is one of two kinds:
#   MOMENT  - a (weighted) sum of gradients: Adam's mu, momentum's trace, centred
#             RMSProp's E[g]. Complex for a complex parameter.
#   SQUARED - a (weighted) sum of squared magnitudes |g|^2: nu, nu_max,
#             sum_of_squares, E[g^2], E[dx^2]. Always real.
# Its storage dtype is decided here, once:
#   1. an explicit user dtype (mu_dtype, nu_dtype, accumulator_dtype) always wins, adapted
#      to the kind only: a SQUARED accumulator is real (its real dtype), a MOMENT of a
#      complex parameter is complex of at least that precision (bf16 -> complex64);
#   2. otherwise the parameter's dtype, except that float16 becomes float32: float16's
#      range ends at 65504, so g^2 overflows for |g| > 256 and a momentum sum
#      g / (1 - beta) for |g| > 6550 (bfloat16 has float32's range and stays bfloat16,
#      as in optax), and a SQUARED accumulator of a complex parameter is real.
MOMENT = "moment"
SQUARED = "squared"

_WIDENED = {jnp.dtype(jnp.float16): jnp.dtype(jnp.float32)}


def state_dtype(param_dtype: Any, kind: str, requested: Any | None = None) -> Any:
    """The storage dtype of a ``kind`` (:data:`MOMENT` or :data:`SQUARED`) accumulator
    of a parameter of dtype ``param_dtype``; ``requested`` is the user's explicit dtype
    (already validated) or None. See the policy above."""
    if kind not in (MOMENT, SQUARED):
        raise ValueError(f"kind must be {MOMENT!r} or {SQUARED!r}, got {kind!r}")
    param_dtype = jnp.dtype(param_dtype)
    is_complex = jnp.issubdtype(param_dtype, jnp.complexfloating)
    if requested is not None:
        dtype = jnp.dtype(requested)
        if not is_complex:
            return real_dtype(dtype)
        return jnp.promote_types(dtype, jnp.complex64)
    if not jnp.issubdtype(param_dtype, jnp.inexact):
        return param_dtype  # an integer leaf: check_updates rejects its gradient later
    return _WIDENED.get(param_dtype, param_dtype)


def state_like(params: Any, kind: str, requested: Any | None = None, value: Any = 0) -> Any:
    """``value`` shaped and sharded like each leaf of ``params``, in the dtype the
    policy (:func:`state_dtype`) gives for a ``kind`` accumulator of that leaf."""
    return jax.tree.map(
        lambda x: _filled_like(x, value, state_dtype(jnp.result_type(x), kind, requested)),
        params,
    )


def ema(g: jax.Array, m: jax.Array, decay: Any, order: int = 1) -> jax.Array:
    """``decay * m + (1 - decay) * g`` (``order=1``) or ``... * |g|^2`` (``order=2``,
    real for complex ``g``) for one array, in at least float32."""
    if order == 2:
        g = abs_sq(g.astype(compute_dtype(g)))
    elif order != 1:
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    dt = compute_dtype(g, m)
    g, m = g.astype(dt), m.astype(dt)
    return (1 - decay) * g + decay * m


def update_moment(updates: Any, moments: Any, decay: Any, order: int = 1) -> Any:
    """The exponential moving average of ``g`` (``order=1``) or ``|g|^2`` (``order=2``),
    leaf by leaf."""
    return jax.tree.map(lambda g, m: ema(g, m, decay, order), updates, moments)


def bias_correction(decay: Any, count: jax.Array) -> jax.Array:
    """``1 - decay**count`` in float32 (in bf16 ``decay**t`` rounds to 1 early)."""
    return 1 - jnp.asarray(decay, jnp.float32) ** count.astype(jnp.float32)


def guarded_quotient(numerator: Any, denominator: Any) -> Any:
    """``numerator / denominator``, and 0 where the denominator is 0 (only reached with
    all of the denominator's terms 0, where the numerator, a moment of gradients that have
    been 0 so far, is 0 too): ``0 / 0 = NaN`` becomes the 0 the math gives. Equal to the
    plain quotient wherever the denominator is positive."""
    ok = denominator > 0
    return jnp.where(ok, numerator / jnp.where(ok, denominator, 1), 0)


def safe_increment(count: jax.Array) -> jax.Array:
    r"""Adds one to a step counter, saturating at the largest int32 instead of wrapping.

    .. math::
        c' = \begin{cases} c + 1 & c < 2^{31} - 1 \\ 2^{31} - 1 & \text{otherwise}
        \end{cases}

    ``count + 1`` for an int32 counter, saturating at ``2**31 - 1`` instead of
    wrapping to a negative number (which would make bias corrections NaN). Every
    ``count`` field of a gradtx state is advanced through here, as optax's
    ``numerics.safe_increment`` (``optax.safe_increment``) does for its states.

    Args:
        count: the counter, an integer array (normally shape ``()``, dtype int32); any
            shape works elementwise.

    Returns:
        A ``jax.Array`` of ``count``'s shape and dtype: ``count + 1``, or ``2**31 - 1``
        where ``count`` already holds it.

    Source: optax's ``safe_increment`` (``optax/_src/numerics.py``).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> int(gradtx.safe_increment(jnp.asarray(41, jnp.int32)))
        42
        >>> int(gradtx.safe_increment(jnp.asarray(2**31 - 1, jnp.int32)))
        2147483647
    """
    return jnp.where(count < _INT32_MAX, count + 1, jnp.asarray(_INT32_MAX, count.dtype))


def zero_count() -> jax.Array:
    return jnp.zeros([], jnp.int32)


def sum_of_squares(tree: Any) -> jax.Array:
    """``sum |x|^2`` over every element of every leaf, accumulated in (at least) float32
    and real for complex leaves."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.zeros([], jnp.float32)
    return sum(jnp.sum(abs_sq(jnp.asarray(x).astype(compute_dtype(x)))) for x in leaves)


def global_norm(updates: Any) -> jax.Array:
    r"""The Euclidean norm of a whole pytree, as if all its leaves were one flat vector.

    .. math::
        \lVert u \rVert = \sqrt{\textstyle\sum_{\ell} \sum_i |u_{\ell,i}|^2}

    ``sqrt(sum |x|^2)`` over every element of every leaf of ``updates`` (optax's
    parameter name; any pytree; a complex element counts as the pair ``(Re x, Im x)``),
    accumulated in float32 (or the leaves' wider dtype); always real. An empty tree has
    norm 0.

    When the sum of squares overflows (finite elements above ~1.8e19 in float32) the
    norm is recomputed as ``a * sqrt(sum(|x / a|^2))`` with ``a = max |x|`` (one more
    pass, taken only then, through ``lax.cond``), so a huge but finite gradient has a
    finite norm instead of ``inf`` (which clipping would turn into a zero update).
    This differs from ``optax.global_norm``, which returns ``inf`` there. A NaN or Inf
    element gives a NaN or Inf norm.

    Args:
        updates: any pytree of arrays (floating, complex or integer, any shapes).

    Returns:
        A real scalar ``jax.Array`` (shape ``()``, at least float32; float64 for float64
        leaves).

    Source: ``optax.global_norm`` (``optax/_src/linear_algebra.py``).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> float(gradtx.global_norm({"a": jnp.array([3.0]), "b": jnp.array([[4.0]])}))
        5.0
        >>> f"{float(gradtx.global_norm([jnp.array([3e30, 4e30])])):.4g}"  # not inf
        '5e+30'
        >>> float(gradtx.global_norm(jnp.array([3.0 + 4.0j])))
        5.0
    """
    leaves = jax.tree.leaves(updates)
    if not leaves:
        return jnp.zeros([], jnp.float32)
    leaves = [jnp.asarray(x).astype(compute_dtype(x)) for x in leaves]
    sq = sum(jnp.sum(abs_sq(x)) for x in leaves)
    # module-level branches with the leaves as operands: lax.cond caches their jaxprs, so
    # an eager call (no jit) reuses its compiled cond instead of tracing and compiling a
    # new one every call (a fresh closure per call cost ~50 ms a step eagerly)
    return jax.lax.cond(jnp.isposinf(sq), _rescaled_norm, _norm_from_sq, sq, leaves)


def _norm_from_sq(sq: jax.Array, leaves: list[jax.Array]) -> jax.Array:
    del leaves
    return jnp.sqrt(sq)


def _rescaled_norm(sq: jax.Array, leaves: list[jax.Array]) -> jax.Array:
    """``a * sqrt(sum |x / a|^2)`` with ``a = max |x|``: the norm when ``sq`` overflowed."""
    a = functools.reduce(jnp.maximum, [jnp.max(jnp.abs(x)) for x in leaves]).astype(sq.dtype)
    safe = jnp.where(jnp.isfinite(a) & (a > 0), a, 1.0)
    r = a * jnp.sqrt(sum(jnp.sum(abs_sq(x / safe)) for x in leaves))
    return jnp.where(jnp.isfinite(a), r, a).astype(sq.dtype)


def map_outputs(fn, tree: Any, *rest: Any, empty: tuple[Any, ...] | None = None) -> tuple[Any, ...]:
    """Like ``jax.tree.map`` for a ``fn`` that returns a tuple: returns a tuple of trees.

    One pass over the leaves computes every output of a per-array update rule (the new
    updates and each new state leaf), so the math of one optimiser is written once, per
    array, as in the equations. A tree without leaves (an empty dict of params) has no
    outputs to collect: the result is ``empty``, by default the input trees themselves
    (right when ``fn`` maps ``(updates, state...)`` to their new values).
    """
    treedef = jax.tree.structure(tree)
    out = treedef.flatten_up_to(jax.tree.map(_split_complex(fn), tree, *rest))
    if not out:
        return (tree, *rest) if empty is None else tuple(empty)
    return tuple(treedef.unflatten(list(col)) for col in zip(*out, strict=True))


def _complex_of(real: Any) -> Any:
    return jnp.complex128 if jnp.dtype(real) == jnp.float64 else jnp.complex64


def _split_complex(fn):
    """``fn`` (a per-array rule) applied to a complex parameter as to the pair of real
    parameters ``(Re z, Im z)``: every complex array shaped like the first argument is
    viewed as a real array with a trailing axis of 2 (real and imaginary parts), the rule
    runs on those views, and each output of the view's shape is put back together as a
    complex array. So every elementwise rule (second moments, signs, maxima, clipping of
    step sizes) treats the two parts as two real coordinates, as torch does
    (``view_as_real``) and as the issue's property asks: a complex run equals the run on
    the real split. Real arrays are passed through unchanged."""

    def wrapped(*xs):
        lead = xs[0]
        if not (hasattr(lead, "dtype") and jnp.iscomplexobj(lead)):
            return fn(*xs)
        shape = jnp.shape(lead)

        def view(x):
            if hasattr(x, "dtype") and jnp.iscomplexobj(x) and jnp.shape(x) == shape:
                return jnp.stack([x.real, x.imag], axis=-1)
            return x

        outs = fn(*(view(x) for x in xs))
        back = []
        for o in outs:
            if hasattr(o, "shape") and o.shape == (*shape, 2):
                o = jax.lax.complex(o[..., 0], o[..., 1]).astype(_complex_of(o.dtype))
            back.append(o)
        return tuple(back)

    return wrapped
