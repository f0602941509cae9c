"""Single-pass optimiser steps on CPU: a fused C++ kernel called through JAX's FFI, the
backend of :func:`gradtx.make_step` and :func:`gradtx.update_and_apply`.

XLA's CPU backend (jax 0.10.2) writes each updated array in its own pass, so a jitted
Adam step streams memory three times (about 44 bytes per parameter instead of 28; see
``docs/performance.md``). The kernel (``kernels.cc``, shipped with the package) reads
parameters, gradients and state once and writes parameters and state once, in place, for
every leaf of the tree in ONE call spread over XLA's intra-op thread pool, so a tree of
many small leaves runs as fast as one flat buffer.

There is nothing to call: ``gradtx.make_step(gradtx.adam(1e-3))`` (or
``gradtx.update_and_apply`` inside your own jitted step) runs the kernel whenever it
applies: on CPU, float32 params/gradients/state, and a transformation that ends in a
covered optimiser (``adam``, ``adamw``, ``nadam``, ``nadamw``, ``yogi``, ``amsgrad``,
``lion``, ``adamax``, ``adamaxw``, ``adabelief``, ``radam``, ``sgd`` with momentum,
``adagrad``, ``rmsprop`` not centred, or the same building blocks chained by hand), after
any other links such as ``clip_by_global_norm`` (those run first, in pure JAX).
Recognition reads the description each gradtx constructor attaches to what it returns
(``tx.update.spec``, a :class:`gradtx.base.TransformSpec`); :func:`explain` says what a
step will do and why. Anything else, and every non-CPU backend, runs the pure-JAX step,
which stays the reference; ``GRADTX_DISABLE_NATIVE=1`` turns the kernel off.

Numbers: the same operation order as the jitted pure-JAX steps (bias corrections
multiplied as ``1/c``; fused multiply-add where XLA's CPU code uses it), so results agree
to the last bit or within a few ulp; tests check rtol 1e-6 against the pure-JAX step and
the float64 NumPy references.

Limits: float32 only; ``mu_dtype``, centred RMSProp, Lion's ``"smooth"``/``"refined"``
modes, AdaBound/AMSBound and Adadelta run in pure JAX; not differentiable; sharded
parameters are treated as a single-device custom call (XLA gathers them), so use the
pure-JAX step for sharded training (``GRADTX_DISABLE_NATIVE=1`` or ``jit`` of
``tx.update`` yourself). This is a gradtx extension: optax has no native kernels; torch's
``fused=True`` optimisers are the analogue.
"""

from __future__ import annotations

from typing import Any

from gradtx.base import OptState, Params, Updates
from gradtx.native._build import available

__all__ = ["available", "explain"]


def explain(tx: Any, params: Params, grads: Updates | None = None,
            state: OptState | None = None) -> str:
    """Says whether :func:`gradtx.make_step` runs ``tx`` on the native kernel, and why.

    Args:
      tx: any gradient transformation (gradtx or optax).
      params: the parameters (a pytree of arrays).
      grads: gradients shaped like ``params`` (default: ``params`` itself, for the dtypes).
      state: ``tx``'s state (default: ``tx.init(params)``).

    Returns:
      ``"native: ..."`` naming the links run by the kernel and those run before it, or
      ``"pure JAX: <reason>"``. On a non-CPU backend the compiled step is always pure JAX.

    Example:
      >>> import jax.numpy as jnp
      >>> import gradtx
      >>> params = {"w": jnp.zeros(3)}
      >>> tx = gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adam(1e-3))
      >>> gradtx.native.explain(tx, params).split(":")[0] in ("native", "pure JAX")
      True
      >>> gradtx.native.explain(gradtx.adam(1e-3), {"w": jnp.zeros(3, jnp.bfloat16)})
      'pure JAX: a leaf has dtype bfloat16, only float32 is native'
    """
    from gradtx.native import _backend

    grads = params if grads is None else grads
    state = tx.init(params) if state is None else state
    p = _backend.plan(tx, params, grads, state)
    if isinstance(p, str):
        return f"pure JAX: {p}"
    names = ([p.fold.spec.name] if p.fold else []) + [lk.spec.name for lk in p.tail]
    before = [lk.spec.name if lk.spec else "a transformation without a spec"
              for lk in p.prefix]
    return (f"native: kernel runs {' + '.join(names)}"
            + (f" after {' + '.join(before)} in pure JAX" if before else ""))
