"""``import gradtx as optax`` finds optax 0.2.8's public names (issue 13).

Scanned: ``optax.__all__`` and the public names of the namespaces gradtx mirrors
(``optax.tree_utils``, ``optax.tree``, ``optax.schedules``, ``optax.transforms``; those
without ``__all__`` by ``dir()``, modules and private names left out). Every scanned name
is either

* in scope: gradtx has it under the same path, and where optax's object is a function or
  class, gradtx's signature accepts optax's parameter names: each one exists with the same
  kind (positional-or-keyword ones in optax's order), or gradtx takes ``**kwargs``;
* in :data:`OUT_OF_SCOPE` (losses, projections, optax's deprecated names, submodules that
  are not gradient transformations), which users keep importing from optax;
* in :data:`KNOWN_MISSING` (gradtx lacks it, with the reason / the issue that adds it); the
  test fails when gradtx gains such a name, so the list stays true;
* or in :data:`KNOWN_SIGNATURE_DIFFERENCES` (gradtx has it with a different signature, on
  purpose, with the reason); the test fails when the difference disappears.

Defaults are compared too, against the few documented :data:`DEFAULT_DIFFERENCES`.
Each test collects every offender and fails once, listing them all.
"""

from __future__ import annotations

import functools
import inspect
import types
import warnings

import optax

import gradtx

# optax namespace -> gradtx namespace ("" is the top level)
NAMESPACES = ("", "tree_utils", "tree", "schedules", "transforms")

# Qualified optax names ("name" at the top level, "namespace.name" below) that gradtx does
# not provide, on purpose. Users import them from optax; they compose with gradtx.
OUT_OF_SCOPE: dict[str, str] = {
    # losses (optax.losses; the top level re-exports them): not gradient transformations
    "convex_kl_divergence": "loss",
    "cosine_distance": "loss",
    "cosine_similarity": "loss",
    "ctc_loss": "loss",
    "ctc_loss_with_forward_probs": "loss",
    "generalized_kl_divergence": "loss",
    "hinge_loss": "loss",
    "huber_loss": "loss",
    "kl_divergence": "loss",
    "l2_loss": "loss",
    "log_cosh": "loss",
    "ntxent": "loss",
    "sigmoid_binary_cross_entropy": "loss",
    "smooth_labels": "loss",
    "softmax_cross_entropy": "loss",
    "softmax_cross_entropy_with_integer_labels": "loss",
    # submodules that are not gradient transformations (optax.projections, optax.losses,
    # optax.second_order, optax.perturbations, optax.experimental are not in __all__)
    "assignment": "module: the Hungarian linear-assignment solver",
    # deprecated in optax 0.2.8 (optax._deprecations): moved to optax.contrib, which is
    # issue 15's
    "differentially_private_aggregate": "deprecated: optax.contrib (issue 15)",
    "DifferentiallyPrivateAggregateState": "deprecated: optax.contrib (issue 15)",
    "dpsgd": "deprecated: optax.contrib (issue 15)",
}

# Qualified optax names gradtx lacks and that are in scope: each fails the test as soon as
# gradtx has it (then move it to the checked names).
KNOWN_MISSING: dict[str, str] = {
}

# Qualified names gradtx has with a signature that does not accept optax's, on purpose.
KNOWN_SIGNATURE_DIFFERENCES: dict[str, str] = {
    "InjectHyperparamsState": (
        "gradtx's has the fields of optax's InjectStatefulHyperparamsState (count, "
        "hyperparams, hyperparams_states, inner_state): that is the state "
        "optax.inject_hyperparams returns in 0.2.8; optax's 3-field class is unused"
    ),
    "schedules.InjectHyperparamsState": "as InjectHyperparamsState",
}

