"""Matrix optimisers' step time and state size on a transformer-like tree (issue 15).

``python -m benchmarks.contrib_matrix [--blocks N] [--steps K] [--repeats R]``

The tree: ``--blocks`` transformer blocks of width 512, each with four 512x512 attention
matrices, a 512x2048 and a 2048x512 MLP matrix, two LayerNorm scales and an MLP bias
(3.15M parameters per block). Rows:

- ``muon``: ``gradtx.contrib.muon(0.02)`` vs ``optax.contrib.muon(0.02)``;
- ``soap``: ``gradtx.contrib.soap()`` vs the authors' update written plainly in JAX below
  (:func:`plain_soap`: per-leaf Python, ``eigh`` on the first step, QR power iteration
  every 10 steps under ``lax.cond``, no weight decay order subtleties).

Each implementation runs a jitted step (``update`` + ``apply_updates``, params and state
donated) for ``--steps`` steps per timing (10 = one eigenbasis refresh per timing), after a
warm-up that compiles and takes SOAP's first (eigh) step; the table prints the mean step
time (best of ``--repeats`` timings), the compile time, and the optimiser state's bytes
per parameter. Numbers depend heavily on the backend: Newton-Schulz and SOAP's rotations
are matmul-bound (run it on an accelerator for meaningful absolute times).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if not __package__:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import gradtx  # noqa: E402
import gradtx.contrib  # noqa: E402
from benchmarks._shapes import transformer_shapes  # noqa: E402


def transformer_tree(blocks: int = 1, width: int = 512, seed: int = 0) -> dict:
    """:func:`benchmarks._shapes.transformer_shapes` as nested ``{block: {name: array}}``
    float32 arrays drawn from N(0, 0.02^2)."""
    rng = np.random.default_rng(seed)
    tree: dict = {}
    for path, s in transformer_shapes(blocks, width).items():
        block, name = path.split("/")
        tree.setdefault(block, {})[name] = jnp.asarray(rng.normal(size=s) * 0.02, jnp.float32)
    return tree


def plain_soap(lr=3e-3, b1=0.95, b2=0.95, eps=1e-8, wd=0.01, freq=10):
    """The authors' SOAP for 2D leaves (plain Adam for vectors), written plainly."""

    def init(params):
        def leaf(p):
            if p.ndim != 2:
                return (jnp.zeros_like(p), jnp.zeros_like(p))
            m, n = p.shape
            z = [jnp.zeros((d, d), p.dtype) for d in (m, n, m, n)]  # distinct buffers
            return (jnp.zeros_like(p), jnp.zeros_like(p), *z)
        return (jnp.zeros([], jnp.int32), jax.tree.map(leaf, params))

    def update(grads, state, params):
        count, leaves = state
        t = jnp.maximum(count, 1).astype(jnp.float32)
        scale = jnp.sqrt(1 - b2**t) / (1 - b1**t)
        live = (count > 0).astype(jnp.float32)

        def leaf(g, s, p):
            if g.ndim != 2:
                m, v = b1 * s[0] + (1 - b1) * g, b2 * s[1] + (1 - b2) * g * g
                m, v = jnp.where(live > 0, m, s[0]), jnp.where(live > 0, v, s[1])
                u = -lr * live * scale * m / (jnp.sqrt(v) + eps)
                return u - lr * wd * live * (p + u), (m, v)
            m, v, L, R, QL, QR = s
            gp = QL.T @ g @ QR
            m_new = jnp.where(live > 0, b1 * m + (1 - b1) * gp, m)
            v_new = jnp.where(live > 0, b2 * v + (1 - b2) * gp * gp, v)
            u = -lr * live * scale * (QL @ (m_new / (jnp.sqrt(v_new) + eps)) @ QR.T)
            u = u - lr * wd * live * (p + u)
            L, R = b2 * L + (1 - b2) * g @ g.T, b2 * R + (1 - b2) * g.T @ g

            def first(_):
                el = jnp.flip(jnp.linalg.eigh(L)[1], 1)
                er = jnp.flip(jnp.linalg.eigh(R)[1], 1)
                return el, er, m_new, v_new

            def refresh(_):
                il = jnp.argsort(-jnp.diag(QL.T @ L @ QL))
                ir = jnp.argsort(-jnp.diag(QR.T @ R @ QR))
                nl = jnp.linalg.qr(L @ QL[:, il])[0]
                nr = jnp.linalg.qr(R @ QR[:, ir])[0]
                back = QL @ m_new @ QR.T
                return nl, nr, nl.T @ back @ nr, v_new[il][:, ir]

            def keep(_):
                return QL, QR, m_new, v_new

            idx = jnp.where(count == 0, 0, jnp.where(count % freq == 0, 1, 2))
            QL, QR, m_new, v_new = jax.lax.switch(idx, (first, refresh, keep), None)
            return u, (m_new, v_new, L, R, QL, QR)

        flat_g, treedef = jax.tree.flatten(grads)
        flat_s = treedef.flatten_up_to(leaves)
        flat_p = treedef.flatten_up_to(params)
        out = [leaf(g, s, p) for g, s, p in zip(flat_g, flat_s, flat_p, strict=True)]
        return (treedef.unflatten([o[0] for o in out]),
                (count + 1, treedef.unflatten([o[1] for o in out])))

    return gradtx.GradientTransformation(init, update)


