"""Plain-Python (float64) references for gradtx.schedules.

Written from the formulas in the papers and from torch.optim.lr_scheduler's documented
behaviour (including its stateful ``step()`` recursions where those are the definition,
e.g. SGDR's ``T_cur``), never by calling gradtx or optax. Each function returns the
list of values for steps ``0 .. n - 1``; ``schedule(k)`` is the value used for the k-th
update (torch: the lr after ``k`` calls to ``scheduler.step()``).
"""

from __future__ import annotations

import bisect
import math


def constant(n, value):
    return [value for _ in range(n)]


def step_lr(n, init_value, step_size, gamma=0.1):
    return [init_value * gamma ** (k // step_size) for k in range(n)]


def multistep_lr(n, init_value, milestones, gamma=0.1):
    return [init_value * gamma ** bisect.bisect_right(sorted(milestones), k) for k in range(n)]


def piecewise_constant(n, init_value, boundaries_and_scales):
    out = []
    for k in range(n):
        v = init_value
        for b, s in sorted(boundaries_and_scales.items()):
            if k >= b:
                v *= s
        out.append(v)
    return out


def factor(n, init_value, factor, floor=0.0):
    # d2l's stateful FactorScheduler: each call multiplies by `factor`, floored.
    out, lr = [init_value], init_value
    for _ in range(n - 1):
        lr = max(floor, lr * factor)
        out.append(lr)
    return out[:n]


def exponential_lr(n, init_value, gamma):
    return [init_value * gamma**k for k in range(n)]


def exponential_decay(
    n, init_value, transition_steps, decay_rate, transition_begin=0, staircase=False, end_value=None
):
    out = []
    for k in range(n):
        t = k - transition_begin
        if t <= 0:
            v = init_value
        else:
            p = t // transition_steps if staircase else t / transition_steps
            v = init_value * decay_rate**p
        if end_value is not None:
            v = max(v, end_value) if decay_rate < 1 else min(v, end_value)
        out.append(v)
    return out


def exp_decay(n, init_value, k):
    return [init_value * math.exp(-k * t) for t in range(n)]


def inverse_time(n, init_value, gamma, power=1.0):
    return [init_value / (1 + gamma * t) ** power for t in range(n)]


def polynomial(n, init_value, end_value, power, transition_steps, transition_begin=0):
    out = []
    for k in range(n):
        t = min(max(k - transition_begin, 0), transition_steps)
        out.append((init_value - end_value) * (1 - t / transition_steps) ** power + end_value)
    return out


def torch_polynomial_lr(n, base_lr, total_iters, power=1.0):
    """torch PolynomialLR's closed form."""
    return [base_lr * (1 - min(total_iters, k) / total_iters) ** power for k in range(n)]


def linear(n, init_value, end_value, transition_steps, transition_begin=0):
    return polynomial(n, init_value, end_value, 1.0, transition_steps, transition_begin)


def cosine_annealing(n, init_value, T_max, eta_min=0.0):
    return [
        eta_min + (init_value - eta_min) * (1 + math.cos(math.pi * k / T_max)) / 2 for k in range(n)
    ]


def cosine_decay(n, init_value, decay_steps, alpha=0.0, exponent=1.0):
    out = []
    for k in range(n):
        c = 0.5 * (1 + math.cos(math.pi * min(k, decay_steps) / decay_steps))
        out.append(init_value * ((1 - alpha) * c**exponent + alpha))
    return out


def warmup_cosine_decay(
    n, init_value, peak_value, warmup_steps, decay_steps, end_value=0.0, exponent=1.0
):
    out = []
    for k in range(n):
        if k < warmup_steps:
            out.append(init_value + (peak_value - init_value) * k / warmup_steps)
        else:
            t = min(k - warmup_steps, decay_steps - warmup_steps) / (decay_steps - warmup_steps)
            c = (0.5 * (1 + math.cos(math.pi * t))) ** exponent
            out.append(end_value + (peak_value - end_value) * c)
    return out


def cosine_warm_restarts(n, init_value, T_0, T_mult=1, eta_min=0.0):
    # torch's step() without an epoch: T_cur += 1; restart when T_cur reaches T_i.
    out, t_cur, t_i = [], 0, T_0
    for _ in range(n):
        out.append(eta_min + (init_value - eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2)
        t_cur += 1
        if t_cur >= t_i:
            t_cur -= t_i
            t_i *= T_mult
    return out


def cyclic(
    n, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular", gamma=1.0
):
    # torch CyclicLR.get_lr, verbatim in float64.
    up = float(step_size_up)
    down = float(step_size_down) if step_size_down is not None else up
    total = up + down
    ratio = up / total
    out = []
    for k in range(n):
        cycle = math.floor(1 + k / total)
        x = 1.0 + k / total - cycle
        scale = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        height = (max_lr - base_lr) * scale
        if mode == "triangular":
            out.append(base_lr + height)
        elif mode == "triangular2":
            out.append(base_lr + height * (1 / (2.0 ** (cycle - 1))))
        else:
            out.append(base_lr + height * gamma**k)
    return out


def one_cycle(
    n,
    max_lr,
    total_steps,
    pct_start=0.3,
    anneal_strategy="cos",
    div_factor=25.0,
    final_div_factor=1e4,
    three_phase=False,
):
    # torch OneCycleLR.get_lr; beyond the schedule (k >= total_steps) the last value holds.
    initial = max_lr / div_factor
    minimum = initial / final_div_factor
    if three_phase:
        phases = [
            (float(pct_start * total_steps) - 1, initial, max_lr),
            (float(2 * pct_start * total_steps) - 2, max_lr, initial),
            (total_steps - 1, initial, minimum),
        ]
    else:
        phases = [
            (float(pct_start * total_steps) - 1, initial, max_lr),
            (total_steps - 1, max_lr, minimum),
        ]

    def anneal(start, end, pct):
        if anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    out = []
    for k in range(n):
        step = min(k, total_steps - 1)
        start_step = 0.0
        for i, (end_step, start, end) in enumerate(phases):
            if step <= end_step or i == len(phases) - 1:
                out.append(anneal(start, end, (step - start_step) / (end_step - start_step)))
                break
            start_step = end_step
    return out


def warmup(n, inner_values, warmup_steps, start_value=0.0, overlap=False):
    """``inner_values``: the wrapped schedule's values at steps 0 .. n-1."""
    out = []
    for k in range(n):
        if overlap:
            f0 = start_value / inner_values[0] if inner_values[0] != 0 else 0.0
            out.append(inner_values[k] * (f0 + (1 - f0) * min(k, warmup_steps) / warmup_steps))
        elif k < warmup_steps:
            out.append(start_value + (inner_values[0] - start_value) * k / warmup_steps)
        else:
            out.append(inner_values[k - warmup_steps])
    return out


def join(n, inner_values, boundaries):
    """``inner_values[i]``: schedule i's values at steps 0 .. n-1."""
    out = []
    for k in range(n):
        i = bisect.bisect_right(boundaries, k)
        start = boundaries[i - 1] if i > 0 else 0
        out.append(inner_values[i][k - start])
    return out
