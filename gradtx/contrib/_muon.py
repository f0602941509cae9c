"""Muon: momentum orthogonalised by Newton-Schulz, as optax.contrib's ``muon``, with
torch.optim's ``Muon`` convention behind ``adjust_lr_fn``.

Same names, signatures, defaults, numbers and state tree as ``optax.contrib`` (0.2.8):
``MuonDimensionNumbers`` says which axes of a leaf form the matrix (the rest are batch
axes, orthogonalised one slice at a time), ``scale_by_muon`` is the building block and
``muon`` routes every leaf that has dimension numbers (by default: every 2D leaf) to Muon
and every other leaf to AdamW, through :func:`gradtx.partition`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx.base import GradientTransformation, ScalarOrSchedule, chain, init_empty_state
from gradtx.optimizers import adamw
from gradtx.transforms import add_decayed_weights, partition, scale_by_learning_rate
from gradtx.transforms._masking import MaskedNode
from gradtx.tree._core import (
    MOMENT,
    bias_correction,
    check_float_updates,
    compute_dtype,
    safe_increment,
    state_like,
    zero_count,
)

_DEFAULT_NS_COEFFS = (3.4445, -4.7750, 2.0315)
_DION_NS_COEFFS = (
    (4.0848, -6.8946, 2.9270),
    (3.9505, -6.3029, 2.6377),
    (3.7418, -5.5913, 2.3037),
    (2.8769, -3.1427, 1.2046),
    (2.8366, -3.0525, 1.2012),
)
_NS_COEFFS_PRESETS = {"standard": _DEFAULT_NS_COEFFS, "dion": _DION_NS_COEFFS}
_PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")
_ADJUST_LR_FNS = ("original", "match_rms_adamw")


class MuonDimensionNumbers(NamedTuple):
    """Which axes of a weight form the matrix that Muon orthogonalises (optax's node).

    For ``y = x W`` the reduction (fan-in) axis comes first and the output (fan-out)
    axis second, so the default is ``reduction_axis=0, output_axis=1`` (a flax ``Dense``
    kernel ``(in, out)``). Several axes may be given for each (a conv kernel
    ``(h, w, in, out)`` is ``MuonDimensionNumbers((0, 1, 2), 3)``: the matrix is
    ``(h*w*in, out)``); every axis named by neither is a batch axis (one matrix per
    index, e.g. the heads of a stacked attention kernel).
    """

    reduction_axis: Sequence[int] | int = 0  # fan-in axes (flattened together)
    output_axis: Sequence[int] | int = 1  # fan-out axes (flattened together)


WeightDimNumOrFn = Any  # a tree of MuonDimensionNumbers / None, or params -> such a tree


class MuonState(NamedTuple):
    """State of :func:`scale_by_muon` (optax.contrib's fields and order)."""

    count: jax.Array  # shape=(), dtype=int32: updates made so far
    mu: Any  # momentum, shaped like the updates (dtype: mu_dtype or the state policy)
    ns_coeffs: jax.Array  # shape=(3,) or (n, 3), float32: the Newton-Schulz coefficients


def _is_dim_nums(x: Any) -> bool:
    return isinstance(x, MuonDimensionNumbers)


def _normalize_axes(x: jax.Array, dim_nums: MuonDimensionNumbers) -> tuple[tuple, tuple]:
    red, out = dim_nums.reduction_axis, dim_nums.output_axis
    red = (red,) if isinstance(red, int) else tuple(red)
    out = (out,) if isinstance(out, int) else tuple(out)
    return tuple(a % x.ndim for a in red), tuple(a % x.ndim for a in out)


def _fans(x: jax.Array, dim_nums: MuonDimensionNumbers) -> tuple[int, int]:
    red, out = _normalize_axes(x, dim_nums)
    return math.prod(x.shape[a] for a in red), math.prod(x.shape[a] for a in out)


def _reshape_fns(x: jax.Array, dim_nums: MuonDimensionNumbers) -> tuple[Callable, Callable]:
    """``x -> (batch, fan_in, fan_out)`` and back, from the dimension numbers."""
    if x.ndim < 2:
        raise ValueError(
            f"Muon optimised parameters must have rank >= 2, got shape {x.shape} "
            "(give it no dimension numbers (None) to route it to AdamW)"
        )
    red, out = _normalize_axes(x, dim_nums)
    if set(red) & set(out):
        raise ValueError(
            f"MuonDimensionNumbers: reduction axes {red} and output axes {out} must be "
            f"disjoint (got {dim_nums} for shape {x.shape})"
        )
    batch = tuple(sorted(set(range(x.ndim)) - set(red) - set(out)))
    perm = batch + red + out
    inv = tuple(np.argsort(perm))
    dims = [x.shape[a] for a in perm]
    flat = (math.prod(dims[: len(batch)]), math.prod(x.shape[a] for a in red),
            math.prod(x.shape[a] for a in out))
    return (lambda y: y.transpose(perm).reshape(flat),
            lambda y: y.reshape(dims).transpose(inv))


def _ns_step(x: jax.Array, c: jax.Array) -> jax.Array:
    # f(X) = c0 X + (c1 A + c2 A^2) X with A = X X^H
    a = x @ x.T.conj()
    return c[0] * x + (c[1] * a + c[2] * a @ a) @ x


def _ns_body(i: jax.Array, carry: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
    x, rows = carry
    return _ns_step(x, rows[i]), rows


def _first_step(x: jax.Array, c: jax.Array, preconditioning: str) -> jax.Array:
    """The first Newton-Schulz step, with AOL or Schatten-4 rescaling folded in."""
    a = x @ x.T.conj()
    if preconditioning == "aol":  # Boissin et al. 2025
        s = jax.lax.rsqrt(jnp.clip(jnp.abs(a).sum(axis=-1), min=1e-8))[:, None]
        x, a = x * s, a * s * s.T
    else:  # schatten: Grishina et al. 2025
        s = jax.lax.rsqrt(jnp.clip(jnp.linalg.norm(a, ord="fro"), min=1e-8))
        x, a = x * s, a * s**2
    return c[0] * x + (c[1] * a + c[2] * a @ a) @ x


def _orthogonalize(x: jax.Array, coeffs: jax.Array, ns_steps: int, preconditioning: str,
                   eps: Any, torch_eps: bool) -> jax.Array:
    """Newton-Schulz orthogonalisation of one matrix ``x`` (shape ``(m, n)``)."""
    transposed = x.shape[0] > x.shape[1]
    if transposed:
        x = x.T
    if preconditioning in ("frobenius", "spectral"):
        norm = jnp.linalg.norm(x, ord="fro" if preconditioning == "frobenius" else 2)
        x = x / (jnp.maximum(norm, eps) if torch_eps else norm + eps)
    coeffs = coeffs.astype(x.dtype)
    rows = jnp.broadcast_to(coeffs, (ns_steps, 3)) if coeffs.ndim == 1 else coeffs
    start = 0
    if preconditioning in ("aol", "schatten"):
        x, start = _first_step(x, rows[0], preconditioning), 1
    # a rolled loop: XLA compiles one step (an unrolled loop compiles each of them; the
    # steps are matmul-bound, so the loop costs nothing at run time)
    # a module-level body with the coefficients in the carry: fori_loop caches its jaxpr,
    # so an eager update reuses the compiled loop instead of compiling one per call
    x, _ = jax.lax.fori_loop(start, rows.shape[0], _ns_body, (x, rows))
    return x.T if transposed else x


def _orthogonalize_leaf(x, dim_nums, coeffs, ns_steps, preconditioning, eps, torch_eps):
    dim_nums = MuonDimensionNumbers() if dim_nums is None and x.ndim == 2 else dim_nums
    if dim_nums is None:
        raise ValueError(
            f"scale_by_muon: a leaf of shape {x.shape} has no dimension numbers; give "
            "weight_dimension_numbers for leaves that are not 2D matrices"
        )
    reshape, inverse = _reshape_fns(x, dim_nums)
    one = functools.partial(_orthogonalize, coeffs=coeffs, ns_steps=ns_steps,
                            preconditioning=preconditioning, eps=eps, torch_eps=torch_eps)
    return inverse(jax.vmap(one)(reshape(x)))


def _resolve(dim_nums: WeightDimNumOrFn, tree: Any) -> Any:
    dim_nums = dim_nums(tree) if callable(dim_nums) else dim_nums
    if dim_nums is None or _is_dim_nums(dim_nums):  # one spec for every leaf
        return jax.tree.map(lambda _: dim_nums, tree)
    return dim_nums


def _coeffs_array(ns_coeffs: Any, ns_steps: Any) -> np.ndarray:
    coeffs = np.asarray(ns_coeffs, np.float32)
    if coeffs.ndim not in (1, 2) or coeffs.shape[-1] != 3:
        raise ValueError(f"ns_coeffs must have shape (3,) or (n, 3), got {coeffs.shape}")
    if coeffs.ndim == 2:
        if coeffs.shape[0] > ns_steps:
            raise ValueError(
                f"ns_coeffs has {coeffs.shape[0]} rows, more than ns_steps={ns_steps}"
            )
        coeffs = coeffs[-ns_steps:]
    return coeffs


def scale_by_muon(
    ns_coeffs: Any = _DEFAULT_NS_COEFFS,
    ns_steps: int = 5,
    beta: float = 0.95,
    eps: float = 1e-8,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: Literal["frobenius", "spectral", "aol", "schatten"] = "frobenius",
    weight_dimension_numbers: WeightDimNumOrFn | None = None,
    convention: Literal["optax", "torch"] = "optax",
) -> GradientTransformation:
    r"""Muon's direction: the orthogonalised (Nesterov) momentum of each matrix.

    .. math::
        m_t = \beta m_{t-1} + (1-\beta) g_t,\qquad
        \hat m_t = \beta \frac{m_t}{1-\beta^{t+1}} + (1-\beta)\frac{g_t}{1-\beta^t}
        \ \text{(nesterov; else } m_t/(1-\beta^t)),\qquad
        u_t = \mathrm{NS}_k\!\left(\frac{\hat m_t}{\lVert \hat m_t\rVert_F + \epsilon}\right)

    where :math:`\mathrm{NS}_k` is ``ns_steps`` quintic Newton-Schulz steps
    :math:`X \leftarrow aX + (bA + cA^2)X`, :math:`A = XX^\top`, run on the wider
    orientation, which maps the singular values of :math:`\hat m_t` to roughly 1
    (:math:`u \approx UV^\top` for :math:`\hat m = USV^\top`). With ``adaptive=True``
    (Bernstein et al. 2024) :math:`u_t \leftarrow \langle \hat m_t, u_t\rangle u_t`.
    Defaults, numbers and state equal ``optax.contrib.scale_by_muon``. Each leaf is
    viewed as ``(batch, fan_in, fan_out)`` by its :class:`MuonDimensionNumbers`; with
    ``weight_dimension_numbers=None`` every leaf must be a 2D matrix (optax fails on a
    tree there; gradtx applies the 2D rule to each leaf).

    ``convention="torch"`` (keyword-only; used by :func:`muon`'s ``adjust_lr_fn``) is
    ``torch.optim.Muon``'s rule instead: no bias correction
    (:math:`\hat m_t = (1-\beta) g_t + \beta m_t` with nesterov, else :math:`m_t`) and
    :math:`\hat m_t / \max(\lVert \hat m_t\rVert_F, \epsilon)`; torch's
    ``eps`` default is 1e-7 (pass it) and torch iterates in bfloat16, gradtx in the
    momentum's dtype (at least float32).

    Args:
        ns_coeffs: the Newton-Schulz coefficients ``(a, b, c)``, or ``n <= ns_steps``
            rows of them, one per step (default Jordan's ``(3.4445, -4.7750, 2.0315)``).
        ns_steps: number of Newton-Schulz steps, a positive int (default 5; ignored
            for a 2D ``ns_coeffs``).
        beta: momentum decay in ``[0, 1)`` (default 0.95).
        eps: ``>= 0``, added to the norm before dividing (default 1e-8).
        mu_dtype: storage dtype of ``mu`` (default: the state dtype policy).
        nesterov: Nesterov momentum (default ``True``).
        adaptive: scale by the dual norm ``<m_hat, u>`` (default ``False``).
        preconditioning: the rescaling before Newton-Schulz: ``"frobenius"`` (default),
            ``"spectral"`` (divide by the largest singular value), ``"aol"`` or
            ``"schatten"`` (folded into the first step).
        weight_dimension_numbers: a tree of :class:`MuonDimensionNumbers` like the
            params (or one for all leaves), or a function ``params -> such a tree``;
            ``None``: every leaf is a ``(fan_in, fan_out)`` matrix.
        convention: ``"optax"`` (default) or ``"torch"`` (see above).

    Returns:
        A :class:`gradtx.GradientTransformation` with state :class:`MuonState`
        (``count``, ``mu``, ``ns_coeffs``); updates keep the gradients' dtypes.

    Raises:
        ValueError: ``beta`` outside ``[0, 1)``, negative ``eps``, a bad ``ns_steps``,
            ``ns_coeffs`` shape, ``preconditioning`` or ``convention``; at ``update``, a
            leaf of rank < 2 or overlapping axes in its dimension numbers.
        TypeError: a bad ``mu_dtype``; a non-float gradient.

    References: Jordan, *Muon* (github.com/KellerJordan/Muon), 2024; Bernstein & Newhouse,
    *Old Optimizer, New Norm: An Anthology*, arXiv:2409.20325; ``optax.contrib``
    (0.2.8, ``_muon.py``); ``torch.optim.Muon``.

    Example:
        >>> import gradtx, gradtx.contrib, jax.numpy as jnp
        >>> tx = gradtx.contrib.scale_by_muon()
        >>> g = jnp.array([[3.0, 0.0], [0.0, 1.0]])
        >>> u, state = tx.update(g, tx.init(g))
        >>> print(jnp.round(jnp.diag(u), 2))  # singular values 3 and 1 both map near 1
        [0.75 1.13]
    """
    _checks.decay_rate("beta", beta)
    _checks.non_negative("eps", eps)
    _checks.positive_int("ns_steps", ns_steps)
    if preconditioning not in _PRECONDITIONINGS:
        raise ValueError(f"preconditioning must be one of {_PRECONDITIONINGS}, "
                         f"got {preconditioning!r}")
    if convention not in ("optax", "torch"):
        raise ValueError(f"convention must be 'optax' or 'torch', got {convention!r}")
    mu_dtype = _checks.state_dtype("mu_dtype", mu_dtype)
    coeffs = _coeffs_array(ns_coeffs, ns_steps)
    torch_eps = convention == "torch"

    def init_fn(params):
        return MuonState(count=zero_count(), mu=state_like(params, MOMENT, mu_dtype),
                         ns_coeffs=jnp.asarray(coeffs))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        check_float_updates(updates)
        dim_nums = _resolve(weight_dimension_numbers, updates)
        count = safe_increment(state.count)
        c1, c1_next = bias_correction(beta, count), bias_correction(beta, safe_increment(count))

        def one(g, m, dn):
            dt = compute_dtype(g, m)
            g32, m_new = g.astype(dt), beta * m.astype(dt) + (1 - beta) * g.astype(dt)
            if torch_eps:
                m_hat = (1 - beta) * g32 + beta * m_new if nesterov else m_new
            elif nesterov:
                m_hat = beta * (m_new / c1_next) + (1 - beta) * (g32 / c1)
            else:
                m_hat = m_new / c1
            u = _orthogonalize_leaf(m_hat, dn, state.ns_coeffs, ns_steps, preconditioning,
                                    eps, torch_eps)
            if adaptive:
                u = jnp.sum(m_hat.conj() * u) * u
            return u.astype(g.dtype), m_new.astype(m.dtype)

        leaves, treedef = jax.tree.flatten(updates)
        mus = treedef.flatten_up_to(state.mu)
        dns = treedef.flatten_up_to(dim_nums)
        out = [one(g, m, dn) for g, m, dn in zip(leaves, mus, dns, strict=True)]
        new_u = treedef.unflatten([o[0] for o in out])
        new_mu = treedef.unflatten([o[1] for o in out])
        return new_u, MuonState(count=count, mu=new_mu, ns_coeffs=state.ns_coeffs)

    return GradientTransformation(init_fn, update_fn)


def _scale_by_shape(weight_dimension_numbers: WeightDimNumOrFn,
                    consistent_rms: Any | None) -> GradientTransformation:
    """optax.contrib's ``scale_by_shape``: ``sqrt(max(1, fan_out / fan_in))`` (width
    transfer) or ``consistent_rms * sqrt(max(fan_in, fan_out))``; stateless."""

    def scale(u, dn):
        fan_in, fan_out = _fans(u, dn if dn is not None else MuonDimensionNumbers())
        if consistent_rms is None:
            s = math.sqrt(max(1.0, fan_out / fan_in))
        else:
            s = math.sqrt(max(fan_in, fan_out)) * consistent_rms
        return (s * u).astype(u.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        dim_nums = _resolve(weight_dimension_numbers, updates)
        leaves, treedef = jax.tree.flatten(updates)
        dns = treedef.flatten_up_to(dim_nums)
        return treedef.unflatten([scale(u, d) for u, d in zip(leaves, dns, strict=True)]), state

    return GradientTransformation(init_empty_state, update_fn)


def muon(
    learning_rate: ScalarOrSchedule,
    ns_coeffs: Any = _DEFAULT_NS_COEFFS,
    ns_steps: int = 5,
    beta: float = 0.95,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    weight_decay_mask: Any | Callable[[Any], Any] | None = None,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: Literal["frobenius", "spectral", "aol", "schatten"] = "frobenius",
    adam_b1: float = 0.9,
    adam_b2: float = 0.999,
    adam_eps_root: float = 0.0,
    adam_weight_decay: float = 0.0,
    adam_learning_rate: ScalarOrSchedule | None = None,
    muon_weight_dimension_numbers: WeightDimNumOrFn | None = None,
    consistent_rms: float | None = None,
    adjust_lr_fn: Literal["original", "match_rms_adamw"] | None = None,
) -> GradientTransformation:
    r"""Muon (MomentUm Orthogonalized by Newton-Schulz) for matrices, AdamW for the rest.

    .. math::
        W_{t+1} = W_t - \eta\,\big(s(W)\, u_t + \lambda W_t\big)

    with :math:`u_t` from :func:`scale_by_muon` and the shape factor
    :math:`s = \sqrt{\max(1, \text{fan\_out}/\text{fan\_in})}` (or, with
    ``consistent_rms=r``, :math:`s = r\sqrt{\max(\text{fan\_in}, \text{fan\_out})}`,
    Liu et al. 2025). Leaves with dimension numbers (by default every 2D leaf) get Muon;
    every other leaf (biases, norms' scales, by default also conv kernels and stacked
    weights) gets ``adamw(adam_learning_rate, adam_b1, adam_b2, eps, adam_eps_root,
    weight_decay=adam_weight_decay, nesterov=nesterov)``. Signature, defaults, numbers
    and state tree (a :class:`gradtx.PartitionState` with groups ``"muon"`` and
    ``"adam"``) equal ``optax.contrib.muon``; docs/contrib_matrix.md says which leaves to
    precondition and how.

    ``adjust_lr_fn`` (keyword-only, gradtx's) gives ``torch.optim.Muon``'s rule for the
    Muon leaves: its momentum without bias correction and
    :math:`\hat m/\max(\lVert\hat m\rVert, \epsilon)` (``convention="torch"`` of
    :func:`scale_by_muon`), and its learning-rate adjustment with
    :math:`A = \text{fan\_out}, B = \text{fan\_in}` (torch's ``(out, in)`` weight
    layout): ``"original"``: :math:`\eta\sqrt{\max(1, A/B)}`, ``"match_rms_adamw"``:
    :math:`0.2\,\eta\sqrt{\max(A, B)}`; weight decay :math:`W \leftarrow (1-\eta\lambda)W`
    as above. torch's defaults differ (``lr=1e-3``, ``weight_decay=0.1``, ``eps=1e-7``):
    pass them. torch raises for non-2D parameters; here they go to AdamW.

    Args:
        learning_rate: :math:`\eta`, a float ``>= 0`` or a schedule.
        ns_coeffs: Newton-Schulz coefficients, ``(3,)`` or ``(n, 3)``, or a preset name
            ``"standard"`` or ``"dion"``.
        ns_steps: Newton-Schulz steps (default 5).
        beta: momentum decay (default 0.95).
        eps: for Muon's normalisation and AdamW's denominator (default 1e-8).
        weight_decay: :math:`\lambda \ge 0` of the Muon leaves (default 0.0).
        weight_decay_mask: a boolean tree (or a function of the params giving one) of the
            Muon leaves to decay (default: all).
        mu_dtype: storage dtype of the momenta (default: the state dtype policy).
        nesterov: Nesterov momentum for Muon and AdamW (default ``True``).
        adaptive: see :func:`scale_by_muon`.
        preconditioning: see :func:`scale_by_muon`.
        adam_b1, adam_b2, adam_eps_root, adam_weight_decay: AdamW's (defaults 0.9, 0.999,
            0.0, 0.0).
        adam_learning_rate: AdamW's learning rate (default: ``learning_rate``).
        muon_weight_dimension_numbers: a tree of :class:`MuonDimensionNumbers` or
            ``None`` (``None`` leaf: AdamW), or a function of the params giving one;
            default: Muon for every 2D leaf.
        consistent_rms: ``r`` above, or ``None`` (the width factor).
        adjust_lr_fn: ``None`` (optax's rule, default), ``"original"`` or
            ``"match_rms_adamw"`` (torch's rule, see above).

    Returns:
        A :class:`gradtx.GradientTransformation`.

    Raises:
        ValueError: a bad hyperparameter (naming it), an unknown ``ns_coeffs`` preset or
            ``adjust_lr_fn``, or ``adjust_lr_fn`` together with ``consistent_rms``.

    References: Jordan, *Muon* (github.com/KellerJordan/Muon), 2024; Liu et al., *Muon is
    Scalable for LLM Training*, arXiv:2502.16982; ``optax.contrib.muon`` (0.2.8);
    ``torch.optim.Muon`` (``adjust_lr_fn``).

    Example:
        >>> import gradtx, gradtx.contrib, jax.numpy as jnp
        >>> params = {"w": jnp.ones((4, 2)), "b": jnp.zeros(2)}
        >>> tx = gradtx.contrib.muon(0.1)
        >>> state = tx.init(params)
        >>> sorted(state.inner_states)  # matrices go to Muon, the bias to AdamW
        ['adam', 'muon']
        >>> grads = {"w": jnp.eye(4, 2), "b": jnp.array([1.0, -1.0])}
        >>> u, state = tx.update(grads, state, params)
        >>> print(jnp.round(u["b"], 3))  # AdamW with Nesterov momentum (optax's too)
        [-0.147  0.147]
    """
    _checks.learning_rate("learning_rate", learning_rate)
    _checks.non_negative("weight_decay", weight_decay)
    if adam_learning_rate is None:
        adam_learning_rate = learning_rate
    if isinstance(ns_coeffs, str):
        if ns_coeffs not in _NS_COEFFS_PRESETS:
            raise ValueError(f"ns_coeffs: unknown preset {ns_coeffs!r}; presets are "
                             f"{sorted(_NS_COEFFS_PRESETS)}")
        ns_coeffs = _NS_COEFFS_PRESETS[ns_coeffs]
    if adjust_lr_fn is not None:
        if adjust_lr_fn not in _ADJUST_LR_FNS:
            raise ValueError(f"adjust_lr_fn must be None or one of {_ADJUST_LR_FNS}, "
                             f"got {adjust_lr_fn!r}")
        if consistent_rms is not None:
            raise ValueError("give adjust_lr_fn or consistent_rms, not both "
                             f"(got {adjust_lr_fn!r} and {consistent_rms!r})")
        consistent_rms = 0.2 if adjust_lr_fn == "match_rms_adamw" else None

    dim_nums_arg = muon_weight_dimension_numbers
    if dim_nums_arg is None:
        def param_labels(params):
            return jax.tree.map(lambda x: "muon" if jnp.ndim(x) == 2 else "adam", params)
        dim_nums_arg = MuonDimensionNumbers()
    else:
        def param_labels(params):
            dn = dim_nums_arg(params) if callable(dim_nums_arg) else dim_nums_arg
            return jax.tree.map(
                lambda d, sub: jax.tree.map(lambda _: "muon" if d is not None else "adam", sub),
                dn, params, is_leaf=lambda x: x is None or _is_dim_nums(x))

    def muon_dim_nums(params):
        # the dimension numbers on the Muon group's masked tree (MaskedNode elsewhere)
        dn = dim_nums_arg(params) if callable(dim_nums_arg) else dim_nums_arg
        mask = jax.tree.map(lambda label: label == "muon", param_labels(params))
        return jax.tree.map(
            lambda d, sub: jax.tree.map(lambda m: d if m else MaskedNode(), sub), dn, mask,
            is_leaf=lambda x: x is None or _is_dim_nums(x) or isinstance(x, MaskedNode))

    convention = "optax" if adjust_lr_fn is None else "torch"
    return partition(
        {
            "muon": chain(
                scale_by_muon(ns_coeffs, ns_steps, beta, eps, mu_dtype, nesterov=nesterov,
                              adaptive=adaptive, preconditioning=preconditioning,
                              weight_dimension_numbers=muon_dim_nums, convention=convention),
                _scale_by_shape(muon_dim_nums, consistent_rms),
                add_decayed_weights(weight_decay, weight_decay_mask),
                scale_by_learning_rate(learning_rate),
            ),
            "adam": adamw(adam_learning_rate, adam_b1, adam_b2, eps, adam_eps_root,
                          mu_dtype=mu_dtype, weight_decay=adam_weight_decay,
                          nesterov=nesterov),
        },
        param_labels,
    )


__all__ = ["MuonDimensionNumbers", "MuonState", "muon", "scale_by_muon"]