# (qualified name, parameter) -> why gradtx's default differs from optax's
DEFAULT_DIFFERENCES: dict[tuple[str, str], str] = {
    ("MultiSteps", "accumulator_dtype"): (
        "gradtx None: the wider of float32 and the parameter's dtype (float32 for "
        "float32/bf16/f16 params, as optax; float64 params accumulate in float64)"
    ),
    ("transforms.MultiSteps", "accumulator_dtype"): "as MultiSteps",
    ("add_noise", "eta"): "optax requires it; gradtx defaults to the paper's 0.01",
    ("add_noise", "gamma"): "optax requires it; gradtx defaults to the paper's 0.55",
    ("transforms.add_noise", "eta"): "as add_noise",
    ("transforms.add_noise", "gamma"): "as add_noise",
    ("microbatch", "accumulator"): (
        "gradtx.microbatching.AccumulationType.SUM, the same member of gradtx's own enum "
        "(optax's members are accepted too)"
    ),
    ("lbfgs", "linesearch"): (
        "the same configuration, scale_by_zoom_linesearch(max_linesearch_steps=20, "
        "initial_guess_strategy='one'), but gradtx's own instance (transformations compare "
        "by identity)"
    ),
}

_P = inspect.Parameter
_POSITIONAL = (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)


def _module(root: types.ModuleType, namespace: str) -> types.ModuleType:
    return getattr(root, namespace) if namespace else root


def optax_names() -> dict[str, object]:
    """Qualified name -> optax object, for every scanned name."""
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for ns in NAMESPACES:
            mod = _module(optax, ns)
            names = getattr(mod, "__all__", None)
            if names is None:
                names = [
                    n
                    for n in dir(mod)
                    if not n.startswith("_") and not inspect.ismodule(getattr(mod, n))
                ]
            for n in names:
                out[f"{ns}.{n}" if ns else n] = getattr(mod, n)
    return out


def _gradtx_object(qualified: str) -> object | None:
    ns, _, name = qualified.rpartition(".")
    mod = _module(gradtx, ns)
    return getattr(mod, name, None)


def _signature(obj: object) -> inspect.Signature | None:
    """The call signature of a function or class; None for type aliases and the like."""
    if not (inspect.isroutine(obj) or inspect.isclass(obj) or isinstance(obj, functools.partial)):
        return None
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError):
        return None


def signature_problems(theirs: object, ours: object) -> list[str]:
    """Why a call written for ``theirs`` (optax) might fail with ``ours`` (gradtx)."""
    so = _signature(theirs)
    if so is None:
        return []
    sg = _signature(ours)
    if sg is None:
        return ["gradtx's object has no call signature"]
    gp = sg.parameters
    var_kw = any(p.kind == _P.VAR_KEYWORD for p in gp.values())
    var_pos = any(p.kind == _P.VAR_POSITIONAL for p in gp.values())
    problems = []
    for name, p in so.parameters.items():
        if p.kind == _P.VAR_POSITIONAL:
            if not var_pos:
                problems.append(f"no *{name}")
        elif p.kind == _P.VAR_KEYWORD:
            if not var_kw:
                problems.append(f"no **{name}")
        elif name not in gp:
            if not (var_kw and p.kind != _P.POSITIONAL_ONLY):
                problems.append(f"no parameter {name!r}")
        elif gp[name].kind != p.kind:
            problems.append(f"{name!r} is {gp[name].kind.name}, optax's {p.kind.name}")
    o_pos = [n for n, p in so.parameters.items() if p.kind in _POSITIONAL]
    g_pos = [n for n, p in gp.items() if p.kind in _POSITIONAL]
    if g_pos[: len(o_pos)] != o_pos:
        problems.append(f"positional order {g_pos}, optax's {o_pos}")
    return problems


def _same_default(a: object, b: object) -> bool:
    if callable(a) and callable(b):  # e.g. a private decay-rate function: same name
        return getattr(a, "__name__", a) == getattr(b, "__name__", b)
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 (arrays and other values without a plain ==)
        return a is b


