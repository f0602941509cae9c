"""Complex parameters (issue 11, class 1), over every row of ``constructors.TRANSFORMS``.

A complex parameter behaves exactly like the pair of real parameters ``(Re z, Im z)``
(torch's ``view_as_real`` convention, the issue's definition): every per-element rule
sees the two parts as two real coordinates (``gradtx.tree._core.map_outputs``), squared
magnitudes in norms are ``|g|^2``, never ``g**2``. So, for every row, on a tree with
complex leaves (and one real leaf), with ``N`` steps:

* **real split**: the run equals the run on the real split, where a complex leaf of shape
  ``s`` becomes ONE real leaf of shape ``s + (2,)`` holding ``(Re, Im)`` on the last axis
  (per-leaf and global norms preserved); ``gradtx.contrib.split_real_and_imaginary(row)``
  (optax.contrib's name for the same convention) equals it too;
* **a quarter turn**: multiplying params and gradients by ``1j`` maps ``(x, y)`` to
  ``(-y, x)``, a permutation and a sign of the real coordinates, so every update is
  multiplied by ``1j`` (``g**2`` anywhere gives ``-g**2`` and fails); except the rows
  of :data:`NOT_PHASE_EQUIVARIANT` (drawn noise, the non-negative orthant) and
  :data:`PHASE_STATE_ONLY`;
* **state dtypes**: per-element accumulators of a complex parameter are complex, one
  value per part (a squared accumulator's two parts are both >= 0);
* **optax**: optax keeps ONE real second moment ``E|g|^2`` per complex element, shared by
  its two parts, so its adaptive optimisers differ on complex parameters
  (:data:`OPTAX_DIFFERS`); the rows without a per-element second moment equal optax's.

Jitted programs of ``_xla.ROWS_PER_PROGRAM`` rows run every row (three runs each), one
more the optax comparison.
"""

from __future__ import annotations

import functools

import chex
import constructors as C
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib  # noqa: F401  (row.make(optax) uses optax.contrib)
import pytest
from _xla import in_chunks

import gradtx
import gradtx.contrib
from gradtx import native

# Slow (many compiles): deselect with -m "not slow" for the fast core; CI runs it.
pytestmark = pytest.mark.slow

N_STEPS = 5
# A quarter turn: multiplying by 1j only swaps and negates parts, so the rotated run is
# exact (no rounding), even for rows with cancellation (centred RMSProp's variance is 0 at
# step 1); g**2 anywhere gives (1j g)**2 = -g**2 and fails.
THETA = np.pi / 2
RTOL = 1e-5
ROWS = {row.id: row for row in C.TRANSFORMS}

