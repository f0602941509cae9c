"""Muon and SOAP under FSDP on 8 simulated CPU devices (issue 15), run by
``tests/test_sharding.py`` in the same process as ``tests/_sharding_checks.py`` (one
pytest run, one jax start; the name does not match ``test_*.py``). Run by hand:
``python tests/_sharding_checks_matrix.py``.

What is checked, on a small transformer-like tree (an embedding, a stacked per-head
kernel, the two matrices of an MLP block, two biases) laid out by
:func:`gradtx.fsdp_shardings` over a mesh of 8:

1. 6 FSDP steps of ``make_train_step`` (batch split over the devices) of ``muon`` with
   ``adaptive=True`` and with torch's ``adjust_lr_fn`` (and weight decay) equal the same
   steps on one device, and the state comes back sharded as
   :func:`gradtx.state_shardings` says (Muon's and AdamW's moments like their
   parameter, around the holes of the partitioned state).
2. The compiled FSDP update (``update`` + ``apply_updates``) of ``muon`` (also with the
   heads axis split) and ``soap`` (also with ``max_precond_dim=16``): what XLA
   communicates, read from the HLO (where each collective sits: the Newton-Schulz loop,
   SOAP's eigendecomposition / refresh branches, or the rest of the step, which runs
   every time; and the shapes it moves; docs/sharding.md, "Muon and SOAP under FSDP"),
   and 6 updates on fixed gradients (``precondition_frequency=2``: the first update's
   ``eigh``, then two QR refreshes) equal one device's; SOAP's moments sharded like
   their parameter, its ``d x d`` factors and bases replicated.
"""

from __future__ import annotations

import re
import sys
import time

import _sharding_checks as base  # noqa: I001  (sets the 8-device XLA flag before jax starts)
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import gradtx
import gradtx.contrib
from gradtx import sharding
from gradtx.contrib import MuonDimensionNumbers as D

MESH = base.MESH_1D  # the 8 devices, axis "d"
# d_model 16, a vocabulary of 32, 8 heads of 16 x 16, an MLP block 16 -> 64 -> 16.
SHAPES = {
    "emb": (32, 16),
    "attn": (8, 16, 16),
    "w_in": (16, 64),
    "b_in": (64,),
    "w_out": (64, 16),
    "b_out": (16,),
}
# Muon for the two MLP matrices and each head's (16, 16) matrix (axis 0 a batch axis);
# AdamW for the embedding and the biases (the usual routing).
DIMS = {"emb": None, "attn": D(1, 2), "w_in": D(), "b_in": None, "w_out": D(), "b_out": None}
STEPS, BATCH = 6, 32


def _optimizers() -> dict[str, gradtx.GradientTransformation]:
    """The Muon variants trained end to end (plain ``muon`` and ``soap`` run in the
    update test below, on fixed gradients)."""
    return {
        "muon_adaptive": gradtx.contrib.muon(
            0.02, adaptive=True, muon_weight_dimension_numbers=DIMS
        ),
        "muon_torch": gradtx.contrib.muon(
            0.02, eps=1e-7, weight_decay=0.1, adjust_lr_fn="match_rms_adamw",
            muon_weight_dimension_numbers=DIMS,
        ),
    }


def _each(txs: dict[str, gradtx.GradientTransformation]) -> gradtx.GradientTransformation:
    """Every optimiser on its own copy of the model, in one program (one compile per
    layout): params, grads and state are dicts keyed by the optimiser's name."""

    def init(params):
        return {k: tx.init(params[k]) for k, tx in txs.items()}

    def update(grads, state, params=None):
        out = {k: tx.update(grads[k], state[k], params[k]) for k, tx in txs.items()}
        return {k: v[0] for k, v in out.items()}, {k: v[1] for k, v in out.items()}

    return gradtx.GradientTransformation(init, update)


def _params() -> dict:
    keys = jax.random.split(jax.random.key(0), len(SHAPES))
    return {
        k: np.asarray(0.3 * jax.random.normal(key, s), np.float32)
        for key, (k, s) in zip(keys, SHAPES.items(), strict=True)
    }


