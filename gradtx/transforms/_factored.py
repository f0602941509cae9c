"""Factored second moments (Adafactor) and clipping by a block's RMS.

For a matrix-like leaf whose two largest dimensions are both at least
``min_dim_size_to_factor``, the second moment is kept as a row vector and a column
vector (memory ``n + m`` instead of ``n m``); other leaves keep a full second moment.
The state layout, defaults and numbers are optax's (``optax.scale_by_factored_rms``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx.base import GradientTransformation
from gradtx.tree._core import (
    MOMENT,
    SQUARED,
    abs_sq,
    check_updates,
    compute_dtype,
    ema,
    map_outputs,
    safe_increment,
    state_dtype,
    state_like,
    zero_count,
)


class FactoredState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32: updates made so far
    # v_row, v_col, v: real, dtype the state policy (float32 for float16 params)
    v_row: Any  # per leaf: row second moment (shape without the column axis) or (1,)
    v_col: Any  # per leaf: column second moment (shape without the row axis) or (1,)
    v: Any  # per leaf: full second moment (unfactored leaves) or (1,)


def _decay_rate_pow(i: Any, exponent: Any = 0.8) -> jax.Array:
    """Adafactor's second-moment decay ``1 - (i + 1)^(-exponent)`` at step ``i``."""
    t = jnp.array(i + 1, jnp.float32)
    return 1.0 - t ** (-exponent)


def _factored_dims(shape: tuple[int, ...], factored: bool, min_dim_size_to_factor: int):
    """``(d1, d0)``: the second-largest and largest axes, or None when the leaf is kept
    unfactored (fewer than 2 axes, or the second-largest is below the threshold)."""
    if not factored or len(shape) < 2:
        return None
    order = np.argsort(shape)
    if shape[order[-2]] < min_dim_size_to_factor:
        return None
    return int(order[-2]), int(order[-1])