# Rows that reject complex parameters with a clear error (tested below), and why.
REJECTS_COMPLEX = {
    "sm3": "SM3's cover-set maxima have no complex meaning (optax's sm3 fails too)",
    "scale_by_sm3": "SM3's cover-set maxima have no complex meaning (optax's sm3 fails too)",
    "clip": "elementwise clipping of a complex value is undefined (jnp.clip raises)",
    "galore": "the projection is an SVD of a real matrix (optax's drops the imaginary part)",
    # Sophia clips its step elementwise (jnp.clip), undefined for complex values
    "sophia": "Sophia's elementwise clip of the step is undefined for complex values",
    "hutchinson_estimator_diag_hessian": "estimates the diagonal of a real Hessian",
    # --- Muon and SOAP (issue 15) ---
    "soap": "SOAP's factors and eigenbases are real symmetric (the authors' code is real)",
    "soap_1d_merge_refresh2": "SOAP's factors and eigenbases are real (the authors' too)",
}
# Rows that differ from the real split, and why (every other row equals it). Both are
# rules over a block whose *units* are chosen by shape, where the split's extra pair axis
# changes which coordinates form a unit. gradtx applies the rule to the complex entries
# (optax's numbers), which commutes with a quarter turn (test_phase_equivariance); its
# per-part math is checked by test_block_rules_on_complex_entries:
DIFFERS_FROM_SPLIT: dict[str, str] = {
    # DP-SGD draws its Gaussian noise per leaf from the key (as optax does); the split's
    # leaves have another shape, so the draws differ (the clipping, a global norm, agrees).
    "dpsgd": "the privacy noise is drawn for the leaf's own shape (other draws than the split's)",
    # centralize subtracts the mean over every axis but the first. On a complex (2, 2)
    # leaf that is z - mean_j z: Re and Im are each centred by their own mean. The split
    # (2, 2, 2) pools the parts into ONE mean (sum Re + sum Im) / 2n, subtracted from
    # both, and the 1-D complex leaf (3,) (left alone, ndim 1) splits into a (3, 2) leaf
    # that is centred across each pair. A pooled mean maps (x, y) -> (-y, x) to
    # (sum x - sum y) / 2n under a quarter turn, not to a turned mean: no phase-equivariant
    # complex rule can equal it.
    "centralize": "the split pools Re and Im into one mean (not phase equivariant)",
    # adaptive_grad_clip's unit-wise norm: a (2, 2) kernel's units are its columns, so
    # ||g_j||^2 = sum_i |g_ij|^2 counts both parts of each entry; the split (2, 2, 2) is a
    # 3-D kernel whose units are (column, part): Re and Im clipped separately, and the
    # (3,) vector (one unit) becomes a (3, 2) kernel of two units. Clipping Re and Im
    # separately is not invariant under a quarter turn (it swaps the units' norms).
    "adaptive_grad_clip": "the split makes Re and Im separate units (not phase equivariant)",
    # Muon orthogonalises a complex matrix as one complex matrix (X X^H); its real split
    # (an (n, m, 2) leaf) is no longer a matrix (Muon's default sends it to AdamW), and
    # any real matrix view of it has other singular vectors: the two differ by
    # construction (the complex rule is phase equivariant).
    "muon": "orthogonalises the complex matrix, not its (n, 2m) real split",
    "muon_torch_match_rms_adamw": "orthogonalises the complex matrix, not its real split",
}
# Rows that pick leaves by ndim (masks, labels): view_as_real's trailing pair axis turns
# a 1-D complex leaf into a 2-D one and the row would pick other leaves. Their split keeps
# each leaf's ndim: the pairs are interleaved on the last axis ((3,) -> (6,), (2, 2) ->
# (2, 4): NumPy's z.view(float32), the same coordinates, per-leaf norms preserved), so
# they are compared with the same mask.
SPLIT_KEEPS_NDIM = frozenset({"lars_masked_nesterov", "masked", "partition", "freeze"})
# Rows whose updates are a measurement the USER wrote: measure_with_ema(jnp.abs) measures
# the modulus |z| = sqrt(x^2 + y^2) of a complex entry, the split (|x|, |y|); |1j z| = |z|
# is invariant, not turned. gradtx's own part (the EMA) is checked against NumPy on both
# runs (_check_measurement, in test_complex_equals_real_split).
MEASUREMENT_ROWS = frozenset({"measure_with_ema"})


