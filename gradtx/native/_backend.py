"""The native kernel as a backend of the ordinary optimisers.

:func:`plan` reads the :class:`~gradtx.base.TransformSpec` that gradtx's constructors
attach to what they return (``tx.update.spec``) and recognises the chains it has a
kernel for: a covered optimiser at the end of a chain, after any number of other links
(gradient clipping, scaling, an optax transform ...), which run as they are before the
kernel. Nothing is registered anywhere: ``gradtx.adam(1e-3)`` is recognised because its
spec says ``chain(scale_by_adam(...), scale_by_learning_rate(...))``.

Covered tails (the kernel rule in brackets):

* ``scale_by_adam`` [+ ``add_decayed_weights``] + ``scale_by_learning_rate``: Adam, AdamW,
  NAdam(W) (``mu_dtype`` unset);
* ``scale_by_yogi`` + ``scale_by_learning_rate``: Yogi;
* ``scale_by_amsgrad`` + ``scale_by_learning_rate``: AMSGrad;
* ``scale_by_lion`` (``mode="hard"``), ``scale_by_adamax``, ``scale_by_belief`` or
  ``scale_by_radam`` [+ ``add_decayed_weights``] + ``scale_by_learning_rate``: Lion,
  AdaMax(W), AdaBelief, RAdam (and their ``nesterov=True`` forms);
* ``trace`` + ``scale_by_learning_rate``: SGD with (Nesterov) momentum;
* ``scale_by_rss`` + ``scale_by_learning_rate``: Adagrad;
* ``scale_by_rms`` (not centred) + ``scale_by_learning_rate``: RMSProp.

Identity links (``identity()``, e.g. RMSProp without momentum) are skipped. A
``clip_by_global_norm`` or ``scale`` link right before the optimiser is folded into the
kernel: the kernel reads the gradient as ``(g / d) * c`` (the norm and ``max_norm``, or 1
and the factor), with the separate link's rounding, so the clipped gradient never
reaches memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.base import EmptyState, OptState, Params, TransformSpec, Updates, spec_of
from gradtx.native import _build
from gradtx.transforms import (
    MaskedState,
    ScaleByAdamState,
    ScaleByAmsgradState,
    ScaleByBeliefState,
    ScaleByLionState,
    ScaleByRmsState,
    ScaleByRssState,
    ScaleByScheduleState,
    TraceState,
    WeightDecayState,
)
from gradtx.transforms._adagrad_rmsprop import ScaleByRmsWithCountState
from gradtx.transforms._modifiers import _full_mask
from gradtx.transforms._radam import rectification
from gradtx.tree._core import bias_correction, global_norm, safe_increment

NUM_RULE_SCAL = 13  # a rule's scalars per leaf; then the folded link's d and c
NUM_SCAL = 15  # kernels.cc: kNumScal

# kernels.cc's Rule enum
(ADAM, YOGI, NADAM, AMSGRAD, TRACE, NESTEROV, RSS, RMS_EPS_IN, RMS_EPS_OUT, LION, ADAMAX,
 BELIEF, RADAM) = range(13)


class _Link(NamedTuple):
    tx: Any  # the link's (init, update)
    spec: TransformSpec | None
    path: tuple[int, ...]  # where its state sits in the (nested tuple) state


def _links(tx: Any, state: Any, path: tuple[int, ...] = ()) -> list[_Link] | None:
    """The chain flattened into its links, each with the path of its state; None if the
    state does not have the chain's shape."""
    spec = spec_of(tx)
    if spec is None or spec.name != "chain":
        return [_Link(tx, spec, path)]
    if not (isinstance(state, tuple) and len(state) == len(spec.links)):
        return None
    out: list[_Link] = []
    for i, (link, s) in enumerate(zip(spec.links, state, strict=True)):
        sub = _links(link, s, path + (i,))
        if sub is None:
            return None
        out.extend(sub)
    return out


def _get(state: Any, path: tuple[int, ...]) -> Any:
    for i in path:
        state = state[i]
    return state


