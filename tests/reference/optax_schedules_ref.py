"""Float64 references for optax's schedule names (gradtx.schedules._optax_names).

Written from the formulas in optax 0.2.8's docstrings and the papers (SGDR, one-cycle),
never by calling gradtx or optax. Each function maps a list of integer steps (negative
ones included, where optax's formulas are evaluated as written, without clamping) to the
list of float64 values.
"""

from __future__ import annotations

import math


def constant(steps, value):
    return [float(value) for _ in steps]


def polynomial(steps, init, end, power, transition_steps, transition_begin=0):
    if transition_steps <= 0:
        return constant(steps, init)
    begin = max(transition_begin, 0)
    out = []
    for k in steps:
        c = min(max(k - begin, 0), transition_steps)
        out.append((init - end) * (1 - c / transition_steps) ** power + end)
    return out


def linear(steps, init, end, transition_steps, transition_begin=0):
    return polynomial(steps, init, end, 1, transition_steps, transition_begin)


def piecewise_constant(steps, init, boundaries_and_scales):
    out = []
    for k in steps:
        v = init
        for b, s in sorted(boundaries_and_scales.items()):
            if k >= b:
                v *= s
        out.append(v)
    return out


def exponential_decay(
    steps, init, transition_steps, decay_rate, transition_begin=0, staircase=False, end=None
):
    if transition_steps <= 0 or decay_rate == 0:
        return constant(steps, init)
    begin = max(transition_begin, 0)
    out = []
    for k in steps:
        t = k - begin
        if t <= 0:
            v = init
        else:
            p = t / transition_steps
            v = init * decay_rate ** (math.floor(p) if staircase else p)
        if end is not None:
            v = max(v, end) if decay_rate < 1 else min(v, end)
        out.append(v)
    return out


def cosine_decay(steps, init, decay_steps, alpha=0.0, exponent=1.0):
    out = []
    for k in steps:
        c = min(k, decay_steps)  # no lower clamp: cos is even, as in optax
        cos = 0.5 * (1 + math.cos(math.pi * c / decay_steps))
        out.append(init * ((1 - alpha) * cos**exponent + alpha))
    return out


def join(steps, parts, boundaries):
    """``parts``: functions ``steps -> values``; the i-th sees ``k - boundaries[i-1]``."""
    out = []
    for k in steps:
        i = sum(1 for b in boundaries if k >= b)
        shift = boundaries[i - 1] if i else 0
        out.append(parts[i]([k - shift])[0])
    return out


def warmup_cosine_decay(steps, init, peak, warmup_steps, decay_steps, end=0.0, exponent=1.0):
    alpha = 0.0 if peak == 0 else end / peak
    return join(
        steps,
        [
            lambda s: linear(s, init, peak, warmup_steps),
            lambda s: cosine_decay(s, peak, decay_steps - warmup_steps, alpha, exponent),
        ],
        [warmup_steps],
    )


def warmup_exponential_decay(
    steps, init, peak, warmup_steps, transition_steps, rate, begin=0, staircase=False, end=None
):
    return join(
        steps,
        [
            lambda s: linear(s, init, peak, warmup_steps),
            lambda s: exponential_decay(s, peak, transition_steps, rate, begin, staircase, end),
        ],
        [warmup_steps],
    )


def sgdr(steps, cycles):
    parts, boundaries, total = [], [], 0
    for c in cycles:
        args = (c["init_value"], c["peak_value"], c["warmup_steps"], c["decay_steps"])
        tail = (c.get("end_value", 0.0), c.get("exponent", 1.0))
        parts.append(lambda s, a=args + tail: warmup_cosine_decay(s, *a))
        total += c["decay_steps"]
        boundaries.append(total)
    return join(steps, parts, boundaries[:-1])


def piecewise_interpolate(steps, kind, init, boundaries_and_scales):
    items = sorted((boundaries_and_scales or {}).items())
    bounds = [0] + [b for b, _ in items]
    values = [init]
    for _, s in items:
        values.append(values[-1] * s)
    out = []
    for k in steps:
        v = 0.0
        for i in range(len(bounds) - 1):
            lo, hi = bounds[i], bounds[i + 1]
            if lo <= k < hi:
                p = (k - lo) / max(hi - lo, 1)
                a, b = values[i], values[i + 1]
                if kind == "linear":
                    v += a + (b - a) * p
                else:
                    v += b + (a - b) * (1 + math.cos(math.pi * p)) / 2
        if k >= bounds[-1]:
            v += values[-1]
        out.append(v)
    return out


def cosine_onecycle(steps, T, peak, pct_start=0.3, div=25.0, final_div=1e4):
    bas = {int(pct_start * T): div}
    bas[T] = 1.0 / (div * final_div)
    return piecewise_interpolate(steps, "cosine", peak / div, bas)


def linear_onecycle(steps, T, peak, pct_start=0.3, pct_final=0.85, div=25.0, final_div=1e4):
    bas = {int(pct_start * T): div}
    bas[int(pct_final * T)] = 1.0 / div
    bas[T] = 1.0 / final_div
    return piecewise_interpolate(steps, "linear", peak / div, bas)