# Rows that do not commute with a quarter turn, and why (the rotated run must differ):
NOT_PHASE_EQUIVARIANT = {
    # noise is drawn, not rotated: the rotated run gets the same noise (its law is
    # rotation invariant, the sample is not). The real-split runs are equal exactly: a
    # complex leaf's noise is the split's noise.
    "add_noise": "the noise is drawn, not rotated",
    "add_noise_key": "the noise is drawn, not rotated",
    "noisy_sgd": "the noise is drawn, not rotated",
    "dpsgd": "the privacy noise is drawn, not rotated",
    # the constraint set {Re p >= 0, Im p >= 0} (each part >= 0, as for the split) is an
    # orthant that a quarter turn (x, y) -> (-y, x) does not map to itself:
    # turn^-1(clamp(turn(x, y))) = (max(x, 0), min(y, 0)) != (max(x, 0), max(y, 0)).
    "keep_params_nonnegative": "each part >= 0 is an orthant, not invariant under a turn",
}
# The distinct second-moment rules, on which split_real_and_imaginary(row) is also checked
# against the real split (running the wrapper on every row would double the compile).
WRAPPED_ROWS = frozenset(
    {"adagrad", "rmsprop_centered_momentum", "adadelta", "adam", "amsgrad", "nadam", "yogi"}
    | {"amsbound", "scale_by_rms"}
)
# Rows not checked under the quarter turn, and why:
PHASE_STATE_ONLY = {
    # Centred RMSProp with bias correction: at step 1 the variance E[g^2] - E[g]^2 is 0
    # exactly, so the update g / sqrt(var + eps) is rounding noise times 1e4.
    "rmsprop_centered_momentum": "ill-conditioned at step 1",
    # Yogi (optax's init): m_0 = 1e-6 per part is a constant that a rotation does not map
    # to (-1e-6, 1e-6).
    "scale_by_yogi": "m_0 = 1e-6 (1 + 1j) is not rotated",
    "yogi": "m_0 = 1e-6 (1 + 1j) is not rotated",
}

# Rows whose optax counterpart is built by the same row with m=optax.
OPTAX_ROWS = (
    "sgd",
    "sgd_momentum",
    "sgd_nesterov",
    "adagrad",
    "rmsprop",
    "rmsprop_centered_momentum",
    "adam",
    "adamw",
    "amsgrad",
    "nadam",
    "yogi",
    "identity",
    "scale",
    "scale_by_learning_rate",
    "trace",
    "scale_by_rss",
    "scale_by_rms",
    "scale_by_stddev",
    "scale_by_adam",
    "scale_by_amsgrad",
    "scale_by_yogi",
    "add_decayed_weights",
    "clip_by_global_norm",
    "chain",
    "split_real_and_imaginary",
)
# optax keeps ONE real second moment E|g|^2 per complex element (shared by its two parts);
# gradtx keeps one per part (the real split's numbers): the adaptive rows differ from
# optax on complex parameters by design. optax also squares the complex number in
# scale_by_adadelta, and splits add_noise's variance between the parts.
_SHARED = "optax shares one E|g|^2 per complex element; gradtx keeps one per part"
OPTAX_DIFFERS = {
    name: _SHARED
    for name in (
        "adagrad", "rmsprop", "rmsprop_centered_momentum", "adam", "adamw", "amsgrad",
        "nadam", "yogi", "scale_by_rss", "scale_by_rms", "scale_by_stddev", "scale_by_adam",
        "scale_by_amsgrad", "scale_by_yogi", "chain",
    )
} | {
    "adadelta": "optax.scale_by_adadelta averages g**2 (complex)",
    "scale_by_adadelta": "optax.scale_by_adadelta averages g**2 (complex)",
    "add_noise": "optax splits the variance between Re and Im",
}

SQUARED_FIELDS = frozenset({"nu", "nu_max", "sum_of_squares", "e_g", "e_x"})
MOMENT_FIELDS = frozenset({"mu", "trace", "acc_grads"})


def _problem():
    rng = np.random.default_rng(11)

    def c(*shape):
        return (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)

    params = {
        "w": jnp.asarray(c(3)),
        "m": jnp.asarray(c(2, 2)),
        "r": jnp.asarray(rng.normal(size=(2,)).astype(np.float32)),
    }
    grads = {
        "w": jnp.asarray(c(N_STEPS, 3)),
        "m": jnp.asarray(c(N_STEPS, 2, 2)),
        "r": jnp.asarray(rng.normal(size=(N_STEPS, 2)).astype(np.float32)),
    }
    return params, grads


def _split(tree, keep_ndim=False):
    """view_as_real: a complex leaf of shape s becomes a real leaf of shape s + (2,); with
    ``keep_ndim`` the pairs are interleaved on the last axis instead (s[:-1] + (2 s[-1],),
    NumPy's ``z.view(float32)``), for the rows that pick leaves by ndim."""

    def one(x):
        if not jnp.iscomplexobj(x):
            return x
        pairs = jnp.stack([x.real, x.imag], -1)
        return pairs.reshape(*x.shape[:-1], -1) if keep_ndim else pairs

    return jax.tree.map(one, tree)


