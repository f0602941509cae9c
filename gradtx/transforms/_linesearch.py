"""L-BFGS: the two-loop recursion of a limited-memory inverse-Hessian approximation,
as ``optax.scale_by_lbfgs`` (same state tree and numbers)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation
from gradtx.tree._core import (
    MOMENT,
    check_same_tree,
    check_updates,
    compute_dtype,
    safe_increment,
    state_like,
    zero_count,
    zeros_like,
)


class ScaleByLBFGSState(NamedTuple):
    # every per-parameter leaf is in the state dtype policy's dtype (docs/dtypes.md:
    # float32 for float16 params, where differences and their dot products overflow)
    count: jax.Array  # shape=(), dtype=int32: iterations so far
    params: Any  # the params at the last update, like params
    updates: Any  # the updates (gradients) at the last update, like params
    diff_params_memory: Any  # per leaf, shape=(memory_size, *leaf.shape): w_{k+1} - w_k
    diff_updates_memory: Any  # per leaf, shape=(memory_size, *leaf.shape): u_{k+1} - u_k
    weights_memory: jax.Array  # shape=(memory_size,): rho_k = 1 / <du_k, dw_k>


def _vdot(a: Any, b: Any) -> jax.Array:
    """``Re sum_leaves <a, b>`` (``a`` conjugated), in at least float32 (a sum of
    products of float16 entries overflows float16)."""

    def one(x, y):
        dt = compute_dtype(x, y)
        return jnp.vdot(jnp.asarray(x, dt), jnp.asarray(y, dt))

    leaves = [one(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)]
    return jnp.real(sum(leaves)) if leaves else jnp.zeros([], jnp.float32)


def _add_scale(x: Any, s: jax.Array, y: Any) -> Any:
    return jax.tree.map(lambda a, b: (a + s * b).astype(a.dtype), x, y)


def _precondition(updates, dw_mem, du_mem, rhos, gamma, memory_idx):
    """Nocedal & Wright, Algorithm 7.4: ``P_k u`` by the two loops over the memory,
    oldest-to-newest order starting at ``memory_idx``; computed in at least float32
    and returned in the dtypes of ``updates``."""
    out_dtypes = jax.tree.map(jnp.result_type, updates)
    updates = jax.tree.map(lambda u, m: u.astype(compute_dtype(u, m)), updates, dw_mem)
    m = rhos.shape[0]
    indices = (memory_idx + jnp.arange(m)) % m

    # module-level loop bodies (the memory in the carry): scan caches their jaxprs, so an
    # eager update reuses its compiled loops instead of compiling two per call
    mem = (dw_mem, du_mem, rhos)
    (vec, _), alphas = jax.lax.scan(_right_loop, (updates, mem), indices, reverse=True)
    vec = jax.tree.map(lambda v: (gamma * v).astype(v.dtype), vec)
    (vec, _), _ = jax.lax.scan(_left_loop, (vec, mem), (indices, alphas))
    return jax.tree.map(lambda v, dt: v.astype(dt), vec, out_dtypes)


def _right_loop(carry, idx):
    vec, (dw_mem, du_mem, rhos) = carry
    dw, du = jax.tree.map(lambda x: x[idx], (dw_mem, du_mem))
    alpha = rhos[idx] * _vdot(dw, vec)
    return (_add_scale(vec, -alpha, du), carry[1]), alpha


def _left_loop(carry, idx_alpha):
    vec, (dw_mem, du_mem, rhos) = carry
    idx, alpha = idx_alpha
    dw, du = jax.tree.map(lambda x: x[idx], (dw_mem, du_mem))
    beta = rhos[idx] * _vdot(du, vec)
    return (_add_scale(vec, alpha - beta, dw), carry[1]), beta


def scale_by_lbfgs(
    memory_size: int = 10, scale_init_precond: bool = True
) -> GradientTransformation:
    r"""Scales the updates by the L-BFGS approximation of the inverse Hessian.

    .. math::
        P_{k,j+1} = V_j^\top P_{k,j} V_j + \rho_j\, \delta w_j \delta w_j^\top,\quad
        V_j = I - \rho_j\, \delta u_j \delta w_j^\top,\quad
        \rho_j = \frac{1}{\delta u_j^\top \delta w_j},\quad
        P_{k,k-m} = \gamma_k I,\quad
        \gamma_k = \frac{\delta w_{k-1}^\top \delta u_{k-1}}{\delta u_{k-1}^\top
        \delta u_{k-1}}

    over the last ``m`` = ``memory_size`` differences of params ``dw`` and updates
    ``du``; the output is ``P_k u_k`` (the two-loop recursion, no Hessian is formed).
    At the first step ``gamma_0 = min(1, 1/||u_0||)`` (optax's heuristic); with
    ``scale_init_precond=False`` ``gamma = 1``. A pair with ``<du, dw> = 0`` gets
    ``rho = 0`` (it is skipped). Chain it with a line search (see :func:`gradtx.lbfgs`)
    or a (negative) learning rate. Equal to ``optax.scale_by_lbfgs``.

    Args:
        memory_size: ``m`` (default 10), a positive integer.
        scale_init_precond: use ``gamma_k`` above (default True) instead of 1.

    Returns:
        A :class:`gradtx.GradientTransformation` with a :class:`ScaleByLBFGSState`;
        its ``update`` needs the params.

    Raises:
        ValueError: ``memory_size < 1``; ``params=None`` at update.

    References: Nocedal & Wright, *Numerical Optimization*, Algorithms 7.4 and 7.5,
    1999; Liu & Nocedal, *On the limited memory BFGS method for large scale
    optimization*, Math. Programming 1989.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_lbfgs()
        >>> params = {"w": jnp.array([1.0, 2.0])}
        >>> u, state = tx.update({"w": jnp.array([0.3, 0.4])}, tx.init(params), params)
        >>> u["w"].tolist()  # the first step: gamma_0 = min(1, 1/0.5) = 1
        [0.30000001192092896, 0.4000000059604645]
    """
    if isinstance(memory_size, bool) or not isinstance(memory_size, int) or memory_size < 1:
        raise ValueError(f"memory_size must be a positive integer, got {memory_size!r}")

    def init_fn(params):
        def stacked():  # own buffers: a donated state must not hold one twice
            return jax.tree.map(
                lambda x: jnp.zeros((memory_size, *jnp.shape(x)), x.dtype),
                state_like(params, MOMENT),
            )

        return ScaleByLBFGSState(
            count=zero_count(),
            params=state_like(params, MOMENT),
            updates=state_like(params, MOMENT),
            diff_params_memory=stacked(),
            diff_updates_memory=stacked(),
            weights_memory=jnp.zeros(memory_size),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError("scale_by_lbfgs needs the params: call update(updates, state, params)")
        check_updates(updates, state.updates)
        check_same_tree(updates, params, against="params")
        memory_idx = state.count % memory_size
        prev_idx = (state.count - 1) % memory_size
        dw = jax.tree.map(lambda a, b: a.astype(b.dtype) - b, params, state.params)
        du = jax.tree.map(lambda a, b: a.astype(b.dtype) - b, updates, state.updates)
        curv = _vdot(du, dw)
        weight = jnp.where(curv == 0.0, 0.0, 1.0 / curv)
        first = state.count == 0
        dw, du, weight = jax.tree.map(
            lambda x: jnp.where(first, jnp.zeros_like(x), x), (dw, du, weight)
        )
        dw_mem, du_mem, rhos = jax.tree.map(
            lambda mem, x: mem.at[prev_idx].set(x.astype(mem.dtype)),
            (state.diff_params_memory, state.diff_updates_memory, state.weights_memory),
            (dw, du, weight),
        )
        if scale_init_precond:
            den = _vdot(du, du)
            gamma = jnp.where(den > 0.0, _vdot(du, dw) / den, 1.0)
            u_norm = jnp.sqrt(_vdot(updates, updates))
            gamma = jnp.where(first, jnp.minimum(1.0, 1.0 / u_norm), gamma)
        else:
            gamma = 1.0
        out = _precondition(updates, dw_mem, du_mem, rhos, gamma, memory_idx)
        return out, ScaleByLBFGSState(
            count=safe_increment(state.count),
            params=jax.tree.map(lambda p, s: p.astype(s.dtype), params, state.params),
            updates=jax.tree.map(lambda u, s: u.astype(s.dtype), updates, state.updates),
            diff_params_memory=dw_mem,
            diff_updates_memory=du_mem,
            weights_memory=rhos,
        )

    return GradientTransformation(init_fn, update_fn)


# ----------------------------------------------------------------------------------------
# Backtracking (Armijo) line search
# ----------------------------------------------------------------------------------------


class BacktrackingLinesearchInfo(NamedTuple):
    num_linesearch_steps: jax.Array  # shape=(), int: trials made by the last search
    decrease_error: jax.Array  # shape=(): > 0 if the last search failed (0: success)


class ScaleByBacktrackingLinesearchState(NamedTuple):
    learning_rate: jax.Array  # shape=(): the step size the last search accepted
    value: jax.Array  # shape=(): f at the accepted point (for value_and_grad_from_state)
    grad: Any  # the gradient at the accepted point if store_grad, else None
    info: BacktrackingLinesearchInfo  # diagnostics of the last search


class _SearchState(NamedTuple):
    learning_rate: jax.Array
    new_value: jax.Array
    new_grad: Any
    decrease_error: jax.Array
    iter_num: jax.Array


def _split_kwargs(fn: Callable, kwargs: dict[str, Any]) -> tuple[dict, dict]:
    """The keyword arguments ``fn`` takes by name, and the others."""
    names = set(inspect.signature(fn).parameters)
    return (
        {k: v for k, v in kwargs.items() if k in names},
        {k: v for k, v in kwargs.items() if k not in names},
    )


def _cast_like(tree: Any, like: Any) -> Any:
    return jax.tree.map(lambda x, y: jnp.asarray(x).astype(jnp.result_type(y)), tree, like)


def _conj(tree: Any) -> Any:
    """``conj`` of every leaf: jax.grad's gradient of a real function in gradtx's
    convention (docs/dtypes.md; ``dL/dRe z + i dL/dIm z`` for a complex leaf, the real
    split's gradient); a real leaf is returned as it is."""
    return jax.tree.map(jnp.conj, tree)


def _value_dtype(params: Any) -> Any:
    return jnp.real(jnp.empty((), jnp.result_type(jax.tree.leaves(params)[0]))).dtype


def scale_by_backtracking_linesearch(
    max_backtracking_steps: int,
    slope_rtol: float = 1e-4,
    decrease_factor: float = 0.8,
    increase_factor: float = 1.5,
    max_learning_rate: float = 1.0,
    atol: float = 0.0,
    rtol: float = 0.0,
    store_grad: bool = False,
    verbose: bool = False,
) -> GradientTransformation:
    r"""Backtracking line search: scales the update ``u`` by the largest tried step
    ``eta`` that gives sufficient decrease (the Armijo condition).

    .. math::
        f(w + \eta u) \le (1 + \epsilon_{rel}) f(w) + \eta\, c\, \langle u, \nabla f(w)
        \rangle + \epsilon_{abs}

    trying ``eta = min(increase_factor * eta_prev, max_learning_rate)`` first, then
    multiplying by ``decrease_factor`` up to ``max_backtracking_steps`` times (``c`` =
    ``slope_rtol``). A search ending at a non-finite value takes a zero step. Equal to
    ``optax.scale_by_backtracking_linesearch`` (state, numbers, ``info``) on real params.

    Complex params are the pair ``(Re z, Im z)`` (docs/dtypes.md): ``grad`` (and the
    stored one) is ``conj(jax.grad)``, ``dL/dRe z + i dL/dIm z``, and the slope is
    ``Re sum conj(u) grad``, the real split's. optax's slope ``Re sum u grad`` takes
    ``jax.grad``'s convention instead, so the two differ on complex params.

    ``update(updates, state, params, *, value, grad, value_fn, **fn_kwargs)``: ``value``
    and ``grad`` are ``f`` and its gradient at ``params``; ``value_fn(params,
    **fn_kwargs)`` evaluates ``f`` (extra keyword arguments are passed to it by name).
    With ``store_grad=True`` the gradient at the accepted point is kept in the state, so
    :func:`gradtx.value_and_grad_from_state` reuses it at the next step.

    Args:
        max_backtracking_steps: the most step-size reductions per search (int >= 0).
        slope_rtol: ``c`` of the Armijo condition (default 1e-4), in ``[0, 1)``.
        decrease_factor: shrink factor per trial (default 0.8), in ``(0, 1)``.
        increase_factor: growth of the first trial over the last accepted step
            (default 1.5), ``>= 1``.
        max_learning_rate: the largest step tried (default 1.0), ``> 0``.
        atol: ``epsilon_abs`` (default 0.0), ``>= 0``.
        rtol: ``epsilon_rel`` (default 0.0), ``>= 0``.
        store_grad: keep the gradient at the accepted point (default False).
        verbose: print a message when a search fails (default False).

    Returns:
        A :class:`gradtx.GradientTransformation` with a
        :class:`ScaleByBacktrackingLinesearchState`.

    Raises:
        ValueError: a hyperparameter out of range (at construction).
        TypeError: extra keyword arguments ``value_fn`` does not take (at update).

    Reference: Nocedal & Wright, *Numerical Optimization*, Algorithm 3.1, 1999.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
        >>> opt = gradtx.chain(gradtx.sgd(1.0), gradtx.scale_by_backtracking_linesearch(15))
        >>> x = jnp.zeros(2)
        >>> state = opt.init(x)
        >>> value, grad = jax.value_and_grad(f)(x)
        >>> u, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=f)
        >>> x = gradtx.apply_updates(x, u)
        >>> bool(f(x) < value)
        True
    """
    if (
        isinstance(max_backtracking_steps, bool)
        or not isinstance(max_backtracking_steps, int)
        or max_backtracking_steps < 0
    ):
        raise ValueError(
            f"max_backtracking_steps must be a non-negative integer, got {max_backtracking_steps!r}"
        )
    _checks.check_range("slope_rtol", slope_rtol, 0.0, 1.0, high_open=True)
    _checks.check_range("decrease_factor", decrease_factor, 0.0, 1.0, low_open=True, high_open=True)
    _checks.check_range("increase_factor", increase_factor, 1.0)
    _checks.positive("max_learning_rate", max_learning_rate)
    _checks.non_negative("atol", atol)
    _checks.non_negative("rtol", rtol)

    def init_fn(params):
        dt = _value_dtype(params)
        return ScaleByBacktrackingLinesearchState(
            learning_rate=jnp.array(1.0, dt),
            value=jnp.array(jnp.inf, dt),
            grad=zeros_like(params) if store_grad else None,
            info=BacktrackingLinesearchInfo(
                # int32, not a weakly typed 0: the state after an update holds a strong
                # int32, so a weak init (optax's) retraces a jitted step once and a
                # checkpoint restored into init's template has another type
                num_linesearch_steps=jnp.asarray(0, jnp.int32),
                decrease_error=jnp.array(jnp.inf, dt),
            ),
        )

    def decrease_error(eta, slope, value, new_value):
        err = new_value - (1.0 + rtol) * value - eta * slope_rtol * slope
        return jnp.maximum(jnp.where(jnp.isnan(err), jnp.inf, err), 0.0)

    def update_fn(updates, state, params=None, *, value, grad, value_fn, **extra_args):
        if params is None:
            raise ValueError(
                "scale_by_backtracking_linesearch needs the params: call "
                "update(updates, state, params, value=..., grad=..., value_fn=...)"
            )
        fn_kwargs, rest = _split_kwargs(value_fn, extra_args)
        if rest:
            raise TypeError(
                "scale_by_backtracking_linesearch.update got keyword arguments that "
                f"value_fn does not take: {sorted(rest)}"
            )
        check_updates(updates)
        f = functools.partial(value_fn, **fn_kwargs)
        # Re sum conj(u) g with g in gradtx's convention, conj(jax.grad) (docs/dtypes.md):
        # the real split's slope sum(u_r g_r). optax's Re sum u g takes jax.grad's
        # convention instead; the two agree on real params.
        slope = _vdot(updates, grad)

        def cond(s):
            return (~(s.decrease_error <= atol)) & (s.iter_num <= max_backtracking_steps)

        def body(s):
            eta = jnp.where(s.iter_num > 0, decrease_factor * s.learning_rate, s.learning_rate)
            new_params = _add_scale(params, eta, updates)
            new_grad = s.new_grad
            if store_grad:
                new_value, jvp = jax.linearize(f, new_params)
                err = decrease_error(eta, slope, value, new_value)
                new_grad = jax.lax.cond(
                    (err <= atol) | (s.iter_num == max_backtracking_steps),
                    lambda p: _conj(jax.linear_transpose(jvp, p)(jnp.ones_like(new_value))[0]),
                    lambda *_: new_grad,
                    new_params,
                )
            else:
                new_value = f(new_params)
                err = decrease_error(eta, slope, value, new_value)
            return _cast_like(_SearchState(eta, new_value, new_grad, err, s.iter_num + 1), s)

        start = _SearchState(
            learning_rate=jnp.minimum(increase_factor * state.learning_rate, max_learning_rate),
            new_value=value,
            new_grad=zeros_like(params),
            decrease_error=jnp.array(jnp.inf),
            iter_num=0,
        )
        start = start._replace(iter_num=jnp.asarray(0, jnp.int32))
        s = jax.lax.while_loop(cond, body, start)
        eta = jnp.where(jnp.isinf(s.decrease_error), 0.0, s.learning_rate)
        if verbose:
            jax.lax.cond(
                s.decrease_error > atol,
                lambda: jax.debug.print(
                    "gradtx.scale_by_backtracking_linesearch: no step size with sufficient "
                    "decrease found (value {v}, slope {sl}, step {st}, decrease error {e})",
                    v=value, sl=slope, st=s.learning_rate, e=s.decrease_error,
                ),
                lambda: None,
            )  # fmt: skip
        new_updates = jax.tree.map(lambda u: (eta * u).astype(u.dtype), updates)
        new_state = ScaleByBacktrackingLinesearchState(
            learning_rate=eta,
            value=s.new_value,
            grad=s.new_grad if store_grad else None,
            info=BacktrackingLinesearchInfo(
                num_linesearch_steps=s.iter_num, decrease_error=s.decrease_error
            ),
        )
        return new_updates, _cast_like(new_state, state)

    return GradientTransformation(init_fn, update_fn)


def _find_field(tree: Any, name: str) -> list[Any]:
    """Every value of a NamedTuple field called ``name`` inside ``tree``."""
    found = []
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        for field in tree._fields:
            if field == name:
                found.append(getattr(tree, field))
            else:
                found += _find_field(getattr(tree, field), name)
    elif isinstance(tree, (tuple, list)):
        for x in tree:
            found += _find_field(x, name)
    elif isinstance(tree, dict):
        for x in tree.values():
            found += _find_field(x, name)
    return found


def value_and_grad_from_state(value_fn: Callable[..., Any]) -> Callable[..., tuple[Any, Any]]:
    r"""``jax.value_and_grad(value_fn)`` that reuses the value and gradient a line search
    stored in the optimiser state (computed at the accepted point, i.e. at the current
    params) instead of evaluating ``value_fn`` again.

    Returns ``fn(params, *args, state, **kwargs) -> (value, grad)``: if the state holds
    a finite ``value`` (and a ``grad``), they are returned; otherwise (the first step,
    or after a failed search) ``jax.value_and_grad(value_fn)(params, *args, **kwargs)``.
    Same as ``optax.value_and_grad_from_state`` on real params. The gradient is in
    gradtx's convention (docs/dtypes.md): ``conj(jax.grad)`` for a complex leaf,
    ``dL/dRe z + i dL/dIm z`` (the real split's gradient, what the line searches store
    and take as ``grad``); optax hands back ``jax.grad``'s.

    Args:
        value_fn: the objective ``f(params, *args, **kwargs) -> scalar``.

    Returns:
        The function above.

    Raises:
        ValueError: (when called) the state has no unique ``value`` and ``grad`` fields
            (the line search was not built with ``store_grad=True``).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> f = lambda x: jnp.sum(x ** 2)
        >>> ls = gradtx.scale_by_backtracking_linesearch(15, store_grad=True)
        >>> opt = gradtx.chain(gradtx.sgd(1.0), ls)
        >>> x = jnp.array([1.0, 2.0])
        >>> state = opt.init(x)
        >>> value_and_grad = gradtx.value_and_grad_from_state(f)
        >>> value, grad = value_and_grad(x, state=state)
        >>> float(value), grad.tolist()
        (5.0, [2.0, 4.0])
    """

    def fn(params, *fn_args, state, **fn_kwargs):
        values, grads = _find_field(state, "value"), _find_field(state, "grad")
        values = [v for v in values if v is not None]
        grads = [g for g in grads if g is not None]
        if len(values) != 1 or len(grads) != 1:
            raise ValueError(
                "value_and_grad_from_state: the state must hold exactly one 'value' and "
                f"one 'grad' (found {len(values)} and {len(grads)}); build the line search "
                "with store_grad=True"
            )
        value, grad = values[0], grads[0]
        def evaluate(p, a, kw):
            new_value, new_grad = jax.value_and_grad(value_fn)(p, *a, **kw)
            return new_value, _conj(new_grad)

        return jax.lax.cond(
            jnp.isfinite(value),
            lambda *_: (value, grad),
            evaluate,
            params,
            fn_args,
            fn_kwargs,
        )

    return fn


__all__ = [
    "BacktrackingLinesearchInfo",
    "ScaleByBacktrackingLinesearchState",
    "ScaleByLBFGSState",
    "scale_by_backtracking_linesearch",
    "scale_by_lbfgs",
    "value_and_grad_from_state",
]