def _set(state: Any, path: tuple[int, ...], value: Any) -> Any:
    if not path:
        return value
    items = list(state)
    items[path[0]] = _set(state[path[0]], path[1:], value)
    return tuple(items)


class _Kernel(NamedTuple):
    """A recognised tail: the kernel rule, how to read and write its state, its scalars."""

    rule: int
    moments: Callable[[list[Any]], list[Any]]  # tail states -> trees like the params
    scalars: Callable[[list[Any], Any], tuple[list[Any], list[Any]]]
    # (tail states, params) -> (rows of scalars per leaf, new non-moment tail states)
    rebuild: Callable[[list[Any], list[Any]], list[Any]]  # (states, new moments) -> states
    mask: Any = None  # AdamW's weight-decay mask


def _learning_rate(spec: TransformSpec, state: Any) -> tuple[jax.Array, Any]:
    """(signed step factor, new state) as ``scale_by_learning_rate``."""
    lr, sign = spec.hyperparams["learning_rate"], -1 if spec.hyperparams["flip_sign"] else 1
    if isinstance(state, ScaleByScheduleState):
        value = jnp.asarray(sign * lr(state.count), jnp.float32)
        return value, ScaleByScheduleState(count=safe_increment(state.count))
    return jnp.asarray(sign * lr, jnp.float32), state


def _row(*xs: Any) -> list[jax.Array]:
    row = [jnp.asarray(x, jnp.float32) for x in xs]
    return row + [jnp.float32(0)] * (NUM_RULE_SCAL - len(row))


def _decayed_rows(decay: TransformSpec | None, wd_state: Any, params: Any,
                  row: Callable[[Any], list[Any]]) -> tuple[list[list[Any]], list[Any]]:
    """(a row per leaf, [add_decayed_weights' new state] or []): ``row(wd)`` where the
    decay applies (``row(0.0)`` elsewhere, and everywhere without a decay link)."""
    treedef = jax.tree.structure(params)
    n = treedef.num_leaves
    plain = row(0.0)
    if decay is None:
        return [plain] * n, []
    wd = decay.hyperparams["weight_decay"]
    inner = wd_state.inner_state if isinstance(wd_state, MaskedState) else wd_state
    if callable(wd):  # a schedule: its count is in the state
        wd = wd(inner.count)
        inner = WeightDecayState(count=safe_increment(inner.count))
    new = wd_state._replace(inner_state=inner) if isinstance(wd_state, MaskedState) else inner
    mask = decay.hyperparams["mask"]
    flags = [True] * n if mask is None else treedef.flatten_up_to(_full_mask(mask, params))
    decayed = row(wd)
    return [decayed if f else plain for f in flags], [new]


def _adam_family(specs: list[TransformSpec], params: Any) -> _Kernel | None:
    first, lr_spec = specs[0], specs[-1]
    h = first.hyperparams
    decay = specs[1] if len(specs) == 3 else None
    if first.name == "scale_by_adam":
        if h["mu_dtype"] is not None:
            return None
        rule = NADAM if h["nesterov"] else ADAM
    elif first.name == "scale_by_yogi" and decay is None:
        rule = YOGI
    elif first.name == "scale_by_amsgrad" and decay is None:
        if h["mu_dtype"] is not None:
            return None
        rule = AMSGRAD
    else:
        return None
    b1, b2 = h["b1"], h["b2"]
    def moments(states):
        s = states[0]
        return [s.mu, s.nu] + ([s.nu_max] if rule == AMSGRAD else [])

    def scalars(states, params):
        s = states[0]
        count = safe_increment(s.count)
        use_c1 = h.get("bias_correction_mu", True)
        use_c2 = h.get("bias_correction_nu", True)
        c1 = bias_correction(b1, count) if use_c1 else 1.0
        c2 = bias_correction(b2, count) if use_c2 else 1.0
        ic1n = 1 / bias_correction(b1, safe_increment(count)) if rule == NADAM else 0.0
        step, lr_state = _learning_rate(lr_spec, states[-1])
        head = (1 - b1, b1, 1 - b2, b2, 1 / c1, 1 / c2, h["eps"], h["eps_root"], step)
        rows, wd_new = _decayed_rows(decay, states[1] if decay else None, params,
                                     lambda wd: _row(*head, wd, ic1n))
        return rows, [s._replace(count=count), *wd_new, lr_state]

    def rebuild(states, new_moments):
        s = states[0]
        fields = dict(mu=new_moments[0], nu=new_moments[1])
        if rule == AMSGRAD:
            fields["nu_max"] = new_moments[2]
        return [s._replace(**fields), *states[1:]]

    mask = decay.hyperparams["mask"] if decay is not None else None
    return _Kernel(rule, moments, scalars, rebuild, mask)


