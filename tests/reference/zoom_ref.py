"""Float64 references for the zoom line search and for L-BFGS with it, written from
Nocedal & Wright, *Numerical Optimization* (1999), Algorithms 3.5 (bracketing), 3.6
(zoom, with scipy's cubic / quadratic interpolants) and 7.4 (the two-loop recursion),
and Hager & Zhang, *Algorithm 851: CG_DESCENT* (2006), eq. (23) (the approximate
sufficient-decrease criterion). Plain NumPy on flat vectors; never imports gradtx or
optax."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np


class ZoomResult(NamedTuple):
    stepsize: float
    value: float
    grad: np.ndarray
    trials: int
    decrease_error: float
    curvature_error: float


def _nan_to_inf(x: float) -> float:
    return math.inf if math.isnan(x) else x


def _cubicmin(a, fa, fpa, b, fb, c, fc):
    """The critical point of the cubic through (a, fa), (b, fb), (c, fc) with slope fpa
    at a; NaN when there is none."""
    a, fa, fpa, b, fb, c, fc = map(np.float64, (a, fa, fpa, b, fb, c, fc))
    db, dc = b - a, c - a
    with np.errstate(all="ignore"):
        denom = (db * dc) ** 2 * (db - dc)
        rb, rc = fb - fa - fpa * db, fc - fa - fpa * dc
        aa = (dc**2 * rb - db**2 * rc) / denom
        bb = (-(dc**3) * rb + db**3 * rc) / denom
        rad = bb * bb - 3.0 * aa * fpa
        return float(a + (-bb + np.sqrt(rad)) / (3.0 * aa))


def _quadmin(a, fa, fpa, b, fb):
    """The critical point of the quadratic through (a, fa), (b, fb) with slope fpa at a."""
    a, fa, fpa, b, fb = map(np.float64, (a, fa, fpa, b, fb))
    db = b - a
    with np.errstate(all="ignore"):
        curv = (fb - fa - fpa * db) / db**2
        return float(a - fpa / (2.0 * curv))


def zoom_linesearch(
    f: Callable[[np.ndarray], float],
    grad: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    u: np.ndarray,
    value: float,
    g: np.ndarray,
    guess: float,
    max_steps: int,
    max_stepsize: float | None = None,
    tol: float = 0.0,
    increase_factor: float = 2.0,
    c1: float = 1e-4,
    c2: float = 0.9,
    c3: float | None = 1e-6,
    precision: float = 1e-5,
) -> ZoomResult:
    """A step ``eta`` along ``u`` from ``x`` with (approximate) sufficient decrease and
    small curvature ``|phi'(eta)| <= c2 |phi'(0)|``, ``phi(eta) = f(x + eta u)``.

    Phase 1 (Algorithm 3.5) tries ``guess``, then ``increase_factor`` times the last
    trial (capped at ``max_stepsize``) until a trial is acceptable or brackets an
    acceptable step. Phase 2 (Algorithm 3.6) tries the cubic interpolant's minimiser if
    it lies at least 20% of the bracket inside it, else the quadratic one's (10%), else
    the midpoint. After ``max_steps`` trials, or when the bracket is shorter than
    ``precision`` and some trial had sufficient decrease, the best trial with sufficient
    decrease is taken (the last one if there is none)."""
    phi0, dphi0 = float(value), float(u @ g)

    def dec_err(eta, v, dv):
        err = v - phi0 - c1 * eta * dphi0
        if c3 is not None:
            approx = max(dv - (2.0 * c1 - 1.0) * dphi0, v - phi0 - c3 * abs(phi0))
            err = min(approx, err)
        return _nan_to_inf(max(err, 0.0))

    def curv_err(dv):
        return _nan_to_inf(max(abs(dv) - c2 * abs(dphi0), 0.0))

    def trial(eta):
        xe = x + eta * u
        v, ge = float(f(xe)), grad(xe)
        return v, ge, float(ge @ u)

    safe = (0.0, phi0, g)  # (stepsize, value, grad) of the best sufficient-decrease trial
    prev = (0.0, phi0, dphi0)
    eta, v, ge, dv = 0.0, phi0, g, dphi0
    low = high = ref = None
    k, bracketed = 0, False
    dec = curv = math.inf
    while True:
        if not bracketed:  # Algorithm 3.5
            eta = guess if k == 0 else increase_factor * prev[0]
            at_max = max_stepsize is not None and eta >= max_stepsize
            if max_stepsize is not None:
                eta = min(eta, max_stepsize)
            v, ge, dv = trial(eta)
            dec, curv = dec_err(eta, v, dv), curv_err(dv)
            if dec <= tol:
                safe = (eta, v, ge)
            good = max(dec, curv) <= tol
            to_high = dec > 0.0 or (v >= prev[1] and k > 0)
            to_low = dv >= 0.0 and not to_high
            if to_low:
                low, high = (eta, v, dv), prev
            else:
                low, high = prev, (eta, v, dv)
            ref = low[:2]
            bracketed = to_high or to_low or good
            done = good or (at_max and not bracketed)
            k += 1
            failed = k >= max_steps and not done
            prev = (eta, v, dv)
        else:  # Algorithm 3.6
            delta = abs(high[0] - low[0])
            left, right = min(high[0], low[0]), max(high[0], low[0])
            cubic = _cubicmin(*low, *high[:2], *ref)
            quad = _quadmin(*low, *high[:2])
            if left + 0.2 * delta < cubic < right - 0.2 * delta:
                eta = cubic
            elif left + 0.1 * delta < quad < right - 0.1 * delta:
                eta = quad
            else:
                eta = (low[0] + high[0]) / 2.0
            v, ge, dv = trial(eta)
            dec, curv = dec_err(eta, v, dv), curv_err(dv)
            done = max(dec, curv) <= tol
            if dec <= tol and v < safe[1]:
                safe = (eta, v, ge)
            mid = (eta, v, dv)
            to_high = dec > 0.0 or v >= low[1]
            if to_high:
                ref, high = high[:2], mid
            elif dv * (high[0] - low[0]) >= 0.0:
                ref, high, low = high[:2], low, mid
            else:
                ref, low = low[:2], mid
            k += 1
            failed = (k >= max_steps or (delta <= precision and safe[0] > 0.0)) and not done
        if failed:
            if safe[0] > 0.0 or math.isinf(dec):
                eta, v, ge = safe
            return ZoomResult(eta, v, ge, k, dec, curv)
        if done:
            return ZoomResult(eta, v, ge, k, dec, curv)


def two_loop(g: np.ndarray, pairs: list[tuple[np.ndarray, np.ndarray, float]],
             gamma: float) -> np.ndarray:  # fmt: skip
    """Algorithm 7.4: ``H g`` for the pairs ``(s, y, rho)`` (oldest first) and
    ``H_0 = gamma I``."""
    q, alphas = g.copy(), []
    for s, y, rho in reversed(pairs):
        a = rho * float(s @ q)
        q = q - a * y
        alphas.append(a)
    r = gamma * q
    for (s, y, rho), a in zip(pairs, reversed(alphas), strict=True):
        r = r + (a - rho * float(y @ r)) * s
    return r


def lbfgs_descent(f, grad, x0, steps, memory_size=10, max_linesearch_steps=20, **zoom):
    """L-BFGS with the zoom search (first trial 1): ``x_{k+1} = x_k - eta_k H_k g_k``
    with ``H_0 = min(1, 1/|g_0|) I`` at the first step, then ``gamma_k = <s, y>/<y, y>``
    of the newest pair; the value and gradient at the accepted point are reused.
    Returns the iterates, the accepted steps and the trial counts."""
    x = np.array(x0, np.float64)
    value, g = float(f(x)), grad(x)
    pairs: list[tuple[np.ndarray, np.ndarray, float]] = []
    prev = None
    xs, etas, trials = [], [], []
    for _ in range(steps):
        if prev is None:
            gamma = min(1.0, 1.0 / np.linalg.norm(g))
        else:
            s, y = x - prev[0], g - prev[1]
            sy, yy = float(s @ y), float(y @ y)
            pairs = (pairs + [(s, y, 0.0 if sy == 0.0 else 1.0 / sy)])[-memory_size:]
            gamma = sy / yy if yy > 0 else 1.0
        prev = (x, g)
        u = -two_loop(g, pairs, gamma)
        res = zoom_linesearch(f, grad, x, u, value, g, 1.0, max_linesearch_steps, **zoom)
        x = x + res.stepsize * u
        value, g = res.value, res.grad
        xs.append(x.copy())
        etas.append(res.stepsize)
        trials.append(res.trials)
    return np.stack(xs), np.array(etas), np.array(trials)


def zoom_descent(f, grad, x0, steps, max_linesearch_steps=20, **zoom):
    """Gradient descent with the zoom search, first trial the previous accepted step
    (``initial_guess_strategy="keep"``, 1 at the start). Returns the iterates, the
    accepted steps and the trial counts."""
    x, eta = np.array(x0, np.float64), 1.0
    xs, etas, trials = [], [], []
    for _ in range(steps):
        value, g = float(f(x)), grad(x)
        res = zoom_linesearch(f, grad, x, -g, value, g, eta, max_linesearch_steps, **zoom)
        eta = res.stepsize
        x = x - eta * g
        xs.append(x.copy())
        etas.append(eta)
        trials.append(res.trials)
    return np.stack(xs), np.array(etas), np.array(trials)