def _merge(tree, like):
    """The inverse of :func:`_split` (either layout), ``like`` the complex tree."""

    def one(x, y):
        if not jnp.iscomplexobj(y):
            return x
        pairs = x.reshape(*jnp.shape(y), 2)
        return jax.lax.complex(pairs[..., 0], pairs[..., 1])

    return jax.tree.map(one, tree, like)


def _rotate(tree, theta):
    # exp(i pi/2) rounded to exactly 1j (cos(pi/2) is 6e-17 in floating point)
    r = jnp.complex64(complex(round(np.cos(theta), 12), round(np.sin(theta), 12)))
    return jax.tree.map(lambda x: x * r if jnp.iscomplexobj(x) else x, tree)


def _run(tx, params, grads, extra):
    """Updates of every step (stacked), the final params and the final state."""

    def body(carry, g):
        state, p = carry
        u, state = tx.update(g, state, p, **extra)
        return (state, gradtx.apply_updates(p, u)), u

    (state, p), updates = jax.lax.scan(body, (tx.init(params), params), grads)
    return updates, p, state


@functools.partial(jax.jit, static_argnames="ids")
def _all_rows(params, grads, ids):
    """Per row: the runs (complex, split merged back, rotated rotated back, and for
    :data:`WRAPPED_ROWS` the row wrapped in split_real_and_imaginary) and
    the complex run's final state. The complex and rotated runs are one vmapped run."""
    both = jax.tree.map(
        lambda a, b: jnp.stack([a, b]),
        (params, grads),
        (_rotate(params, THETA), _rotate(grads, THETA)),
    )
    out = {}
    for row_id in ids:
        row = ROWS[row_id]
        tx = C.build(row)
        u2, p2, state2 = jax.vmap(lambda p, g, tx=tx, e=row.extra_args: _run(tx, p, g, e))(*both)
        first, second = (jax.tree.map(lambda x, i=i: x[i], (u2, p2)) for i in (0, 1))
        keep = row_id in SPLIT_KEEPS_NDIM
        split_grads = jax.vmap(lambda g, k=keep: _split(g, k))(grads)
        u_s, p_s, _ = _run(tx, _split(params, keep), split_grads, row.extra_args)
        if row_id in MEASUREMENT_ROWS:  # the measurement keeps the split's layout
            merged = u_s
        else:
            merged = jax.vmap(lambda t: _merge(t, params))(u_s)
        runs = {
            "complex": first,
            "split": (merged, _merge(p_s, params)),
            "rotated": _rotate(second, -THETA),
        }
        if row_id in WRAPPED_ROWS:
            wrapped = gradtx.contrib.split_real_and_imaginary(tx)
            runs["wrapped"] = _run(wrapped, params, grads, row.extra_args)[:2]
        out[row_id] = (runs, state2)
    return out


@functools.cache
def _results():
    params, grads = _problem()
    return in_chunks(_all_rows, TABLE, params, grads)


TABLE = [i for i in ROWS if i not in REJECTS_COMPLEX]


@pytest.mark.parametrize("row_id", sorted(REJECTS_COMPLEX))
def test_rows_that_reject_complex_say_so(row_id):
    params, grads = _problem()
    tx = C.build(ROWS[row_id])
    with pytest.raises((ValueError, TypeError), match="complex|Complex"):
        tx.update(jax.tree.map(lambda g: g[0], grads), tx.init(params), params)


def _max_diff(a, b):
    """max |a - b| / max(max |b|, 1e-30) over every leaf of the (updates, params) pair."""
    num = max(
        float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )
    den = max(float(np.max(np.abs(np.asarray(y)))) for y in jax.tree.leaves(b))
    return num / max(den, 1e-30)