def _elementwise(specs: list[TransformSpec], params: Any) -> _Kernel | None:
    """Lion (``mode="hard"``), AdaMax, AdaBelief and RAdam [+ ``add_decayed_weights``]
    + ``scale_by_learning_rate``: the Adam family's row of scalars (kernels.cc), RAdam's
    rectification factor and switch computed here, once per step."""
    first, lr_spec = specs[0], specs[-1]
    h = first.hyperparams
    decay = specs[1] if len(specs) == 3 else None
    if first.name == "scale_by_lion":
        if h["mode"] != "hard" or h["mu_dtype"] not in (None, jnp.float32):
            return None
        rule = LION
    elif first.name == "scale_by_adamax":
        rule = ADAMAX
    elif first.name == "scale_by_belief":
        rule = BELIEF
    elif first.name == "scale_by_radam":
        rule = RADAM
    else:
        return None
    b1, b2 = h["b1"], h["b2"]
    nesterov = h.get("nesterov", False)

    def moments(states):
        s = states[0]
        return [s.mu] if rule == LION else [s.mu, s.nu]

    def scalars(states, params):
        s = states[0]
        count = safe_increment(s.count)
        step, lr_state = _learning_rate(lr_spec, states[-1])
        if rule == LION:
            head = (1 - b1, b1, 1 - b2, b2, 0.0, 0.0, 0.0, 0.0, step)
            tail = (0.0, 0.0, 0.0)
        else:
            c1, c2 = bias_correction(b1, count), bias_correction(b2, count)
            ic1n = 1 / bias_correction(b1, safe_increment(count)) if nesterov else 0.0
            r, rect = rectification(b2, count, h["threshold"]) if rule == RADAM else (0.0, 0.0)
            head = (1 - b1, b1, 1 - b2, b2, 1 / c1, 1 / c2, h["eps"], h.get("eps_root", 0.0),
                    step)
            tail = (ic1n, r, rect)
        rows, wd_new = _decayed_rows(decay, states[1] if decay else None, params,
                                     lambda wd: _row(*head, wd, *tail))
        return rows, [s._replace(count=count), *wd_new, lr_state]

    def rebuild(states, new_moments):
        s = states[0]
        fields = dict(mu=new_moments[0]) if rule == LION else dict(
            mu=new_moments[0], nu=new_moments[1])
        return [s._replace(**fields), *states[1:]]

    mask = decay.hyperparams["mask"] if decay is not None else None
    return _Kernel(rule, moments, scalars, rebuild, mask)