def _state_bytes_per_param(state, params) -> float:
    n = sum(x.size for x in jax.tree.leaves(params))
    return sum(x.nbytes for x in jax.tree.leaves(state) if hasattr(x, "nbytes")) / n


def time_impl(tx, params, steps: int, repeats: int) -> dict:
    grads = jax.tree.map(lambda p: jnp.full_like(p, 1e-3) + 1e-4 * p, params)

    def many(p, s):
        def body(_, carry):
            p, s = carry
            u, s = tx.update(grads, s, p)
            return gradtx.apply_updates(p, u), s
        return jax.lax.fori_loop(0, steps, body, (p, s))

    step = jax.jit(many, donate_argnums=(0, 1))
    p = jax.tree.map(jnp.copy, params)
    s = tx.init(p)
    bytes_pp = _state_bytes_per_param(s, params)
    t0 = time.perf_counter()
    compiled = step.lower(p, s).compile()
    compile_s = time.perf_counter() - t0
    p, s = jax.block_until_ready(compiled(p, s))  # warm-up (and SOAP's first step)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        p, s = jax.block_until_ready(compiled(p, s))
        best = min(best, (time.perf_counter() - t0) / steps)
    return {"step_ms": best * 1e3, "compile_s": compile_s, "state_bytes_per_param": bytes_pp}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=1)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--width", type=int, default=512)
    args = ap.parse_args(argv)
    import optax.contrib

    params = transformer_tree(args.blocks, args.width)
    n = sum(x.size for x in jax.tree.leaves(params))
    impls = [
        ("muon", "gradtx", gradtx.contrib.muon(0.02)),
        ("muon", "optax", optax.contrib.muon(0.02)),
        ("soap", "gradtx", gradtx.contrib.soap()),
        ("soap", "plain", plain_soap()),
    ]
    rows = []
    print(f"backend {jax.default_backend()}, {n / 1e6:.2f}M params ({args.blocks} block(s) "
          f"of width {args.width}), {args.steps} steps per timing, best of {args.repeats}\n")
    print("| optimizer | impl | step ms | compile s | state bytes/param |")
    print("|---|---|---|---|---|")
    for opt, impl, tx in impls:
        r = {"optimizer": opt, "impl": impl, **time_impl(tx, params, args.steps, args.repeats)}
        rows.append(r)
        print(f"| {opt} | {impl} | {r['step_ms']:.2f} | {r['compile_s']:.1f} | "
              f"{r['state_bytes_per_param']:.2f} |", flush=True)
    return rows


if __name__ == "__main__":
    main()