def _close(a, b):
    chex.assert_trees_all_close(
        a,
        b,
        rtol=RTOL,
        atol=RTOL * max(float(np.max(np.abs(np.asarray(y)))) for y in jax.tree.leaves(b)),
    )


def test_exclusion_sets_name_rows():
    sets = set(DIFFERS_FROM_SPLIT) | set(NOT_PHASE_EQUIVARIANT) | WRAPPED_ROWS
    sets |= set(PHASE_STATE_ONLY) | SPLIT_KEEPS_NDIM | MEASUREMENT_ROWS | FLAT_ROWS
    for name in sets | set(OPTAX_DIFFERS):
        assert name in ROWS, name
    assert set(OPTAX_ROWS) <= set(ROWS)


@pytest.mark.parametrize("row_id", TABLE)
def test_complex_equals_real_split(row_id):
    runs, _ = _results()[row_id]
    if row_id in MEASUREMENT_ROWS:
        _check_measurement(runs)
        return
    if row_id in DIFFERS_FROM_SPLIT:  # the set is exact: these really differ
        assert _max_diff(runs["complex"], runs["split"]) > 10 * RTOL, row_id
        return
    _close(runs["complex"], runs["split"])
    if row_id in WRAPPED_ROWS:  # optax.contrib's wrapper for the same convention
        _close(runs["wrapped"], runs["split"])


@pytest.mark.parametrize("row_id", TABLE)
def test_phase_equivariance(row_id):
    runs, state = _results()[row_id]
    squared = _squared_leaves(state)
    for a in squared:
        if a.ndim == 1:  # one scalar per leaf (NovoGrad's ||g||^2): a turn keeps it
            _close(a[1], a[0])
        elif jnp.iscomplexobj(a):  # a quarter turn swaps the parts' squared accumulators
            swapped = a[0].imag + 1j * a[0].real
            if row_id in FLAT_ROWS:  # the real leaf's entries (Im = 0) are not turned
                swapped = jnp.where(_flat_is_complex(), swapped, a[0])
            _close(a[1], swapped)
    if row_id in MEASUREMENT_ROWS:  # |1j z| = |z|: the measurement is invariant
        _close(runs["rotated"][0], runs["complex"][0])
        return
    if row_id in NOT_PHASE_EQUIVARIANT:
        # the rotated run differs exactly by the noise it does not rotate
        assert _max_diff(runs["rotated"], runs["complex"]) > 1e-3
        return
    if row_id in PHASE_STATE_ONLY:
        assert squared, row_id
        return
    _close(runs["rotated"], runs["complex"])


def _check_measurement(runs, decay=0.9):
    """measure_with_ema(jnp.abs, 0.9): the complex run's updates are the debiased EMA of
    the modulus |g| (real), the split's the EMA of (|Re g|, |Im g|), each from NumPy."""
    _, grads = _problem()
    for name, measured in (
        ("complex", jax.tree.map(np.abs, grads)),
        ("split", jax.tree.map(np.abs, jax.vmap(_split)(grads))),
    ):
        want = {}
        for key, g in measured.items():
            m, out = np.zeros(g.shape[1:], np.float64), []
            for t in range(N_STEPS):
                m = decay * m + (1 - decay) * np.asarray(g[t], np.float64)
                out.append(m / (1 - decay ** (t + 1)))
            want[key] = np.stack(out)
        _close(runs[name][0], want)
    assert _max_diff(runs["complex"][0]["w"], np.asarray(runs["split"][0]["w"])[..., 0]) > 1e-2