def scale_by_factored_rms(
    factored: bool = True,
    decay_rate: float = 0.8,
    step_offset: int = 0,
    min_dim_size_to_factor: int = 128,
    epsilon: float = 1e-30,
    decay_rate_fn: Callable[[Any, Any], Any] = _decay_rate_pow,
) -> GradientTransformation:
    r"""Scales by a factored estimate of the gradient's RMS (Adafactor's core).

    With ``\hat\beta_t = 1 - (t - s)^{-c}`` (``decay_rate_fn(t - 1 - s, c)``, ``c`` the
    ``decay_rate``, ``s`` the ``step_offset``), for a factored leaf with row axis ``d1``
    and column axis ``d0`` (its two largest axes):

    .. math::
        R_t = \hat\beta_t R_{t-1} + (1-\hat\beta_t)\,\mathrm{mean}_{d0}(g_t^2 + \epsilon),
        \quad
        C_t = \hat\beta_t C_{t-1} + (1-\hat\beta_t)\,\mathrm{mean}_{d1}(g_t^2 + \epsilon),
        \quad
        u_t = g_t \Big/ \sqrt{\frac{R_t}{\mathrm{mean}(R_t)} \otimes C_t}

    and for any other leaf ``v_t = \hat\beta_t v_{t-1} + (1-\hat\beta_t)(g_t^2 + \epsilon)``,
    ``u_t = g_t / \sqrt{v_t}``. Equal to ``optax.scale_by_factored_rms`` (state
    ``FactoredState(count, v_row, v_col, v)``, unused entries of shape ``(1,)``).

    Args:
        factored: factor the second moment of matrix-like leaves (default True).
        decay_rate: the exponent ``c`` of the decay schedule (default 0.8), ``>= 0``.
        step_offset: ``s``, the step a fine-tuning run restarts the schedule from
            (default 0).
        min_dim_size_to_factor: factor a leaf only if its second-largest dimension is at
            least this (default 128), a positive integer.
        epsilon: added to ``g^2`` (default 1e-30), ``>= 0``.
        decay_rate_fn: ``(step, decay_rate) -> beta_hat`` (default: Adafactor's
            ``1 - (step + 1)^(-decay_rate)``).

    Returns:
        A :class:`gradtx.GradientTransformation` with a :class:`FactoredState`.

    Raises:
        ValueError: a negative ``decay_rate`` or ``epsilon``, a non-positive
            ``min_dim_size_to_factor``.

    Reference: Shazeer & Stern, *Adafactor: Adaptive Learning Rates with Sublinear
    Memory Cost*, ICML 2018 (Algorithms 4 and 5).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_factored_rms(min_dim_size_to_factor=2)
        >>> params = {"w": jnp.ones((2, 3))}
        >>> state = tx.init(params)
        >>> [state.v_row["w"].shape, state.v_col["w"].shape, state.v["w"].shape]
        [(2,), (3,), (1,)]
        >>> u, state = tx.update({"w": jnp.full((2, 3), 2.0)}, state, params)
        >>> u["w"][0].tolist()  # g / |g| on the first step
        [1.0, 1.0, 1.0]
    """
    _checks.non_negative("decay_rate", decay_rate)
    _checks.non_negative("epsilon", epsilon)
    _checks.positive_int("min_dim_size_to_factor", min_dim_size_to_factor)
    if not callable(decay_rate_fn):
        raise TypeError(f"decay_rate_fn must be callable, got {decay_rate_fn!r}")

    def init_fn(params):
        def one(p):
            p = jnp.asarray(p)
            # the state dtype policy: float32 for float16 params (g^2 overflows float16
            # for |g| > 256, and epsilon = 1e-30 is 0 there)
            dt = state_dtype(jnp.result_type(p), SQUARED)
            dims = _factored_dims(p.shape, factored, min_dim_size_to_factor)
            small = jnp.zeros((1,), dt)
            if dims is None:  # own buffers: a donated state must not hold one twice
                return small, jnp.zeros((1,), dt), jnp.zeros(p.shape, dt)
            d1, d0 = dims
            row = jnp.zeros(np.delete(p.shape, d0).tolist(), dt)
            col = jnp.zeros(np.delete(p.shape, d1).tolist(), dt)
            return row, col, small

        out = map_outputs(one, params, empty=(params, params, params))
        return FactoredState(count=zero_count(), v_row=out[0], v_col=out[1], v=out[2])

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates)
        if jax.tree.structure(updates) != jax.tree.structure(state.v):
            raise ValueError(
                "the updates tree does not match the state tree:\n"
                f"  updates: {jax.tree.structure(updates)}\n"
                f"  state:   {jax.tree.structure(state.v)}"
            )
        beta = decay_rate_fn(state.count - step_offset, decay_rate)

        def one(g, v_row, v_col, v):
            dt = compute_dtype(g)
            sdt = jnp.result_type(v)
            g2 = abs_sq(g.astype(dt)) + epsilon
            dims = _factored_dims(g.shape, factored, min_dim_size_to_factor)
            if dims is None:
                v_new = (beta * v + (1.0 - beta) * g2).astype(sdt)
                u = g * v_new.astype(dt) ** -0.5
                return u.astype(g.dtype), v_row, v_col, v_new
            d1, d0 = dims
            r = (beta * v_row + (1.0 - beta) * jnp.mean(g2, axis=d0)).astype(sdt)
            c = (beta * v_col + (1.0 - beta) * jnp.mean(g2, axis=d1)).astype(sdt)
            reduced_d1 = d1 - 1 if d1 > d0 else d1
            row_factor = (r / jnp.mean(r, axis=reduced_d1, keepdims=True)).astype(dt) ** -0.5
            col_factor = c.astype(dt) ** -0.5
            u = g * jnp.expand_dims(row_factor, d0) * jnp.expand_dims(col_factor, d1)
            return u.astype(g.dtype), r, c, v

        trees = (updates, state.v_row, state.v_col, state.v)
        out = map_outputs(one, *trees)
        return out[0], FactoredState(
            count=safe_increment(state.count), v_row=out[1], v_col=out[2], v=out[3]
        )

    return GradientTransformation(init_fn, update_fn)


__all__ = ["FactoredState", "scale_by_factored_rms"]


class ScaleBySM3State(NamedTuple):
    mu: Any  # per leaf: a list of one accumulator per axis (shape (n_i,)), as optax's
    nu: Any  # the momentum of the scaled gradient, like params
    # (both in the state policy's dtype: float32 for float16 params)