def _model_loss(p, batch):
    tok, target = batch
    h = p["emb"][tok]  # (B, 16)
    # each head its own nonlinearity and weight, so the heads' gradients differ (equal
    # ones would make SOAP's factor of the head axis rank 1, its eigenbasis arbitrary)
    heads = jnp.tanh(jnp.einsum("bd,hde->bhe", h, p["attn"]) + jnp.arange(8.0)[:, None] / 8)
    h = h + jnp.einsum("bhe,h->be", heads, jnp.linspace(0.05, 0.2, 8))
    h = h + jax.nn.gelu(h @ p["w_in"] + p["b_in"]) @ p["w_out"] + p["b_out"]
    logits = h @ p["emb"].T
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), target[:, None], 1))


def _batches():
    tok = jax.random.randint(jax.random.key(1), (STEPS, BATCH), 0, SHAPES["emb"][0])
    return np.asarray(tok), np.asarray((3 * tok + 1) % SHAPES["emb"][0])


def _run(eight: bool):
    """``STEPS`` FSDP steps on the 8 devices, or on one device (``eight=False``)."""
    txs = _optimizers()
    tx = _each(txs)
    host = {k: _params() for k in txs}

    def loss(params, batch):
        return sum(_model_loss(params[k], batch) for k in txs)

    if eight:
        layout = sharding.fsdp_shardings(host, MESH)
        batch_sharding = NamedSharding(MESH, P("d"))
    else:
        layout = batch_sharding = NamedSharding(Mesh(base.DEVICES[:1], ("one",)), P())
    step = sharding.make_train_step(loss, tx, layout, batch_sharding)
    p = jax.device_put(host, layout)
    state = tx.init(p)
    tok, target = _batches()
    losses = []
    for t in range(STEPS):
        p, state, value = step(p, state, (tok[t], target[t]))
        losses.append(float(value))
    return p, state, np.array(losses), layout


def test_muon_trains_on_eight_devices_like_one_device():
    """6 FSDP steps of ``make_train_step`` (batch split over the 8 devices) equal one
    device's, and the state stays sharded: Muon's and AdamW's moments of a
    partitioned (masked) state like their parameter. Before issue 15 ``state_shardings``
    and the step's constraint made these moments replicated, and every step
    all-gathered each of them."""
    t0 = time.perf_counter()
    p1, _, losses1, _ = _run(False)
    p8, state8, losses8, layout = _run(True)
    assert losses1[-1] < losses1[0]  # it trains
    p1, p8h = jax.device_get(p1), jax.device_get(p8)
    for k in p1:
        diff = max(float(np.max(np.abs(p1[k][n] - p8h[k][n]))) for n in SHAPES)
        print(f"{k} fsdp: largest |param difference| 1 vs 8 devices = {diff:.3g}")
    _assert_close(p8h, p1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(losses8, losses1, rtol=1e-5)
    want = sharding.state_shardings(_each(_optimizers()), p8)
    got_leaves, treedef = jax.tree.flatten(state8)
    for a, s in zip(got_leaves, treedef.flatten_up_to(want), strict=True):
        assert a.sharding.is_equivalent_to(s, a.ndim), (a.shape, a.sharding, s)
    for k in p1:
        groups = state8[k].inner_states
        for n in SHAPES:
            group = "muon" if DIMS[n] is not None else "adam"
            mu = groups[group].inner_state[0].mu[n]
            assert mu.sharding.is_equivalent_to(layout[k][n], mu.ndim), (k, n, mu.sharding)
    print(f"muon training 1 vs 8 devices: {time.perf_counter() - t0:.1f} s")


def _assert_close(a, b, rtol: float, atol: float) -> None:
    for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b),
                            strict=True):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol,
                                   err_msg=jax.tree_util.keystr(path))


# --- 2. what the compiled update communicates ------------------------------------------


