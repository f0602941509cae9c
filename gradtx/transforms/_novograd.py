"""NovoGrad: a layer-wise (one scalar per leaf) second moment, and momentum on the
normalised gradient plus weight decay."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import GradientTransformation
from gradtx.tree._core import (
    MOMENT,
    SQUARED,
    check_same_tree,
    check_updates,
    compute_dtype,
    map_outputs,
    safe_increment,
    state_dtype,
    state_like,
    zero_count,
)


class ScaleByNovogradState(NamedTuple):
    count: jax.Array  # shape=(), dtype=int32: updates made so far
    mu: Any  # momentum, like params (dtype: mu_dtype or the state policy, docs/dtypes.md)
    nu: Any  # per leaf: one scalar (shape ()), the EMA of the leaf's squared L2 norm
    #          (dtype: the state policy, float32 for float16 params)


def scale_by_novograd(
    b1: float = 0.9,
    b2: float = 0.25,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    mu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""NovoGrad's scaling, per leaf (a leaf is a layer's weight or bias).

    .. math::
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\lVert g_t\rVert_2^2\ (v_1 = \lVert g_1\rVert^2),
        \qquad
        m_t = \beta_1 m_{t-1} + \frac{g_t}{\sqrt{v_t + \epsilon_{root}} + \epsilon}
              + \lambda p_{t-1}\ (m_0 = 0),\qquad u_t = m_t

    where :math:`\lVert g_t\rVert` is the leaf's norm. As in the paper's Algorithm 1 and
    optax, the normalised gradient enters the momentum with weight 1 (not
    :math:`1-\beta_1`).

    Args:
        b1: the momentum's decay (default 0.9).
        b2: decay of the per-leaf second moment (default 0.25, optax's).
        eps: added to the root (default 1e-8; the alias :func:`gradtx.novograd` uses 1e-6).
        eps_root: added inside the root (default 0).
        weight_decay: :math:`\lambda`, a number >= 0 (default 0). When it is not 0
            ``update`` needs the params.
        mu_dtype: storage dtype of the momentum (default ``None``: the state dtype policy,
            docs/dtypes.md: the params' dtype, float32 for float16 params).

    Returns:
        A :class:`gradtx.GradientTransformation` with state
        :class:`ScaleByNovogradState` (optax's; ``nu`` holds one scalar per leaf).

    Raises:
        ValueError: a decay outside ``[0, 1)``, a negative epsilon or weight decay; at
            ``update``, missing params when ``weight_decay`` is not 0.

    Reference: Ginsburg et al., *Stochastic Gradient Methods with Layer-wise Adaptive
    Moments for Training of Deep Networks*, 2019 (arXiv:1905.11286).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_novograd()
        >>> u, state = tx.update(jnp.array([3.0, 4.0]), tx.init(jnp.zeros(2)))
        >>> [round(float(v), 3) for v in u]  # g / ||g||
        [0.6, 0.8]
    """
    _checks.decay_rate("b1", b1)
    _checks.decay_rate("b2", b2)
    _checks.non_negative("eps", eps)
    _checks.non_negative("eps_root", eps_root)
    _checks.non_negative("weight_decay", weight_decay)
    mu_dtype = _checks.state_dtype("mu_dtype", mu_dtype)

    def init_fn(params):
        # nu is a squared norm of a whole leaf: float32 for float16 params (the state
        # policy); in float16 the sum of g^2 overflows as soon as it passes 65504
        nu = jax.tree.map(
            lambda p: jnp.zeros([], state_dtype(jnp.result_type(p), SQUARED)), params
        )
        mu = state_like(params, MOMENT, mu_dtype)
        return ScaleByNovogradState(count=zero_count(), mu=mu, nu=nu)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        check_updates(updates, state.mu)
        decay = not (isinstance(weight_decay, (int, float)) and weight_decay == 0)
        if decay:
            if params is None:
                raise ValueError(
                    "scale_by_novograd with weight_decay != 0 needs the params: call "
                    "update(updates, state, params)"
                )
            check_same_tree(updates, params, against="params")
        count = safe_increment(state.count)
        first = count == 1

        def one(g, m, v, p=None):
            # g, m (and p) arrive as real views for a complex leaf (map_outputs); its
            # per-leaf v is a real number kept in the leaf's complex dtype (optax's tree):
            # computing in complex would cast a complex result back to the real view
            v_real = jnp.real(v) if jnp.iscomplexobj(v) else v
            dt = compute_dtype(g, v_real)
            g32 = g.astype(dt)
            sq = jnp.sum(jnp.square(g32))
            v_new = jnp.where(first, sq, b2 * v_real.astype(dt) + (1 - b2) * sq)
            step = g32 / (jnp.sqrt(v_new + eps_root) + eps)
            if decay:
                step = step + weight_decay * p.astype(dt)
            m_new = jnp.where(first, step, b1 * m.astype(dt) + step)
            m_new = m_new.astype(m.dtype)  # optax's update is the stored (rounded) m_t
            return m_new.astype(g.dtype), m_new, v_new.astype(v.dtype)

        trees = (updates, state.mu, state.nu) + ((params,) if decay else ())
        out = map_outputs(one, *trees)
        return out[0], ScaleByNovogradState(count=count, mu=out[1], nu=out[2])

    return GradientTransformation(init_fn, update_fn)


__all__ = ["ScaleByNovogradState", "scale_by_novograd"]
