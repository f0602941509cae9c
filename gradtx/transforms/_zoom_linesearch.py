"""The zoom line search (strong Wolfe conditions), as ``optax.scale_by_zoom_linesearch``
(same state tree and numbers): an interval search (Nocedal & Wright, Algorithm 3.5), then
a zoom by cubic / quadratic interpolation or bisection (Algorithm 3.6), with Hager and
Zhang's approximate sufficient-decrease criterion near a minimum."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformationExtraArgs
from gradtx.transforms._linesearch import (
    _add_scale,
    _cast_like,
    _conj,
    _split_kwargs,
    _value_dtype,
    _vdot,
)
from gradtx.tree._core import MOMENT, check_updates, state_dtype, zeros_like


class ZoomLinesearchInfo(NamedTuple):
    num_linesearch_steps: jax.Array  # shape=(), int32: trials made by the last search
    decrease_error: jax.Array  # shape=(): > 0 if the accepted step lacks sufficient decrease
    curvature_error: jax.Array  # shape=(): > 0 if it fails the curvature condition


class ScaleByZoomLinesearchState(NamedTuple):
    # learning_rate and info's errors follow the state dtype policy (float32 for float16
    # params); value and grad are value_fn's outputs and keep the params' dtype
    learning_rate: jax.Array  # shape=(): the step size the last search accepted
    value: jax.Array  # shape=(): f at the accepted point (for value_and_grad_from_state)
    grad: Any  # like params: the gradient at the accepted point
    info: ZoomLinesearchInfo  # diagnostics of the last search


class _Zoom(NamedTuple):
    """The search's loop carry (optax's ``ZoomLinesearchState`` less the fixed inputs)."""

    count: jax.Array  # trials so far
    stepsize: jax.Array  # the last trial eta, its value, gradient and slope <grad, u>
    value: jax.Array
    grad: Any
    slope: jax.Array
    decrease_error: jax.Array
    curvature_error: jax.Array
    interval_found: jax.Array  # phase: False = interval search, True = zoom
    done: jax.Array
    failed: jax.Array
    low: jax.Array  # the bracket: value(low) <= value(high); low need not be < high
    value_low: jax.Array
    slope_low: jax.Array
    high: jax.Array
    value_high: jax.Array
    slope_high: jax.Array
    cubic_ref: jax.Array  # the third point of the cubic interpolation
    value_cubic_ref: jax.Array
    safe_stepsize: jax.Array  # the best trial with sufficient decrease (0: none yet)
    safe_value: jax.Array
    safe_grad: Any


def _where(cond: jax.Array, a: Any, b: Any) -> Any:
    return jax.tree.map(lambda x, y: jnp.where(cond, x, y), a, b)


def _cubicmin(a, fa, fpa, b, fb, c, fc):
    """The critical point of the cubic through ``(a, fa)``, ``(b, fb)``, ``(c, fc)`` with
    slope ``fpa`` at ``a`` (NaN when it has none; scipy's ``_cubicmin``)."""
    db, dc = b - a, c - a
    denom = (db * dc) ** 2 * (db - dc)
    # [A, B] = [[dc^2, -db^2], [-dc^3, db^3]] @ [fb - fa - fpa db, fc - fa - fpa dc] / denom
    mat = jnp.array([[dc**2, -(db**2)], [-(dc**3), db**3]])
    rhs = jnp.array([fb - fa - fpa * db, fc - fa - fpa * dc])
    big_a, big_b = jnp.dot(mat, rhs, precision=jax.lax.Precision.HIGHEST) / denom
    radical = big_b * big_b - 3.0 * big_a * fpa
    return a + (-big_b + jnp.sqrt(radical)) / (3.0 * big_a)


def _quadmin(a, fa, fpa, b, fb):
    """The critical point of the quadratic through ``(a, fa)``, ``(b, fb)`` with slope
    ``fpa`` at ``a`` (scipy's ``_quadmin``)."""
    db = b - a
    curv = (fb - fa - fpa * db) / (db**2)
    return a - fpa / (2.0 * curv)


def scale_by_zoom_linesearch(
    max_linesearch_steps: int,
    max_learning_rate: float | None = None,
    tol: float = 0.0,
    increase_factor: float = 2.0,
    slope_rtol: float = 1e-4,
    curv_rtol: float = 0.9,
    approx_dec_rtol: float | None = 1e-6,
    stepsize_precision: float = 1e-5,
    initial_guess_strategy: str = "keep",
    verbose: bool = False,
) -> GradientTransformationExtraArgs:
    r"""Zoom line search: scales the update ``u`` by a step ``eta`` satisfying the strong
    Wolfe conditions (sufficient decrease and small curvature).

    .. math::
        f(w + \eta u) \le f(w) + c_1 \eta \langle u, \nabla f(w) \rangle + \epsilon,
        \qquad
        |\langle \nabla f(w + \eta u), u\rangle| \le c_2 |\langle \nabla f(w), u\rangle|
        + \epsilon

    (``c_1`` = ``slope_rtol``, ``c_2`` = ``curv_rtol``, ``epsilon`` = ``tol``). Near a
    minimum, where ``f(w + eta u) <= f(w) + c_3 |f(w)|`` (``c_3`` = ``approx_dec_rtol``),
    the first condition may be replaced by Hager and Zhang's approximate one
    ``<grad f(w + eta u), u> <= (2 c_1 - 1) <grad f(w), u> + epsilon`` (the smaller of
    the two errors counts; ``approx_dec_rtol=None`` turns it off).

    The search first grows the step (``eta = guess``, then ``increase_factor * eta``,
    capped at ``max_learning_rate``) until it brackets an acceptable step (Nocedal &
    Wright, Algorithm 3.5), then zooms into the bracket, trying the minimiser of a cubic
    interpolant, else of a quadratic one, else the midpoint (Algorithm 3.6). It stops
    after ``max_linesearch_steps`` trials, or once the bracket is shorter than
    ``stepsize_precision`` and a step with sufficient decrease is known; it then takes
    the best such step (or the last trial if there is none). The first trial is 1
    (``initial_guess_strategy="one"``, for quasi-Newton directions) or the previous
    accepted step (``"keep"``, for gradient directions). Equal to
    ``optax.scale_by_zoom_linesearch`` (state, numbers, ``info``).

    ``update(updates, state, params, *, value, grad, value_fn, **fn_kwargs)``: ``value``
    and ``grad`` are ``f`` and its gradient at ``params``; ``value_fn(params,
    **fn_kwargs)`` evaluates ``f`` (extra keyword arguments are passed to it by name).
    The state keeps the value and gradient at the accepted point, so
    :func:`gradtx.value_and_grad_from_state` reuses them at the next step. A complex
    param is the pair ``(Re z, Im z)`` (docs/dtypes.md): ``grad`` and the stored gradient
    are ``conj(jax.grad)`` (``dL/dRe z + i dL/dIm z``) and every slope is
    ``Re sum conj(u) g``, the real split's. optax's slopes are the same numbers given the
    same ``grad``, but it stores ``jax.grad``'s gradient and its
    ``value_and_grad_from_state`` hands that convention back, so the usual loop with
    optax is not the split on complex params. For float16
    params the search (step sizes, values, slopes, errors) runs in float32 and the state's
    ``learning_rate`` and ``info`` errors are float32 (a slope overflows float16 at 65504;
    a kept step below 6e-8 would be 0); ``value`` and ``grad`` keep the params' dtype.

    Args:
        max_linesearch_steps: the most trials (function and gradient evaluations) per
            search, a positive integer.
        max_learning_rate: the largest step tried (default None: unbounded), ``> 0``.
        tol: ``epsilon`` (default 0.0), ``>= 0``.
        increase_factor: growth of the step while bracketing (default 2.0), ``> 1``.
        slope_rtol: ``c_1`` (default 1e-4), in ``[0, 1)``.
        curv_rtol: ``c_2`` (default 0.9), ``> c_1`` (``inf`` drops the curvature
            condition: the search then only backtracks to sufficient decrease).
        approx_dec_rtol: ``c_3`` (default 1e-6), ``>= 0``, or None.
        stepsize_precision: the bracket length below which a step with sufficient
            decrease is taken (default 1e-5), ``>= 0``.
        initial_guess_strategy: ``"keep"`` (default) or ``"one"``.
        verbose: print diagnostics when a search fails (default False).

    Returns:
        A :class:`gradtx.GradientTransformationExtraArgs` with a
        :class:`ScaleByZoomLinesearchState`.

    Raises:
        ValueError: a hyperparameter out of range or an unknown
            ``initial_guess_strategy`` (at construction).
        TypeError: extra keyword arguments ``value_fn`` does not take (at update).

    References: Nocedal & Wright, *Numerical Optimization*, Algorithms 3.5 and 3.6,
    1999; Hager & Zhang, *Algorithm 851: CG_DESCENT*, ACM TOMS 2006.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
        >>> opt = gradtx.chain(gradtx.sgd(1.0), gradtx.scale_by_zoom_linesearch(15))
        >>> x = jnp.zeros(2)
        >>> state = opt.init(x)
        >>> value, grad = jax.value_and_grad(f)(x)
        >>> u, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=f)
        >>> gradtx.apply_updates(x, u).tolist()  # the exact minimiser (eta = 0.5)
        [1.0, 1.0]
    """
    _checks.positive_int("max_linesearch_steps", max_linesearch_steps)
    if max_learning_rate is not None:
        _checks.positive("max_learning_rate", max_learning_rate)
    _checks.non_negative("tol", tol)
    _checks.check_range("increase_factor", increase_factor, 1.0, low_open=True)
    _checks.check_range("slope_rtol", slope_rtol, 0.0, 1.0, high_open=True)
    _checks.check_range("curv_rtol", curv_rtol, float(slope_rtol), low_open=True)
    if approx_dec_rtol is not None:
        _checks.non_negative("approx_dec_rtol", approx_dec_rtol)
    _checks.non_negative("stepsize_precision", stepsize_precision)
    if initial_guess_strategy not in ("one", "keep"):
        raise ValueError(
            f"initial_guess_strategy must be 'one' or 'keep', got {initial_guess_strategy!r}"
        )

    def decrease_error(eta, value, slope, value_init, slope_init):
        err = value - value_init - slope_rtol * eta * slope_init  # Armijo, N&W (3.7a)
        if approx_dec_rtol is not None:  # Hager & Zhang (23), used near a minimum (26-27)
            approx = slope - (2.0 * slope_rtol - 1.0) * slope_init
            near = value - value_init - approx_dec_rtol * jnp.abs(value_init)
            err = jnp.minimum(jnp.maximum(approx, near), err)
        err = jnp.maximum(err, 0.0)
        return jnp.where(jnp.isnan(err), jnp.inf, err)

    def curvature_error(slope, slope_init):
        err = jnp.maximum(jnp.abs(slope) - curv_rtol * jnp.abs(slope_init), 0.0)  # (3.7b)
        return jnp.where(jnp.isnan(err), jnp.inf, err)

    def search_dtype(params):
        # the search's scalars (steps, values, slopes, errors): the state dtype policy's,
        # float32 for float16 params (a slope <grad, u> overflows float16 at 65504, and
        # a kept step size below 6e-8 would round to a zero step); otherwise the params'
        # real dtype, as optax
        return state_dtype(_value_dtype(params), MOMENT)

    def init_fn(params):
        dt = search_dtype(params)
        return ScaleByZoomLinesearchState(
            learning_rate=jnp.array(1.0, dt),
            value=jnp.array(jnp.inf, _value_dtype(params)),
            grad=zeros_like(params),
            info=ZoomLinesearchInfo(
                num_linesearch_steps=jnp.asarray(0, jnp.int32),
                decrease_error=jnp.array(jnp.inf, dt),
                curvature_error=jnp.array(jnp.inf, dt),
            ),
        )

    def update_fn(updates, state, params=None, *, value, grad, value_fn, **extra_args):
        if params is None:
            raise ValueError(
                "scale_by_zoom_linesearch needs the params: call "
                "update(updates, state, params, value=..., grad=..., value_fn=...)"
            )
        fn_kwargs, rest = _split_kwargs(value_fn, extra_args)
        if rest:
            raise TypeError(
                "scale_by_zoom_linesearch.update got keyword arguments that value_fn "
                f"does not take: {sorted(rest)}"
            )
        check_updates(updates)
        dt = search_dtype(params)
        value_and_grad = jax.value_and_grad(functools.partial(value_fn, **fn_kwargs))
        value_init = jnp.asarray(value).astype(dt)
        slope_init = _vdot(updates, grad).astype(dt)
        zero = jnp.zeros((), dt)

        def on_line(eta):
            new_value, jax_grad = value_and_grad(_add_scale(params, eta, updates))
            # the gradient in gradtx's convention, conj(jax.grad) (docs/dtypes.md): for a
            # complex leaf dL/dRe z + i dL/dIm z, the real split's gradient, like `grad`
            new_grad = _conj(jax_grad)
            slope = _vdot(new_grad, updates)  # Re sum conj(g) u = the split's sum g_r u_r
            new_grad = _cast_like(new_grad, grad)
            return jnp.asarray(new_value).astype(dt), new_grad, slope.astype(dt)

        def errors(eta, v, sl):
            return (
                decrease_error(eta, v, sl, value_init, slope_init),
                curvature_error(sl, slope_init),
            )

        def search_interval(s):
            """Algorithm 3.5: grow the step until the bracket [low, high] is found."""
            guess = state.learning_rate if initial_guess_strategy == "keep" else 1.0
            eta = jnp.where(s.count == 0, guess, increase_factor * s.stepsize).astype(dt)
            if max_learning_rate is not None:
                at_max = eta >= max_learning_rate
                eta = jnp.minimum(eta, max_learning_rate).astype(dt)
            else:
                at_max = jnp.asarray(False)
            v, g, sl = on_line(eta)
            dec, curv = errors(eta, v, sl)
            good = jnp.maximum(dec, curv) <= tol
            safe = _where(
                dec <= tol, (eta, v, g), (s.safe_stepsize, s.safe_value, s.safe_grad)
            )
            to_high = (dec > 0.0) | ((v >= s.value) & (s.count > 0))
            to_low = (sl >= 0.0) & ~to_high
            prev = (s.stepsize, s.value, s.slope)
            new = (eta, v, sl)
            low, high = _where(to_low, (new, prev), (prev, new))
            found = to_high | to_low | good
            done = good | (at_max & ~found)
            return s._replace(
                count=s.count + 1,
                stepsize=eta, value=v, grad=g, slope=sl,
                decrease_error=dec, curvature_error=curv,
                interval_found=found, done=done,
                failed=(s.count + 1 >= max_linesearch_steps) & ~done,
                low=low[0], value_low=low[1], slope_low=low[2],
                high=high[0], value_high=high[1], slope_high=high[2],
                cubic_ref=low[0], value_cubic_ref=low[1],
                safe_stepsize=safe[0], safe_value=safe[1], safe_grad=safe[2],
            )  # fmt: skip

        def zoom(s):
            """Algorithm 3.6: interpolate inside the bracket."""
            delta = jnp.abs(s.high - s.low)
            left, right = jnp.minimum(s.high, s.low), jnp.maximum(s.high, s.low)
            cubic = _cubicmin(
                s.low, s.value_low, s.slope_low, s.high, s.value_high,
                s.cubic_ref, s.value_cubic_ref,
            )  # fmt: skip
            quad = _quadmin(s.low, s.value_low, s.slope_low, s.high, s.value_high)
            use_cubic = (cubic > left + 0.2 * delta) & (cubic < right - 0.2 * delta)
            use_quad = ~use_cubic & (quad > left + 0.1 * delta) & (quad < right - 0.1 * delta)
            eta = jnp.where(use_cubic, cubic, jnp.where(use_quad, quad, (s.low + s.high) / 2.0))
            v, g, sl = on_line(eta)
            dec, curv = errors(eta, v, sl)
            done = jnp.maximum(dec, curv) <= tol
            safe = _where(
                (dec <= tol) & (v < s.safe_value),
                (eta, v, g),
                (s.safe_stepsize, s.safe_value, s.safe_grad),
            )
            mid, low = (eta, v, sl), (s.low, s.value_low, s.slope_low)
            high = (s.high, s.value_high, s.slope_high)
            to_high = (dec > 0.0) | (v >= s.value_low)
            high_to_low = (sl * (s.high - s.low) >= 0.0) & ~to_high
            new_high = _where(high_to_low, low, _where(to_high, mid, high))
            new_low = _where(to_high, low, mid)
            ref = _where(to_high | high_to_low, high[:2], low[:2])
            stuck = (s.count + 1 >= max_linesearch_steps) | (
                (delta <= stepsize_precision) & (safe[0] > 0.0)
            )
            return s._replace(
                count=s.count + 1,
                stepsize=eta, value=v, grad=g, slope=sl,
                decrease_error=dec, curvature_error=curv,
                done=done, failed=stuck & ~done,
                low=new_low[0], value_low=new_low[1], slope_low=new_low[2],
                high=new_high[0], value_high=new_high[1], slope_high=new_high[2],
                cubic_ref=ref[0], value_cubic_ref=ref[1],
                safe_stepsize=safe[0], safe_value=safe[1], safe_grad=safe[2],
            )  # fmt: skip

        def fall_back(s):
            """A failed search takes the best step with sufficient decrease, if any (or
            the last trial; the safe step 0 when every trial was non-finite)."""
            use_safe = (s.safe_stepsize > 0.0) | jnp.isinf(s.decrease_error)
            if verbose:
                jax.debug.print(
                    "gradtx.scale_by_zoom_linesearch: the search failed (value {v}, slope "
                    "{sl}, last step {st}, decrease error {d}, curvature error {c}); "
                    "taking step {safe} (0: no step with sufficient decrease)",
                    v=value_init, sl=slope_init, st=s.stepsize, d=s.decrease_error,
                    c=s.curvature_error, safe=s.safe_stepsize, ordered=True,
                )  # fmt: skip
            safe = (s.safe_stepsize, s.safe_value, s.safe_grad)
            eta, v, g = _where(use_safe, safe, (s.stepsize, s.value, s.grad))
            return s._replace(stepsize=eta, value=v, grad=g)

        def body(s):
            s2 = jax.lax.cond(s.interval_found, zoom, search_interval, s)
            s2 = jax.lax.cond(s2.failed, fall_back, lambda x: x, s2)
            return _cast_like(s2, s)

        g0 = _cast_like(grad, params)
        start = _Zoom(
            count=jnp.asarray(0, jnp.int32),
            stepsize=zero, value=value_init, grad=g0, slope=slope_init,
            decrease_error=jnp.array(jnp.inf, dt), curvature_error=jnp.array(jnp.inf, dt),
            interval_found=jnp.asarray(False), done=jnp.asarray(False),
            failed=jnp.asarray(False),
            low=zero, value_low=value_init, slope_low=slope_init,
            high=zero, value_high=value_init, slope_high=slope_init,
            cubic_ref=zero, value_cubic_ref=value_init,
            safe_stepsize=zero, safe_value=value_init, safe_grad=g0,
        )  # fmt: skip
        s = jax.lax.while_loop(lambda s: ~(s.done | s.failed), body, start)
        new_updates = jax.tree.map(lambda u: (s.stepsize * u).astype(u.dtype), updates)
        new_state = ScaleByZoomLinesearchState(
            learning_rate=s.stepsize,
            value=s.value,
            grad=s.grad,
            info=ZoomLinesearchInfo(
                num_linesearch_steps=s.count,
                decrease_error=s.decrease_error,
                curvature_error=s.curvature_error,
            ),
        )
        return new_updates, _cast_like(new_state, state)

    return GradientTransformationExtraArgs(init_fn, update_fn)


__all__ = ["ScaleByZoomLinesearchState", "ZoomLinesearchInfo", "scale_by_zoom_linesearch"]