def default_differences(theirs: object, ours: object) -> list[str]:
    so, sg = _signature(theirs), _signature(ours)
    if so is None or sg is None:
        return []
    out = []
    for name, p in so.parameters.items():
        q = sg.parameters.get(name)
        if q is None or p.kind in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD):
            continue
        if p.default is _P.empty and q.default is _P.empty:
            continue
        if (
            p.default is _P.empty
            or q.default is _P.empty
            or not _same_default(p.default, q.default)
        ):
            out.append(name)
    return out


def _in_scope() -> dict[str, object]:
    skip = OUT_OF_SCOPE.keys() | KNOWN_MISSING.keys()
    return {n: o for n, o in optax_names().items() if n not in skip}


def test_every_in_scope_optax_name_is_in_gradtx_with_optax_parameter_names():
    offenders = []
    for name, theirs in _in_scope().items():
        ours = _gradtx_object(name)
        if ours is None:
            offenders.append(f"{name}: missing from gradtx")
            continue
        problems = signature_problems(theirs, ours)
        if name in KNOWN_SIGNATURE_DIFFERENCES:
            if not problems:
                offenders.append(
                    f"{name}: now accepts optax's parameters; drop it from "
                    "KNOWN_SIGNATURE_DIFFERENCES"
                )
        elif problems:
            offenders.append(f"{name}: {'; '.join(problems)}")
    assert not offenders, "\n".join(offenders)


def test_known_missing_names_are_still_missing():
    present = [n for n in KNOWN_MISSING if _gradtx_object(n) is not None]
    assert not present, f"gradtx now has {present}: remove them from KNOWN_MISSING"


def test_the_lists_name_only_scanned_optax_names():
    scanned = optax_names()
    listed = (
        OUT_OF_SCOPE.keys()
        | KNOWN_MISSING.keys()
        | KNOWN_SIGNATURE_DIFFERENCES.keys()
        | {n for n, _ in DEFAULT_DIFFERENCES}
    )
    stale = sorted(listed - scanned.keys())
    assert not stale, f"not optax 0.2.8 names any more: {stale}"
    assert not OUT_OF_SCOPE.keys() & KNOWN_MISSING.keys()


def test_out_of_scope_reasons_are_true():
    """The losses are optax.losses' objects; the deprecated names are optax's."""
    names = optax_names()
    wrong = []
    for name, why in OUT_OF_SCOPE.items():
        if why == "loss" and names[name] is not getattr(optax.losses, name, None):
            wrong.append(f"{name} is not optax.losses.{name}")
        if why.startswith("deprecated") and name not in optax._deprecations:
            wrong.append(f"{name} is not deprecated in optax")
        if why.startswith("module") and not inspect.ismodule(names[name]):
            wrong.append(f"{name} is not a module")
    # every deprecated name optax lists in __all__ is out of scope
    wrong += [
        f"{n} is deprecated in optax: list it in OUT_OF_SCOPE"
        for n in optax._deprecations
        if n in names and n not in OUT_OF_SCOPE
    ]
    assert not wrong, "\n".join(wrong)


def test_defaults_equal_optax():
    offenders = []
    for name, theirs in _in_scope().items():
        ours = _gradtx_object(name)
        if ours is None or name in KNOWN_SIGNATURE_DIFFERENCES:
            continue
        for param in default_differences(theirs, ours):
            if (name, param) not in DEFAULT_DIFFERENCES:
                offenders.append(f"{name}({param}=...): gradtx's default differs from optax's")
    for name, param in DEFAULT_DIFFERENCES:
        if param not in default_differences(optax_names()[name], _gradtx_object(name)):
            offenders.append(f"{name}({param}=...) now equals optax's: drop the entry")
    assert not offenders, "\n".join(offenders)


def test_counts():
    """The scan is not vacuous: most of optax's names are in scope and checked."""
    in_scope = _in_scope()
    assert len(in_scope) > 250, len(in_scope)
    assert len(KNOWN_MISSING) < len(in_scope) // 10