def _one_state(specs: list[TransformSpec], params: Any) -> _Kernel | None:
    first, lr_spec = specs[0], specs[-1]
    h = first.hyperparams
    if len(specs) != 2:
        return None
    if first.name == "trace":
        if h["accumulator_dtype"] not in (None, jnp.float32):
            return None
        rule = NESTEROV if h["nesterov"] else TRACE
        read, write = (lambda s: s.trace), (lambda s, t: TraceState(trace=t))

        def head(s):
            return (h["decay"], 0.0, 0.0, 0.0), s
    elif first.name == "scale_by_rss":
        rule = RSS
        read = lambda s: s.sum_of_squares  # noqa: E731
        write = lambda s, t: ScaleByRssState(sum_of_squares=t)  # noqa: E731

        def head(s):
            return (h["eps"], 0.0, 0.0, 0.0), s
    elif first.name == "scale_by_rms" and not h["centered"]:
        rule = RMS_EPS_IN if h["eps_in_sqrt"] else RMS_EPS_OUT
        read = lambda s: s.nu  # noqa: E731
        write = lambda s, t: s._replace(nu=t)  # noqa: E731

        def head(s):
            c = 1.0
            if h["bias_correction"]:  # the count is in the state only then (optax's tree)
                s = s._replace(count=safe_increment(s.count))
                c = bias_correction(h["decay"], s.count)
            return (1 - h["decay"], h["decay"], 1 / c, h["eps"]), s
    else:
        return None

    def scalars(states, params):
        k, s = head(states[0])
        step, lr_state = _learning_rate(lr_spec, states[1])
        n = jax.tree.structure(params).num_leaves
        return [_row(*k, step)] * n, [s, lr_state]

    return _Kernel(rule, lambda states: [read(states[0])], scalars,
                   lambda states, m: [write(states[0], m[0]), *states[1:]])


_STATE_TYPES = {
    "scale_by_adam": ScaleByAdamState,
    "scale_by_yogi": ScaleByAdamState,
    "scale_by_amsgrad": ScaleByAmsgradState,
    "trace": TraceState,
    "scale_by_rss": ScaleByRssState,
    "scale_by_rms": (ScaleByRmsState, ScaleByRmsWithCountState),
    "scale_by_lion": ScaleByLionState,
    "scale_by_adamax": ScaleByAdamState,
    "scale_by_belief": ScaleByBeliefState,
    "scale_by_radam": ScaleByAdamState,
    "add_decayed_weights": (WeightDecayState, EmptyState, MaskedState),
    "scale_by_learning_rate": (EmptyState, ScaleByScheduleState),
}


def _match_tail(links: list[_Link], states: list[Any], params: Any) -> tuple[int, _Kernel] | None:
    """(index where the covered tail starts, its kernel), or None."""
    for length in (3, 2):
        if len(links) < length:
            continue
        tail = links[-length:]
        specs = [lk.spec for lk in tail]
        if any(s is None for s in specs) or specs[-1].name != "scale_by_learning_rate":
            continue
        if not all(isinstance(st, _STATE_TYPES.get(s.name, ()))
                   for s, st in zip(specs, states[-length:], strict=True)):
            continue
        if length == 3 and specs[1].name != "add_decayed_weights":
            continue
        kernel = (_adam_family(specs, params) or _elementwise(specs, params)
                  or _one_state(specs, params))
        if kernel is not None:
            return len(links) - length, kernel
    return None


class Plan(NamedTuple):
    prefix: list[_Link]  # links run as they are, before the kernel
    fold: _Link | None  # a scaling link folded into the kernel (clip_by_global_norm, scale)
    tail: list[_Link]  # the links the kernel runs
    kernel: _Kernel
    skipped: list[_Link]  # identity links


_FOLDABLE = ("clip_by_global_norm", "scale")


def plan(tx: Any, params: Params, grads: Updates, state: OptState) -> Plan | str:
    """The native plan for one step of ``tx``, or the reason there is none."""
    links = _links(tx, state)
    if links is None:
        return "the state does not have the shape of tx's chain"
    skipped = [lk for lk in links if lk.spec is not None and lk.spec.name == "identity"]
    links = [lk for lk in links if lk not in skipped]
    states = [_get(state, lk.path) for lk in links]
    found = _match_tail(links, states, params)
    if found is None:
        return ("tx does not end in a covered optimiser (adam, adamw, nadam, yogi, amsgrad, "
                "lion, adamax, adabelief, radam, sgd with momentum, adagrad, rmsprop)")
    start, kernel = found
    tail_states = states[start:]
    treedef = jax.tree.structure(params)
    try:
        trees = [treedef.flatten_up_to(t) for t in (grads, *kernel.moments(tail_states))]
    except (ValueError, TypeError):
        return "grads or state do not match the params tree"
    if treedef.num_leaves == 0:
        return "the params tree has no leaves"
    for leaves in [jax.tree.leaves(params), *trees]:
        for x in leaves:
            if jnp.result_type(x) != jnp.float32:
                return f"a leaf has dtype {jnp.result_type(x)}, only float32 is native"
    if kernel.mask is not None and not all(
            isinstance(m, bool) for m in jax.tree.leaves(_full_mask(kernel.mask, params))):
        return "the weight-decay mask has array leaves (only Python booleans are native)"
    if not _build.available():
        return "native kernel unavailable"
    prefix, fold = links[:start], None
    if prefix and prefix[-1].spec is not None and prefix[-1].spec.name in _FOLDABLE \
            and isinstance(states[start - 1], EmptyState):
        prefix, fold = prefix[:-1], prefix[-1]
    return Plan(prefix, fold, links[start:], kernel, skipped)


