"""SOAP: Adam in the eigenbasis of Shampoo's preconditioner (Vyas et al. 2024), which
optax does not have, ported from the authors' reference code (github.com/nikhilvyas/SOAP,
``soap.py``) with their defaults and their step order:

1. the first update only accumulates Shampoo's factors ``L = E[G G^T]``, ``R = E[G^T G]``
   (one per axis of a tensor) and takes their eigenbases ``Q`` (``eigh``); it returns a
   zero update (no weight decay either);
2. every later update runs Adam on the gradient rotated into ``Q``'s basis
   (``Q_L^T G Q_R``), with the moments kept in that basis, and rotates the Adam
   direction back;
3. after it the factors are updated, and every ``precondition_frequency`` steps ``Q`` is
   refreshed by one power iteration and a QR decomposition (columns sorted by the
   estimated eigenvalues, ``exp_avg_sq`` permuted with them) and the first moment is
   moved into the new basis.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain
from gradtx.tree._core import (
    MOMENT,
    SQUARED,
    check_float_updates,
    compute_dtype,
    safe_increment,
    state_like,
    zero_count,
)


class ScaleBySoapState(NamedTuple):
    """State of :func:`scale_by_soap`."""

    count: jax.Array  # shape=(), dtype=int32: updates made so far (the first one is a no-op)
    exp_avg: Any  # Adam's first moment in the eigenbasis, shaped like the params
    exp_avg_sq: Any  # Adam's second moment in the eigenbasis, shaped like the params, real
    gg: Any  # per leaf, a tuple of Shampoo factors (d, d), one per preconditioned axis
    q: Any  # per leaf, a tuple of their eigenbases (d, d), same layout as gg


class SoapStepState(NamedTuple):
    """State of the learning-rate and weight-decay step of :func:`soap`."""

    count: jax.Array  # shape=(), dtype=int32: updates made so far (indexes the schedule)


def _merged_shape(shape: tuple[int, ...], max_precond_dim: int) -> tuple[int, ...]:
    """The authors' ``merge_dims``: merge neighbouring axes while the product stays
    ``<= max_precond_dim``."""
    new, cur = [], 1
    for d in shape:
        if cur * d > max_precond_dim:
            if cur > 1:
                new.append(cur)
                cur = d
            else:
                new.append(d)
                cur = 1
        else:
            cur *= d
    if cur > 1 or not new:
        new.append(cur)
    return tuple(new)


def _plan(shape: tuple[int, ...], merge_dims: bool, max_precond_dim: int,
          precondition_1d: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The shape SOAP works on and the axes of it that get a preconditioner."""
    if len(shape) == 1:
        return shape, ((0,) if precondition_1d and shape[0] <= max_precond_dim else ())
    work = _merged_shape(shape, max_precond_dim) if merge_dims else shape
    return work, tuple(i for i, d in enumerate(work) if d <= max_precond_dim)


def _rotate(x: jax.Array, qs: tuple, axes: tuple, back: bool) -> jax.Array:
    """``x`` with each preconditioned axis ``k`` multiplied by ``Q_k^T`` (into the
    eigenbasis) or by ``Q_k`` (``back``)."""
    for q, k in zip(qs, axes, strict=True):
        x = jnp.moveaxis(jnp.tensordot(x, q.T if back else q, axes=([k], [0])), -1, k)
    return x


def _factor(g: jax.Array, k: int) -> jax.Array:
    """``G_(k) G_(k)^T``: ``g`` contracted with itself over every axis but ``k``."""
    other = [i for i in range(g.ndim) if i != k]
    return jnp.tensordot(g, g, axes=(other, other))


def _eigenbasis(m: jax.Array) -> jax.Array:
    """Eigenvectors of a symmetric factor, by decreasing eigenvalue (``eigh``, flipped)."""
    return jnp.flip(jnp.linalg.eigh(m)[1], axis=1)


def _power_qr(gg: tuple, qs: tuple, v: jax.Array, axes: tuple) -> tuple[tuple, jax.Array]:
    """One power iteration and QR per factor; the columns (and ``v``'s matching axis)
    sorted first by the estimated eigenvalues ``diag(Q^T G Q)``, decreasing."""
    new = []
    for m, o, k in zip(gg, qs, axes, strict=True):
        order = jnp.argsort(-jnp.diag(o.T @ m @ o))
        v = jnp.take(v, order, axis=k)
        new.append(jnp.linalg.qr(m @ o[:, order])[0])
    return tuple(new), v


def _keep(gg: tuple, qs: tuple, m: jax.Array, v: jax.Array) -> tuple:
    return qs, m, v