def _sites(hlo: str) -> list[tuple[str, str, tuple[tuple[int, ...], ...]]]:
    """``(where, kind, shapes)`` for every collective of a compiled HLO text. ``where``
    is ``"loop"`` (a while body: Muon's Newton-Schulz step), ``"eigh"`` / ``"refresh"``
    / ``"keep"`` (the branches of SOAP's ``lax.switch``: the first update's
    eigendecomposition, the QR refresh every ``precondition_frequency`` steps, the other
    steps), ``"step"`` (the entry computation: every step) or ``"other"``; ``shapes``
    are the global shapes of the values it moves (a tuple for a combined op)."""
    role: dict[str, str] = {}
    for body in re.findall(r"while\([^\n]*?body=(%[\w.\-]+)", hlo):
        role[body] = "loop"
    for branches in re.findall(r"conditional\([^\n]*?branch_computations=\{([^}]*)\}", hlo):
        names = [b.strip() for b in branches.split(",")]
        for name, what in zip(names, ("keep", "eigh", "refresh"), strict=False):
            role[name] = what
    out, where = [], "other"
    for line in hlo.splitlines():
        head = re.match(r"(ENTRY )?(%[\w.\-]+) .*\{$", line)
        if head:
            where = "step" if head.group(1) else role.get(head.group(2), "other")
            continue
        m = re.search(r"= (.*?) (" + "|".join(base.COLLECTIVES) + r")(?:-start)?\(", line)
        if m:
            shapes = tuple(
                tuple(int(d) for d in dims.split(",") if d)
                for dims in re.findall(r"f32\[([\d,]*)\]", m.group(1))
            )
            out.append((where, m.group(2), shapes))
    return out


def _grads(steps: int) -> list[dict]:
    """A fixed sequence of (host) gradients: Gaussian, so every factor of a (16, .)
    axis is full rank from the first step."""
    keys = jax.random.split(jax.random.key(2), steps)
    return [
        {k: np.asarray(0.1 * jax.random.normal(jax.random.fold_in(key, i), s), np.float32)
         for i, (k, s) in enumerate(SHAPES.items())}
        for key in keys
    ]


def _update_runs(tx, layout, one_device: bool = True, steps: int = STEPS):
    """``update`` + ``apply_updates`` compiled with params, grads and state sharded as
    ``layout`` and ``state_shardings`` say, and on one device; both run ``steps``
    times on the same gradients. Returns the sharded program's HLO text, the params
    after the steps on 8 devices and on 1, and the final sharded state."""

    def step(g, s, p):
        u, s = tx.update(g, s, p)
        return gradtx.apply_updates(p, u), s

    one = NamedSharding(Mesh(base.DEVICES[:1], ("one",)), P())
    out = []
    for lay in (layout, one) if one_device else (layout,):
        p = jax.device_put(_params(), lay)
        ss = sharding.state_shardings(tx, p)
        fn = jax.jit(step, in_shardings=(lay, ss, lay), out_shardings=(lay, ss))
        state = jax.jit(tx.init, out_shardings=ss)(p)
        compiled = fn.lower(p, state, p).compile()
        for g in _grads(steps):
            p, state = compiled(jax.device_put(g, lay), state, p)
        out.append((compiled.as_text(), jax.device_get(p), state))
    return out[0][0], out[0][1], out[-1][1], out[0][2]


def _summary(sites) -> str:
    lines = sorted({f"  {w:8s} {k:18s} {s}" for w, k, s in sites})
    return "\n".join(f"{ln}  x{sum(1 for w, k, s in sites if f'  {w:8s} {k:18s} {s}' == ln)}"
                     for ln in lines)