def scale_by_sm3(b1: float = 0.9, b2: float = 1.0, eps: float = 1e-8) -> GradientTransformation:
    r"""SM3: an Adagrad-like second moment kept as one vector per axis (the cover of
    each row, column, ... of a leaf), then momentum.

    For a leaf of rank ``k >= 2`` with per-axis accumulators ``a^{(i)}``:

    .. math::
        \nu_t = c\, g_t^2 + \beta_2 \min_i a^{(i)}_{t-1}[\text{index along } i],\quad
        a^{(i)}_t = \max_{\text{axes} \ne i} \nu_t,\quad
        \tilde g_t = \frac{g_t}{\sqrt{\nu_t + \epsilon}}\ (0 \text{ where } \nu_t = 0),\quad
        u_t = \beta_1 u_{t-1} + (1-\beta_1)\,\tilde g_t

    with ``c = 1 - beta_2`` (``c = 1`` when ``beta_2 = 1``, the paper's sum). A vector
    keeps one full accumulator (Adagrad). Equal to ``optax.scale_by_sm3`` (state
    ``ScaleBySM3State(mu, nu)``, ``mu`` a list of vectors per leaf). optax fails on a
    0-d leaf; gradtx keeps one scalar accumulator for it (``mu = [a]``, Adagrad).

    Args:
        b1: momentum decay (default 0.9), in ``[0, 1)``.
        b2: accumulator decay (default 1.0: a sum, the paper's), in ``[0, 1]``.
        eps: added inside the square root (default 1e-8), ``>= 0``.

    Returns:
        A :class:`gradtx.GradientTransformation` with a :class:`ScaleBySM3State`.

    Raises:
        ValueError: a hyperparameter out of range; complex params (at init).

    Reference: Anil, Gupta, Koren & Singer, *Memory-Efficient Adaptive Optimization*,
    NeurIPS 2019.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_sm3()
        >>> state = tx.init({"w": jnp.zeros((2, 3))})
        >>> [a.shape for a in state.mu["w"]]
        [(2,), (3,)]
        >>> u, state = tx.update({"w": jnp.full((2, 3), 2.0)}, state)
        >>> round(u["w"][0, 0].item(), 6)  # (1 - b1) * g / |g|
        0.1
    """
    _checks.decay_rate("b1", b1)
    _checks.check_range("b2", b2, 0.0, 1.0)
    _checks.non_negative("eps", eps)
    coeff = 1.0 if b2 == 1.0 else 1.0 - b2

    def init_fn(params):
        for path, p in jax.tree_util.tree_leaves_with_path(params):
            if jnp.iscomplexobj(p):
                raise ValueError(
                    f"scale_by_sm3 does not support complex params, got leaf "
                    f"{jax.tree_util.keystr(path)} of dtype {jnp.result_type(p)}"
                )

        def accumulators(p):
            p = jnp.asarray(p)
            dt = state_dtype(p.dtype, SQUARED)  # the state policy (float32 for float16)
            if p.ndim == 0:
                return [jnp.zeros((), dt)]
            return [jnp.zeros((p.shape[i],), dt) for i in range(p.ndim)]

        return ScaleBySM3State(
            mu=jax.tree.map(accumulators, params), nu=state_like(params, MOMENT)
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_updates(updates, state.nu)

        def one(g, acc, m):
            dt = compute_dtype(g, m)
            g32 = g.astype(dt)
            if g.ndim < 2:
                prev = acc[0].astype(dt)
            else:
                prev = functools.reduce(
                    jnp.minimum,
                    [
                        jnp.reshape(a.astype(dt), [1] * i + [g.shape[i]] + [1] * (g.ndim - i - 1))
                        for i, a in enumerate(acc)
                    ],
                )
            nu_acc = coeff * g32**2 + b2 * prev
            scaled = g32 * jnp.where(nu_acc > 0, jax.lax.rsqrt(nu_acc + eps), 0.0)
            m_new = ema(scaled, m, b1, 1)
            if g.ndim < 2:
                new_acc = [nu_acc.astype(acc[0].dtype)]
            else:
                axes = range(g.ndim)
                new_acc = [
                    jnp.max(nu_acc, axis=tuple(j for j in axes if j != i)).astype(a.dtype)
                    for i, a in enumerate(acc)
                ]
            return m_new.astype(g.dtype), new_acc, m_new.astype(m.dtype)

        treedef = jax.tree.structure(updates)
        accs = treedef.flatten_up_to(state.mu)
        outs = [
            one(g, a, m)
            for g, a, m in zip(treedef.flatten_up_to(updates), accs,
                               treedef.flatten_up_to(state.nu), strict=True)
        ]  # fmt: skip
        u = treedef.unflatten([o[0] for o in outs])
        mu = treedef.unflatten([o[1] for o in outs])
        nu = treedef.unflatten([o[2] for o in outs])
        return u, ScaleBySM3State(mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


__all__ += ["ScaleBySM3State", "scale_by_sm3"]