def test_block_rules_on_complex_entries():
    """centralize and adaptive_grad_clip (DIFFERS_FROM_SPLIT) on complex leaves are the
    complex rules, eagerly on tiny leaves: centralize centres Re and Im by their own
    means; a kernel's unit norm counts both parts of each entry, |g_ij|^2."""
    rng = np.random.default_rng(3)

    def c(*shape):
        return jnp.asarray((rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype("c8"))

    z, p = c(2, 3), c(2, 3)
    tx = gradtx.centralize()
    u, _ = tx.update(z, tx.init(z))
    for part in (jnp.real, jnp.imag):
        want = part(z) - part(z).mean(1, keepdims=True)
        np.testing.assert_allclose(np.asarray(part(u)), np.asarray(want), atol=1e-6)
    tx = gradtx.adaptive_grad_clip(0.1)
    u, _ = tx.update(z, tx.init(p), p)

    def agc(g, w):  # per column: ||g_j|| over the column's entries (|.| of each entry)
        unit = np.sqrt(np.sum(np.abs(g) ** 2, axis=0, keepdims=True))
        cap = 0.1 * np.maximum(np.sqrt(np.sum(np.abs(w) ** 2, 0, keepdims=True)), 1e-3)
        return np.where(unit < cap, g, g * cap / unit)

    g, w = np.asarray(z), np.asarray(p)
    np.testing.assert_allclose(np.asarray(u), agc(g, w), rtol=1e-5)
    # not the split's rule (Re and Im as separate units): the test can tell them apart
    per_part = agc(g.real, w.real) + 1j * agc(g.imag, w.imag)
    assert np.max(np.abs(per_part - agc(g, w))) > 1e-3


# Rows that concatenate every leaf into one vector (optax's ravel): a real leaf is
# promoted to complex there (its Im coordinate stays 0 and its update is real), so in the
# flat state only the complex leaves' entries are turned.
FLAT_ROWS = frozenset({"flatten"})


def _flat_is_complex():
    params, _ = _problem()
    return np.concatenate(
        [np.full(x.size, jnp.iscomplexobj(x)) for x in jax.tree.leaves(params)]
    )


def _squared_leaves(state):
    """The shared squared accumulators (not those of split_real_and_imaginary's per-part
    pairs, which a quarter turn swaps: E[Re(1j g)^2] = E[Im(g)^2])."""
    out = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        names = {p.name for p in path if isinstance(p, jax.tree_util.GetAttrKey)}
        if names & SQUARED_FIELDS and not names & {"real", "imaginary"}:
            out.append(leaf)
    return out


@pytest.mark.parametrize("row_id", TABLE)
def test_state_dtypes(row_id):
    """Per-element accumulators of a complex64 parameter are complex64 (one value per
    part; a squared accumulator's parts are both >= 0), and every state leaf is finite."""
    _, state = _results()[row_id]
    state = jax.tree.map(lambda x: x[0], state)  # the complex (unrotated) run
    for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        names = {p.name for p in path if isinstance(p, jax.tree_util.GetAttrKey)}
        if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            continue
        assert np.all(np.isfinite(np.asarray(leaf))), (row_id, path)
        if names & SQUARED_FIELDS and leaf.size > 2 and not names & {"real", "imaginary"}:
            assert leaf.dtype == jnp.complex64, (row_id, jax.tree_util.keystr(path), leaf.dtype)
            assert np.all(np.asarray(leaf.real) >= 0) and np.all(np.asarray(leaf.imag) >= 0)
        elif names & MOMENT_FIELDS and not names & {"real", "imaginary"} and leaf.size > 2:
            # complex leaves (3,), (2, 2), or packed into one buffer of 7 (the real pairs
            # of split_real_and_imaginary are real by design)
            assert leaf.dtype == jnp.complex64, (row_id, jax.tree_util.keystr(path))


@functools.partial(jax.jit, static_argnames="ids")
def _optax_rows(params, grads, ids):
    out = {}
    for row_id in ids:
        row = ROWS[row_id]
        ours = _run(C.build(row), params, grads, row.extra_args)[:2]
        theirs = _run(row.make(optax), params, grads, row.extra_args)[:2]
        out[row_id] = (ours, theirs)
    return out


def test_complex_runs_equal_optax():
    params, grads = _problem()
    results = _optax_rows(params, grads, OPTAX_ROWS)
    for row_id, (ours, theirs) in results.items():
        if row_id in OPTAX_DIFFERS:  # the set is exact: these really differ
            assert _max_diff(ours, theirs) > 1e-4, (row_id, OPTAX_DIFFERS[row_id])
            continue
        try:
            _close(ours, theirs)
        except AssertionError as e:
            raise AssertionError(f"{row_id}: {e}") from None


def _issue_problem():
    t = jnp.array([1 + 0.3j, -0.3 + 0.7j], jnp.complex64)
    z0 = jnp.array([0.5 + 0j, -1 + 1j], jnp.complex64)

    def loss(z):
        return jnp.sum(jnp.abs(z - t) ** 2)

    return t, z0, loss


def test_issue_example_adam_converges():
    """Issue 11: adam(0.1) on |z - t|^2 with torch's gradient convention, conj(grad)."""
    t, z0, loss = _issue_problem()
    opt = gradtx.adam(0.1)

    @jax.jit
    def run(z0):
        def body(carry, _):
            z, state = carry
            u, state = opt.update(jnp.conj(jax.grad(loss)(z)), state, z)
            return (gradtx.apply_updates(z, u), state), jnp.abs(z - t)

        (z, state), dist = jax.lax.scan(body, (z0, opt.init(z0)), None, length=60)
        return z, state, dist

    z, state, dist = run(z0)
    dist = np.asarray(dist)
    nu = state[0].nu  # one second moment per part, as the real split's (torch's) state
    assert nu.dtype == jnp.complex64
    assert np.all(np.asarray(nu.real) > 0) and np.all(np.asarray(nu.imag) > 0)
    # after 3 steps every coordinate is closer to t (the bug moved z away)
    assert np.all(dist[3] < dist[0])
    assert np.all(np.abs(np.asarray(z - t)) < 0.05), np.abs(np.asarray(z - t))
    assert float(loss(z)) < 1e-2 * float(loss(z0))
    # the same numbers as the real split (split_real_and_imaginary, torch's convention);
    # optax.adam (one shared E|g|^2 per element) converges too, to the same point
    final = {}
    for name, other in (
        ("optax", optax.adam(0.1)),
        ("split", gradtx.contrib.split_real_and_imaginary(gradtx.adam(0.1))),
    ):
        zo, so = z0, other.init(z0)
        for _ in range(60):
            u, so = other.update(jnp.conj(jax.grad(loss)(zo)), so, zo)
            zo = optax.apply_updates(zo, u)
        final[name] = zo
    np.testing.assert_allclose(np.asarray(z), np.asarray(final["split"]), rtol=1e-5, atol=1e-6)
    assert np.all(np.abs(np.asarray(final["optax"] - t)) < 0.05)


def test_native_falls_back_for_complex():
    """gradtx.native's kernels are float32-only: a complex tree takes the pure-JAX step
    (no FFI call) and gives gradtx.adam's numbers."""
    _, z0, loss = _issue_problem()
    opt = gradtx.adam(0.1)
    g = jnp.conj(jax.grad(loss)(z0))
    assert native.explain(opt, z0).startswith("pure JAX")
    jaxpr = str(jax.make_jaxpr(gradtx.make_step(opt, jit=False))(z0, g, opt.init(z0)))
    assert "ffi_call" not in jaxpr
    got = gradtx.make_step(opt, donate=False)(z0, g, opt.init(z0))
    u, s = opt.update(g, opt.init(z0), z0)
    chex.assert_trees_all_close(got, (gradtx.apply_updates(z0, u), s), rtol=0, atol=0)


def test_global_norm_and_clip_are_real():
    z = {"a": jnp.array([3 + 4j], jnp.complex64), "b": jnp.array([12.0], jnp.float32)}
    norm = gradtx.global_norm(z)
    assert norm.dtype == jnp.float32 and float(norm) == pytest.approx(13.0)
    u, _ = gradtx.clip_by_global_norm(1.3).update(z, gradtx.clip_by_global_norm(1.3).init(z))
    np.testing.assert_allclose(np.asarray(u["a"]), [0.3 + 0.4j], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(u["b"]), [1.2], rtol=1e-6)