def test_what_muon_and_soap_communicate_and_their_updates_equal_one_device():
    """The compiled FSDP update of Muon and SOAP: where each collective sits and what
    it moves (asserted below as measured with jax 0.10.2; docs/sharding.md), and the
    params after 6 updates on the same gradients equal one device's."""
    t0 = time.perf_counter()
    layout = sharding.fsdp_shardings(_params(), MESH)
    assert {n: tuple(s.spec) for n, s in layout.items()} == {
        "emb": ("d", None), "attn": (None, "d", None), "w_in": (None, "d"),
        "b_in": ("d",), "w_out": ("d", None), "b_out": ("d",),
    }
    heads = {**layout, "attn": NamedSharding(MESH, P("d", None, None))}
    muon = gradtx.contrib.muon(0.02, muon_weight_dimension_numbers=DIMS)
    cases = {  # name: (tx, layout, compare with one device)
        "muon": (muon, layout, True),
        "muon_heads_sharded": (muon, heads, False),  # one device: muon's numbers
        "soap": (gradtx.contrib.soap(0.01, precondition_frequency=2), layout, True),
        "soap_max_precond_dim_16": (
            gradtx.contrib.soap(0.01, precondition_frequency=2, max_precond_dim=16),
            layout, True),
    }
    found, p8, p1, state = {}, {}, {}, {}
    for name, (tx, lay, one) in cases.items():
        hlo, p8[name], p1[name], state[name] = _update_runs(tx, lay, one)
        found[name] = _sites(hlo)
        print(f"{name}: {len(found[name])} collectives\n{_summary(found[name])}")
        ref = p1[name] if one else p1["muon"]
        for n in SHAPES:
            d = np.abs(p8[name][n] - ref[n])
            print(f"  {n}: 1 vs 8 devices max abs {d.max():.3g}")

    def where(name, kind, place=None):
        return sorted(s for w, k, s in found[name] if k == kind and place in (None, w))

    # Muon. The Newton-Schulz loop (every update, ns_steps times) works on the wide
    # orientation (m, n), m <= n. w_in (16, 64) and w_out (64, 16) are split along
    # their 64: X X^T sums over the split axis, one all-reduce of the (16, 16) Gram
    # matrix per Newton-Schulz step each, and nothing is gathered. Each head of attn is
    # a square (16, 16) matrix split along its rows: X is all-gathered in the loop.
    # Outside the loop only the Frobenius norms are summed. AdamW's leaves: nothing.
    assert {k for _, k, _ in found["muon"]} == {"all-gather", "all-reduce"}
    assert where("muon", "all-reduce", "loop") == [((1, 16, 16),)] * 2
    gathers = where("muon", "all-gather")
    assert gathers and set(gathers) == {((8, 16, 16),)}
    assert len(where("muon", "all-gather", "loop")) == len(gathers)
    for shapes in where("muon", "all-reduce", "step"):
        assert all(np.prod(s) <= 8 for s in shapes), shapes  # the norms
    # With the heads axis (a batch axis of the dimension numbers) split instead, each
    # device orthogonalises its own heads: no gather at all.
    assert not where("muon_heads_sharded", "all-gather")
    assert where("muon_heads_sharded", "all-reduce", "loop") == [((1, 16, 16),)] * 2

    # SOAP. Every step (outside the switch) the rotations Q_L^T G Q_R and the factors
    # G G^T of a split axis need the whole matrix: each split matrix is all-gathered,
    # and so are the factors of the split axes, (32, 32) and (64, 64), computed split
    # and gathered back to their replicated place; the factors whose sums run over the
    # split axis are all-reduced. The eigendecomposition (first update) and the QR
    # refresh gather (d, d) factors and bases again, in their branches only.
    step_gathers = {s[0] for s in where("soap", "all-gather", "step")}
    assert {(32, 16), (8, 16, 16), (16, 64), (64, 16), (32, 32), (64, 64)} <= step_gathers
    assert where("soap", "all-reduce", "step")
    assert where("soap", "all-gather", "eigh") and where("soap", "all-gather", "refresh")
    # With max_precond_dim=16 the split axes of emb, w_in and w_out are not rotated:
    # those matrices are never gathered (their 16 x 16 factors are all-reduced); attn,
    # whose split axis is preconditioned, still is.
    step_gathers = {s[0] for s in where("soap_max_precond_dim_16", "all-gather")}
    assert not step_gathers & {(32, 16), (16, 64), (64, 16), (32, 32), (64, 64)}
    assert (8, 16, 16) in step_gathers

    # Same numbers as one device (6 updates, same gradients, float32). Default SOAP's
    # (64, 64) factor of w_in (16, 64) has rank 16 after the first update: its
    # eigenbasis in the null space is set by rounding, on one device too, so w_in (and
    # the other leaves with a rank-deficient factor) is compared only with
    # max_precond_dim=16, where every factor is full rank.
    for name in ("muon", "muon_heads_sharded", "soap_max_precond_dim_16"):
        ref = p1[name] if cases[name][2] else p1["muon"]
        _assert_close(p8[name], ref, rtol=1e-5, atol=1e-6)
    _assert_close({n: p8["soap"][n] for n in ("attn", "b_in", "b_out")},
                  {n: p1["soap"][n] for n in ("attn", "b_in", "b_out")}, rtol=1e-5, atol=1e-6)
    # SOAP's state: moments sharded like the params, factors and bases replicated.
    soap_state = state["soap"][0]
    for n in SHAPES:
        for moment in (soap_state.exp_avg[n], soap_state.exp_avg_sq[n]):
            assert moment.sharding.is_equivalent_to(layout[n], moment.ndim), n
    for f in jax.tree.leaves((soap_state.gg, soap_state.q)):
        assert f.shape[0] == f.shape[1] and f.sharding.is_fully_replicated
    print(f"muon/soap HLO and updates: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s", "-p", "no:cacheprovider", *sys.argv[1:]]))