def _folded_scale(fold: _Link | None, grads: Any) -> tuple[Any, Any]:
    """(d, c): the kernel reads the gradient as ``(g / d) * c``."""
    one = jnp.float32(1)
    if fold is None:
        return one, one
    h = fold.spec.hyperparams
    if fold.spec.name == "scale":
        return one, jnp.asarray(h["step_size"], jnp.float32)
    norm = global_norm(grads).astype(jnp.float32)  # as clip_by_global_norm
    keep = norm < h["max_norm"]
    return jnp.where(keep, one, norm), jnp.where(keep, one, jnp.float32(h["max_norm"]))


def _call(rule: int, params: Any, grads: Any, moments: list[Any], table: Any) -> list[Any]:
    """ONE in-place kernel call over every leaf (``table``: a row of scalars per leaf):
    returns ``[params', *moments']``."""
    treedef = jax.tree.structure(params)
    columns = [treedef.flatten_up_to(t) for t in (params, grads, *moments)]
    n_state = len(moments)
    per_in, per_out = 2 + n_state, 1 + n_state
    operands, shapes, aliases = [table], [], {}
    for j, arrays in enumerate(zip(*columns, strict=True)):
        operands.extend(arrays)
        shape = jax.ShapeDtypeStruct(jnp.shape(arrays[0]), jnp.float32)
        shapes.extend([shape] * per_out)
        base_in, base_out = 1 + j * per_in, j * per_out
        aliases[base_in] = base_out  # params
        for i in range(1, per_out):  # state arrays (the gradient, at base_in + 1, is read)
            aliases[base_in + 1 + i] = base_out + i
    call = jax.ffi.ffi_call(_build.TARGET, tuple(shapes), input_output_aliases=aliases,
                            vmap_method="sequential")
    outs = call(*operands, rule=np.int32(rule))
    return [treedef.unflatten(list(outs[i::per_out])) for i in range(per_out)]


def run(p: Plan, params: Params, grads: Updates, state: OptState,
        **extra_args: Any) -> tuple[Params, OptState]:
    """Runs one step by plan ``p``: the prefix links as they are, then the kernel."""
    for lk in p.prefix:
        grads, new = lk.tx.update(grads, _get(state, lk.path), params, **extra_args)
        state = _set(state, lk.path, new)
    d, c = _folded_scale(p.fold, grads)
    tail_states = [_get(state, lk.path) for lk in p.tail]
    rows, new_states = p.kernel.scalars(tail_states, params)
    # rows repeat (one per leaf, two kinds at most): stack each distinct row once
    distinct = list({id(r): r for r in rows}.values())
    which = np.asarray([next(i for i, u in enumerate(distinct) if u is r) for r in rows])
    table = jnp.stack([jnp.stack(r + [d, c]) for r in distinct])[which]
    new_params, *new_moments = _call(p.kernel.rule, params, grads,
                                     p.kernel.moments(tail_states), table)
    for lk, s in zip(p.tail, p.kernel.rebuild(new_states, new_moments), strict=True):
        state = _set(state, lk.path, s)
    return new_params, state