def _initial(gg: tuple, qs: tuple, m: jax.Array, v: jax.Array) -> tuple:
    return tuple(_eigenbasis(f) for f in gg), m, v


def _refreshed(axes: tuple, gg: tuple, qs: tuple, m: jax.Array, v: jax.Array) -> tuple:
    new_qs, v = _power_qr(gg, qs, v, axes)
    return new_qs, _rotate(_rotate(m, qs, axes, True), new_qs, axes, False), v


@functools.cache
def _branches(axes: tuple) -> tuple:
    """The switch's branches (keep the basis, the first eigenbasis, a refresh) for
    ``axes``, the same function objects for every call: lax.switch caches their traced
    jaxprs, so an eager update reuses its compiled switch instead of tracing and compiling
    a new one (eigh, QR) every call, as fresh closures did."""
    return _keep, _initial, functools.partial(_refreshed, axes)


def scale_by_soap(
    b1: float = 0.95,
    b2: float = 0.95,
    shampoo_beta: float = -1.0,
    eps: float = 1e-8,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
    merge_dims: bool = False,
    precondition_1d: bool = False,
    normalize_grads: bool = False,
    correct_bias: bool = True,
) -> GradientTransformation:
    r"""SOAP's direction: Adam run in the eigenbasis of Shampoo's preconditioner.

    For a matrix gradient :math:`G_t` (a tensor has one factor per axis of size
    ``<= max_precond_dim``; larger axes, and vectors unless ``precondition_1d``, are
    not rotated):

    .. math::
        G'_t = Q_L^\top G_t Q_R,\quad m_t = \beta_1 m_{t-1} + (1-\beta_1) G'_t,\quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) G_t'^{\,2},\\
        u_t = \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\;
        Q_L \frac{m_t}{\sqrt{v_t} + \epsilon} Q_R^\top,\qquad
        L \leftarrow \beta_s L + (1-\beta_s) G_t G_t^\top,\
        R \leftarrow \beta_s R + (1-\beta_s) G_t^\top G_t

    where :math:`t` counts the Adam steps: the first ``update`` only sets
    :math:`L, R` and :math:`Q = \mathrm{eigh}` (eigenvalues decreasing) and returns 0.
    Every ``precondition_frequency`` Adam steps :math:`Q \leftarrow \mathrm{QR}(L Q)`
    (one power iteration), with :math:`m` moved into the new basis and :math:`v`'s
    entries permuted with the sorted columns. ``shampoo_beta < 0`` means
    :math:`\beta_s = \beta_2`; ``normalize_grads`` divides :math:`u` by its RMS;
    ``correct_bias=False`` drops the bias-correction factor. Defaults and numbers are the
    authors' ``SOAP`` (``data_format`` is torch's NCHW switch and has no JAX
    counterpart: ``merge_dims`` merges axes in their order).

    Args:
        b1: Adam's :math:`\beta_1` in ``[0, 1)`` (default 0.95).
        b2: Adam's :math:`\beta_2` in ``[0, 1)`` (default 0.95).
        shampoo_beta: the factors' decay :math:`\beta_s` in ``[0, 1)``, or negative for
            ``b2`` (default -1).
        eps: ``>= 0``, added to :math:`\sqrt{v}` (default 1e-8).
        precondition_frequency: Adam steps between eigenbasis refreshes, a positive int
            (default 10).
        max_precond_dim: axes longer than this get no factor (default 10000).
        merge_dims: merge neighbouring axes while their product is
            ``<= max_precond_dim`` (default ``False``).
        precondition_1d: give vectors a (d, d) factor too (default ``False``).
        normalize_grads: divide each leaf's direction by its RMS (default ``False``).
        correct_bias: Adam's bias correction (default ``True``).

    Returns:
        A :class:`gradtx.GradientTransformation` with state :class:`ScaleBySoapState`;
        updates keep the gradients' dtypes (the factors and bases are at least float32).

    Raises:
        ValueError: a decay outside ``[0, 1)``, negative ``eps``, a non-positive
            ``precondition_frequency`` or ``max_precond_dim``.
        TypeError: a non-float or complex gradient.

    Reference: Vyas, Morwani, Zhao, Kwun, Shapira, Brandfonbrener, Janson, Kakade, *SOAP:
    Improving and Stabilizing Shampoo using Adam*, arXiv:2409.11321 (2024); the authors'
    code, github.com/nikhilvyas/SOAP (``soap.py``).

    Example:
        >>> import gradtx, gradtx.contrib, jax, jax.numpy as jnp
        >>> tx = gradtx.contrib.scale_by_soap()
        >>> w = jnp.zeros((2, 2))
        >>> state = tx.init(w)
        >>> update = jax.jit(tx.update)  # one compile serves both calls
        >>> u, state = update(jnp.array([[1.0, 2.0], [3.0, 4.0]]), state)
        >>> float(jnp.abs(u).max())  # the first update only builds the eigenbases
        0.0
        >>> u, state = update(jnp.array([[1.0, 0.0], [0.5, -1.0]]), state)
        >>> # Adam's first step is +-1 in the eigenbasis, rotated back: RMS 1
        >>> round(float(jnp.sqrt(jnp.mean(u**2))), 4)
        1.0
    """
    _checks.decay_rate("b1", b1)
    _checks.decay_rate("b2", b2)
    if _checks._concrete(shampoo_beta) is None or shampoo_beta >= 0:
        _checks.decay_rate("shampoo_beta", shampoo_beta)
    _checks.non_negative("eps", eps)
    _checks.positive_int("precondition_frequency", precondition_frequency)
    _checks.positive_int("max_precond_dim", max_precond_dim)
    sb = b2 if _checks._concrete(shampoo_beta) is not None and shampoo_beta < 0 else shampoo_beta

    def plan(x):
        return _plan(jnp.shape(x), merge_dims, max_precond_dim, precondition_1d)

    def factors(p, value):
        work, axes = plan(p)
        dt = compute_dtype(p)
        return tuple(jnp.full((work[k], work[k]), value, dt) for k in axes)

    def init_fn(params):
        return ScaleBySoapState(
            count=zero_count(),
            exp_avg=state_like(params, MOMENT),
            exp_avg_sq=state_like(params, SQUARED),
            gg=jax.tree.map(lambda p: factors(p, 0.0), params),
            q=jax.tree.map(lambda p: factors(p, 0.0), params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_float_updates(updates)
        for g in jax.tree.leaves(updates):
            if jnp.iscomplexobj(g):
                raise TypeError("scale_by_soap: complex gradients are not supported (got "
                                f"{jnp.result_type(g)}); split them with "
                                "gradtx.contrib.split_real_and_imaginary")
        count = state.count
        t = jnp.maximum(count, 1)  # the Adam step (the first update is skipped)
        first = count == 0
        refresh = (count > 0) & (count % precondition_frequency == 0)
        branch = jnp.where(first, 1, jnp.where(refresh, 2, 0))

        def one(g, m, v, gg, qs):
            work, axes = plan(g)
            dt = compute_dtype(g)
            gw = g.astype(dt).reshape(work)
            mw, vw = m.astype(dt).reshape(work), v.astype(dt).reshape(work)
            gp = _rotate(gw, qs, axes, back=False)
            # the first update only gathers statistics: the moments keep their values
            m_new = jnp.where(first, mw, b1 * mw + (1 - b1) * gp)
            v_new = jnp.where(first, vw, b2 * vw + (1 - b2) * jnp.square(gp))
            d = _rotate(m_new / (jnp.sqrt(v_new) + eps), qs, axes, back=True)
            if normalize_grads:
                d = d / (1e-30 + jnp.sqrt(jnp.mean(jnp.square(d))))
            if correct_bias:  # in the compute dtype: float64 leaves get float64 corrections
                tt = t.astype(dt)
                d = d * (jnp.sqrt(1 - jnp.asarray(b2, dt) ** tt) / (1 - jnp.asarray(b1, dt) ** tt))
            d = jnp.where(first, 0.0, d)
            gg = tuple(sb * f + (1 - sb) * _factor(gw, k) for f, k in zip(gg, axes, strict=True))

            if axes:
                qs, m_new, v_new = jax.lax.switch(branch, _branches(axes), gg, qs, m_new, v_new)
            return (d.reshape(g.shape).astype(g.dtype), m_new.reshape(g.shape).astype(m.dtype),
                    v_new.reshape(g.shape).astype(v.dtype), gg, qs)

        leaves, treedef = jax.tree.flatten(updates)
        cols = [treedef.flatten_up_to(x) for x in (state.exp_avg, state.exp_avg_sq, state.gg,
                                                   state.q)]
        out = [one(*args) for args in zip(leaves, *cols, strict=True)]
        u, m, v, gg, q = (treedef.unflatten([o[i] for o in out]) for i in range(5))
        return u, ScaleBySoapState(safe_increment(count), m, v, gg, q)

    return GradientTransformation(init_fn, update_fn)


def _step_then_decay(learning_rate: ScalarOrSchedule, weight_decay: float
                     ) -> GradientTransformation:
    r"""``p <- (p - lr d)(1 - lr wd)``, the authors' order (decay of the stepped
    parameter), as the update ``u = -lr d - lr wd (p - lr d)``; no decay on the first
    update (the authors' first step returns before it)."""

    def init_fn(params):
        del params
        return SoapStepState(count=zero_count())

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
        decay = jnp.where(state.count > 0, weight_decay, 0.0) * lr

        def one(d, p):
            u = -lr * d
            if params is not None and not (isinstance(weight_decay, (int, float))
                                           and weight_decay == 0):
                u = u - decay * (p + u)
            return u.astype(d.dtype)

        if params is None and not (isinstance(weight_decay, (int, float)) and weight_decay == 0):
            raise ValueError("soap: weight_decay needs the params in update(updates, state, "
                             "params)")
        p = params if params is not None else updates
        return jax.tree.map(one, updates, p), SoapStepState(safe_increment(state.count))

    return GradientTransformation(init_fn, update_fn)


def soap(
    learning_rate: ScalarOrSchedule = 3e-3,
    b1: float = 0.95,
    b2: float = 0.95,
    shampoo_beta: float = -1.0,
    eps: float = 1e-8,
    weight_decay: float = 0.01,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
    merge_dims: bool = False,
    precondition_1d: bool = False,
    normalize_grads: bool = False,
    correct_bias: bool = True,
) -> GradientTransformation:
    r"""SOAP (Vyas et al. 2024): Shampoo's eigenbasis, Adam inside it, decoupled decay.

    .. math::
        p_{t+1} = \big(p_t - \eta_t\, u_t\big)\,(1 - \eta_t \lambda)

    with :math:`u_t` from :func:`scale_by_soap` (zero, and no decay, on the first update,
    which only sets the preconditioner) and the weight decay applied to the stepped
    parameter, as in the authors' ``SOAP.step``. Defaults are the authors'. Every leaf is
    handled (vectors and scalars run plain Adam unless ``precondition_1d``); to give some
    leaves another optimiser use :func:`gradtx.partition` (docs/contrib_matrix.md). A
    schedule is evaluated at the number of updates made before this one (optax's
    convention), so the first Adam step uses :math:`\eta(1)`.

    Args:
        learning_rate: :math:`\eta \ge 0` or a schedule (default 3e-3).
        b1: the first-moment decay (default 0.95); see :func:`scale_by_soap`.
        b2: the second-moment decay (default 0.95).
        shampoo_beta: the factors' decay; ``-1`` (default) means ``b2``.
        eps: added to the root of the second moment (default 1e-8).
        precondition_frequency: steps between eigenbasis refreshes (default 10).
        max_precond_dim: larger dimensions are not preconditioned (default 10000).
        merge_dims: merge small dimensions before preconditioning (default False).
        precondition_1d: precondition vectors too (default False).
        normalize_grads: normalise each gradient leaf first (default False).
        correct_bias: Adam's bias correction (default True).
        weight_decay: :math:`\lambda \ge 0` (default 0.01).

    Returns:
        A :class:`gradtx.GradientTransformation`; its state is a tuple
        ``(ScaleBySoapState, SoapStepState)``. ``update`` needs ``params`` when
        ``weight_decay > 0``.

    Raises:
        ValueError: a bad hyperparameter (naming it); ``weight_decay > 0`` and no params.

    Reference: Vyas et al., *SOAP: Improving and Stabilizing Shampoo using Adam*,
    arXiv:2409.11321; github.com/nikhilvyas/SOAP (``soap.py``).

    Example:
        >>> import gradtx, gradtx.contrib, jax, jax.numpy as jnp
        >>> params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
        >>> tx = gradtx.contrib.soap(1e-2)
        >>> state = tx.init(params)
        >>> loss = lambda p: jnp.sum((p["w"] @ jnp.ones(2) - 1.0) ** 2) + jnp.sum(p["b"] ** 2)
        >>> @jax.jit  # one compiled step (eagerly, every op of every step dispatches)
        ... def step(params, state):
        ...     u, state = tx.update(jax.grad(loss)(params), state, params)
        ...     return gradtx.apply_updates(params, u), state
        >>> for _ in range(20):
        ...     params, state = step(params, state)
        >>> bool(loss(params) < 2.5)  # from 3.0
        True
    """
    _checks.learning_rate("learning_rate", learning_rate)
    _checks.non_negative("weight_decay", weight_decay)
    return chain(
        scale_by_soap(b1, b2, shampoo_beta, eps, precondition_frequency, max_precond_dim,
                      merge_dims, precondition_1d, normalize_grads, correct_bias),
        _step_then_decay(learning_rate, weight_decay),
    )


__all__ = ["ScaleBySoapState", "SoapStepState", "scale_by_soap", "soap"]
