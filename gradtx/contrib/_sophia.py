"""Sophia (Liu et al., 2023): clipped, diagonally preconditioned momentum, with the
Hessian diagonal refreshed every few steps by Hutchinson's estimator.

Same names, signatures, defaults, numbers and state trees as ``optax.contrib`` (whose
implementation follows levanter's). Sophia's ``update`` needs ``params`` and, for the
default Hessian estimator, ``obj_fn`` (the loss as a function of the params alone): a
complete training step is in the example of :func:`sophia` and in
``docs/contrib_training_steps.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx.base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    ScalarOrSchedule,
    with_extra_args_support,
)
from gradtx.contrib._chains import decoupled_decay_chain
from gradtx.tree._core import (
    MOMENT,
    bias_correction,
    check_updates,
    compute_dtype,
    ema,
    safe_increment,
    state_like,
    zero_count,
)


class HutchinsonState(NamedTuple):
    """State of :func:`hutchinson_estimator_diag_hessian` (optax.contrib's field)."""

    key: jax.Array  # the PRNG key of the next estimate (split at every update)


def hutchinson_estimator_diag_hessian(
    random_seed: jax.Array | None = None,
) -> GradientTransformationExtraArgs:
    r"""Hutchinson's estimate of the Hessian diagonal, as a transformation.

    .. math::
        \widehat{\operatorname{diag}(H)} = u \odot (H u),\qquad
        u_i \sim \text{Rademacher}(\pm 1),\qquad
        \mathbb E\,[u \odot (H u)] = \operatorname{diag}(H)

    with :math:`Hu` the Hessian-vector product of ``obj_fn`` at ``params`` (forward over
    reverse, ``jax.jvp(jax.grad(obj_fn))``). The incoming updates are ignored; the
    output is the estimate, shaped like the params. Each update splits the key, then one
    key per leaf (as optax's ``tree.random_like``), so a given ``random_seed`` draws
    optax.contrib's signs.

    Args:
        random_seed: a PRNG key (``jax.random.PRNGKey(s)`` or ``jax.random.key(s)``);
            default ``None``: ``jax.random.PRNGKey(0)``.

    Returns:
        A :class:`gradtx.GradientTransformationExtraArgs` whose
        ``update(updates, state, params, obj_fn=...)`` needs ``params`` and ``obj_fn``
        (``params -> scalar loss``); state :class:`HutchinsonState`.

    Raises:
        ValueError: ``update`` without ``params`` or ``obj_fn``.
        TypeError: complex params (the estimate is the diagonal of a real Hessian).

    Reference: Hutchinson, *A stochastic estimator of the trace of the influence matrix
    for Laplacian smoothing splines*, 1990; Bekas, Kokiopoulou & Saad, 2007 (the
    diagonal); Liu et al., 2023 (Sophia-H).

    Example:
        >>> import jax, jax.numpy as jnp, gradtx.contrib
        >>> est = gradtx.contrib.hutchinson_estimator_diag_hessian(jax.random.PRNGKey(1))
        >>> p = jnp.array([1.0, 2.0])
        >>> f = lambda x: jnp.sum(jnp.array([3.0, 0.5]) * x**2)  # H = diag(6, 1)
        >>> h, _ = est.update(p, est.init(p), p, obj_fn=f)
        >>> h.tolist()  # exact for a diagonal Hessian: u_i^2 = 1
        [6.0, 1.0]
    """

    def init_fn(params):
        del params
        if random_seed is None:
            return HutchinsonState(key=jax.random.PRNGKey(0))
        if isinstance(random_seed, int | np.integer):  # a seed (optax stores it and fails)
            return HutchinsonState(key=jax.random.PRNGKey(int(random_seed)))
        return HutchinsonState(key=jnp.array(random_seed, copy=True))  # never the caller's

    def update_fn(updates, state, params=None, obj_fn=None, **extra_args):
        del updates, extra_args
        if params is None:
            raise ValueError("params must be provided to hutchinson update function.")
        if obj_fn is None:
            raise ValueError("obj_fn must be provided to hutchinson update function.")
        if any(jnp.iscomplexobj(p) for p in jax.tree.leaves(params)):
            raise TypeError(
                "hutchinson_estimator_diag_hessian estimates the diagonal of a real Hessian; "
                "got complex params (run it on the real split: "
                "gradtx.contrib.split_real_and_imaginary)"
            )
        key, subkey = jax.random.split(state.key)
        treedef = jax.tree.structure(params)
        keys = jax.random.split(subkey, treedef.num_leaves)
        signs = treedef.unflatten([
            jax.random.rademacher(k, jnp.shape(p), jnp.float32).astype(jnp.result_type(p))
            for k, p in zip(keys, treedef.flatten_up_to(params), strict=True)
        ])
        hvp = jax.jvp(jax.grad(obj_fn), (params,), (signs,))[1]
        return jax.tree.map(lambda h, u: h * u, hvp, signs), HutchinsonState(key=key)

    return GradientTransformationExtraArgs(init_fn, update_fn)


class SophiaState(NamedTuple):
    """State of :func:`scale_by_sophia` (optax.contrib's fields and order)."""

    count: jax.Array  # shape=(), dtype=int32: steps taken
    mu: Any  # EMA of the gradients, like params (mu_dtype)
    nu: Any  # EMA of the Hessian-diagonal estimates (refreshed every update_interval),
    # like params (float32 for float16 params: the state policy)
    hessian_fn_state: Any  # the state of hessian_diagonal_fn


def scale_by_sophia(
    b1: float = 0.965,
    b2: float = 0.99,
    eps: float = 1e-8,
    gamma: float = 0.01,
    clip_threshold: float | None = 1.0,
    update_interval: int = 10,
    hessian_diagonal_fn: GradientTransformation | None = None,
    mu_dtype: Any | None = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: int = 0,
) -> GradientTransformationExtraArgs:
    r"""Sophia's scaling: clipped momentum over the (scaled, floored) Hessian diagonal.

    With :math:`t = 1, 2, \ldots`:

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad
        u_t = \operatorname{clip}\!\left(\frac{m_t/(1-\beta_1^t)}
        {\max(\gamma h_{t-1}, \epsilon)}, -\rho, \rho\right),

        h_t = \beta_2 h_{t-1} + (1-\beta_2)\,\hat h_t \ \text{ if } (t-1) \bmod k = 0,
        \text{ else } h_{t-1}

    with :math:`\rho` = ``clip_threshold`` (no clipping for ``None``), :math:`k` =
    ``update_interval`` and :math:`\hat h_t` the output of ``hessian_diagonal_fn``
    (default: :func:`hutchinson_estimator_diag_hessian`, which needs ``obj_fn``; extra
    keyword arguments of ``update`` are passed to it). The estimate is computed only on
    refresh steps (under ``lax.cond``).

    Where optax and the paper differ (gradtx follows optax): the paper's Algorithm 3
    refreshes :math:`h` *before* the step that uses it and does not bias-correct
    :math:`m`; optax (from levanter) divides by the previous :math:`h_{t-1}` and
    bias-corrects :math:`m_t`, so the first step (``h = 0``) is
    ``clip(m/eps) = sign(g) rho``. The authors' SophiaG code writes the same clipped
    ratio as ``sign(m) min(|m| / (rho bs h + 1e-15), 1)``.

    Args:
        b1: :math:`\beta_1` in ``[0, 1)`` (default 0.965).
        b2: :math:`\beta_2` in ``[0, 1)`` (default 0.99; per refresh, so about
            ``1 - (1-b2)/k`` per step).
        eps: :math:`\epsilon > 0`, floor of the denominator (default 1e-8).
        gamma: :math:`\gamma > 0`, scale of the Hessian (default 0.01).
        clip_threshold: :math:`\rho > 0` or ``None`` (default 1.0).
        update_interval: :math:`k \ge 1`, steps between Hessian refreshes (default 10).
        hessian_diagonal_fn: a transformation returning the Hessian-diagonal estimate
            (default ``None``: a new :func:`hutchinson_estimator_diag_hessian`; optax
            builds one at import time as its default, the same with seed 0).
        mu_dtype: storage dtype of ``mu`` (default ``None``: the policy).
        verbose: print the "win rate" (the share of coordinates not clipped) every
            ``print_win_rate_every_n_steps`` steps (default ``False``).
        print_win_rate_every_n_steps: (default 0).

    Returns:
        A :class:`gradtx.GradientTransformationExtraArgs`; state :class:`SophiaState`.
        ``update`` needs ``params`` (and ``obj_fn`` for Hutchinson's estimator).

    Raises:
        ValueError: ``b1``/``b2`` outside ``[0, 1)``; non-positive ``eps``, ``gamma``,
            ``clip_threshold`` or ``update_interval``; ``verbose`` without a positive
            ``print_win_rate_every_n_steps``; ``update`` without ``params``.

    Reference: Liu, Li, Hall, Liang & Ma, *Sophia: A Scalable Stochastic Second-order
    Optimizer for Language Model Pre-training*, ICLR 2024 (arXiv:2305.14342); the
    authors' code (Liuhong99/Sophia); levanter's implementation.

    Example:
        >>> import jax.numpy as jnp, gradtx.contrib
        >>> tx = gradtx.contrib.scale_by_sophia()
        >>> p = jnp.array([1.0, 2.0])
        >>> f = lambda x: jnp.sum(x**2)
        >>> u, state = tx.update(jnp.array([0.5, -0.5]), tx.init(p), p, obj_fn=f)
        >>> u.tolist()  # h = 0 at the first step: the clipped sign
        [1.0, -1.0]
    """
    _checks.decay_rate("b1", b1)
    _checks.decay_rate("b2", b2)
    _checks.positive("eps", eps)
    _checks.positive("gamma", gamma)
    if clip_threshold is not None:
        _checks.positive("clip_threshold", clip_threshold)
    _checks.positive_int("update_interval", update_interval)
    if verbose and not (isinstance(print_win_rate_every_n_steps, int)
                        and print_win_rate_every_n_steps > 0):
        raise ValueError(
            "verbose=True needs print_win_rate_every_n_steps >= 1, got "
            f"{print_win_rate_every_n_steps!r}"
        )
    mu_dtype = _checks.state_dtype("mu_dtype", mu_dtype)
    if hessian_diagonal_fn is None:
        hessian_diagonal_fn = hutchinson_estimator_diag_hessian()
    hess = with_extra_args_support(hessian_diagonal_fn)

    def init_fn(params):
        return SophiaState(
            count=zero_count(),
            mu=state_like(params, MOMENT, mu_dtype),
            # a signed EMA of estimates (a MOMENT): float32 for float16 params, whose
            # Hessian-diagonal estimates (|u H u|, unbounded) overflow float16's 65504
            nu=state_like(params, MOMENT),
            hessian_fn_state=hess.init(params),
        )

    def update_fn(updates, state, params=None, **hess_fn_kwargs):
        if params is None:
            raise ValueError("params must be provided to sophia's update function.")
        check_updates(updates, state.mu)
        grads = updates
        count = safe_increment(state.count)
        c1 = bias_correction(b1, count)
        mu = jax.tree.map(lambda g, m: ema(g, m, b1), updates, state.mu)

        def step(m, h, g):
            dt = compute_dtype(m, h)
            u = (m.astype(dt) / c1) / jnp.maximum(gamma * h.astype(dt), eps)
            return u.astype(g.dtype)

        updates = jax.tree.map(step, mu, state.nu, grads)
        if clip_threshold is not None:
            if verbose:
                n_not_clipped = sum(
                    jnp.sum(jnp.abs(u) < clip_threshold) for u in jax.tree.leaves(updates)
                )
                size = sum(jnp.size(u) for u in jax.tree.leaves(updates))
                jax.lax.cond(
                    count % print_win_rate_every_n_steps == 0,
                    lambda: jax.debug.print("Sophia optimizer win rate: {}",
                                            n_not_clipped / size),
                    lambda: None,
                )
            updates = jax.tree.map(lambda u: jnp.clip(u, -clip_threshold, clip_threshold),
                                   updates)

        def refresh(hess_state, nu):
            diag, hess_state = hess.update(grads, hess_state, params, **hess_fn_kwargs)
            nu = jax.tree.map(lambda d, n: ema(d, n, b2).astype(n.dtype), diag, nu)
            return hess_state, nu

        due = state.count % update_interval == 0
        if isinstance(due, jax.core.Tracer):
            hess_state, nu = jax.lax.cond(
                due, refresh, lambda h, n: (h, n), state.hessian_fn_state, state.nu
            )
        elif due:  # eager: branch in Python (a lax.cond of fresh closures compiles per call)
            hess_state, nu = refresh(state.hessian_fn_state, state.nu)
        else:
            hess_state, nu = state.hessian_fn_state, state.nu
        mu = jax.tree.map(lambda m, old: m.astype(old.dtype), mu, state.mu)
        return updates, SophiaState(count=count, mu=mu, nu=nu, hessian_fn_state=hess_state)

    return GradientTransformationExtraArgs(init_fn, update_fn)


def sophia(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.965,
    b2: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 1e-4,
    weight_decay_mask: Any | Callable[[Any], Any] | None = None,
    gamma: float = 0.01,
    clip_threshold: float | None = 1.0,
    update_interval: int = 10,
    hessian_diagonal_fn: GradientTransformation | None = None,
    mu_dtype: Any | None = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: int = 0,
) -> GradientTransformationExtraArgs:
    r"""Sophia: a clipped second-order step with a cheap, periodic Hessian diagonal.

    .. math::
        p_t = p_{t-1} - \eta_t\left(\operatorname{clip}\!\left(
        \frac{\hat m_t}{\max(\gamma h_{t-1}, \epsilon)}, \pm\rho\right)
        + \lambda p_{t-1}\right)

    (:func:`scale_by_sophia`, then decoupled weight decay, then the learning rate:
    optax.contrib's chain, signature, defaults and numbers). ``update`` needs
    ``params`` and, with the default Hutchinson estimator, ``obj_fn``: the loss of the
    current batch as a function of the params alone.

    A complete training step (the estimator's extra Hessian-vector product runs every
    ``update_interval`` steps inside the same compiled step)::

        def train_step(params, state, batch):
            obj_fn = lambda p: loss_fn(p, batch)
            loss, grads = jax.value_and_grad(obj_fn)(params)
            updates, state = opt.update(grads, state, params, obj_fn=obj_fn)
            return gradtx.apply_updates(params, updates), state, loss

    Args:
        learning_rate: :math:`\eta_t`, a float ``>= 0`` or a schedule.
        b1: (default 0.965).
        b2: (default 0.99).
        eps: (default 1e-8).
        weight_decay: :math:`\lambda \ge 0` (default 1e-4).
        weight_decay_mask: which leaves decay (default ``None``: all).
        gamma: (default 0.01).
        clip_threshold: (default 1.0; ``None``: no clipping).
        update_interval: (default 10).
        hessian_diagonal_fn: (default ``None``: Hutchinson's, seed 0).
        mu_dtype: (default ``None``).
        verbose: (default ``False``).
        print_win_rate_every_n_steps: (default 0).

    Returns:
        A :class:`gradtx.GradientTransformationExtraArgs`; state
        ``(SophiaState, weight-decay state, lr state)`` as optax's.

    Raises:
        ValueError: as :func:`scale_by_sophia`; a bad learning rate or weight decay.

    Reference: Liu et al., ICLR 2024 (arXiv:2305.14342).

    Example:
        >>> import jax, jax.numpy as jnp, gradtx, gradtx.contrib
        >>> X = jnp.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
        >>> y = jnp.array([1.0, 2.0, 3.0])
        >>> loss_fn = lambda p, batch: jnp.mean((batch[0] @ p - batch[1]) ** 2)
        >>> opt = gradtx.contrib.sophia(0.05, weight_decay=0.0)
        >>> @jax.jit
        ... def train_step(params, state, batch):
        ...     obj_fn = lambda p: loss_fn(p, batch)
        ...     loss, grads = jax.value_and_grad(obj_fn)(params)
        ...     updates, state = opt.update(grads, state, params, obj_fn=obj_fn)
        ...     return gradtx.apply_updates(params, updates), state, loss
        >>> params = jnp.zeros(2)
        >>> state = opt.init(params)
        >>> print(f"{float(loss_fn(params, (X, y))):.2f}")
        4.67
        >>> for _ in range(100):
        ...     params, state, loss = train_step(params, state, (X, y))
        >>> print(f"{float(loss_fn(params, (X, y))):.2f}")
        0.05
    """
    return decoupled_decay_chain(
        scale_by_sophia(b1, b2, eps, gamma, clip_threshold, update_interval,
                        hessian_diagonal_fn, mu_dtype, verbose, print_win_rate_every_n_steps),
        learning_rate, weight_decay, weight_decay_mask,
    )  # fmt: skip


__all__ = [
    "HutchinsonState",
    "SophiaState",
    "hutchinson_estimator_diag_hessian",
    "scale_by_sophia",
    "sophia",
]
