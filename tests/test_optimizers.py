"""Every optimiser alias equals its NumPy float64 reference over 60 random steps (with
and without jit), and equals optax's alias of the same name (rtol 1e-5) where optax has
one. AdaBound/AMSBound are checked against a line-by-line port of the authors' PyTorch
code, including a learning-rate schedule (``final_lr`` scaled by ``lr_t / lr_0``)."""

from __future__ import annotations

import inspect

import chex
import jax
import numpy as np
import optax
from absl.testing import parameterized
from reference import transforms_ref as R
from reference.harness import (
    OPTIMIZER_CASES,
    assert_close,
    make_problem,
    run_reference,
    run_scan,
    run_steps,
    step_fn,
)

import gradtx

# float32 against float64 (see test_transforms.py for why rtol is 1e-4 here).
RTOL_REF, FLOOR_REF = 1e-4, 2e-6
# gradtx against optax, both float32: rtol 1e-5 as the issue asks; the floor (1e-6 of the
# largest update) covers elements that are differences of nearly equal float32 terms.
RTOL_OPTAX, FLOOR_OPTAX = 1e-5, 1e-6

OPTAX_ALIASES = ["sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "amsgrad", "nadam",
                 "yogi"]  # fmt: skip

REF_CASES = [(c.name, c.make, c.ref) for c in OPTIMIZER_CASES] + [
    ("adadelta_lr_none_is_descent", lambda m: m.adadelta(), lambda: R.Adadelta(None)),
]
OPTAX_CASES = [(c.name, c.make) for c in OPTIMIZER_CASES if c.in_optax]


class OptimizersTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*REF_CASES)
    def test_matches_numpy_reference(self, make, ref):
        params, grads = make_problem()
        opt = make(gradtx)
        updates = run_steps(self.variant(step_fn(opt)), opt.init(params), params, grads)
        assert_close(updates, run_reference(ref(), params, grads), RTOL_REF, FLOOR_REF)

    @parameterized.named_parameters(*OPTAX_CASES)
    def test_equals_optax_alias(self, make):
        params, grads = make_problem()

        @jax.jit
        def both(params, grads):
            return run_scan(make(gradtx), params, grads), run_scan(make(optax), params, grads)

        ours, theirs = both(params, grads)
        assert_close(ours, theirs, RTOL_OPTAX, FLOOR_OPTAX)


class AliasContractTest(parameterized.TestCase):
    @parameterized.parameters(*OPTAX_ALIASES)
    def test_signature_and_defaults_equal_optax(self, name):
        # optax's parameters come first, equal; gradtx's extras (the state dtypes
        # ``nu_dtype``, ...) follow them, keyword-only (the developers' guide).
        ours = list(inspect.signature(getattr(gradtx, name)).parameters.values())
        theirs = list(inspect.signature(getattr(optax, name)).parameters.values())
        assert [(p.name, p.kind, p.default) for p in ours[: len(theirs)]] == [
            (p.name, p.kind, p.default) for p in theirs
        ]
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in ours[len(theirs) :])

    @parameterized.parameters("adabound", "amsbound")
    def test_bound_defaults_are_the_reference_implementation_defaults(self, name):
        # AdaBound(params, lr=1e-3, betas=(0.9, 0.999), final_lr=0.1, gamma=1e-3, eps=1e-8,
        #          weight_decay=0)
        defaults = {
            k: p.default for k, p in inspect.signature(getattr(gradtx, name)).parameters.items()
        }
        expected = dict(learning_rate=1e-3, final_lr=0.1, b1=0.9, b2=0.999, gamma=1e-3,
                        eps=1e-8, weight_decay=0.0)  # fmt: skip
        assert {k: defaults[k] for k in expected} == expected

    def test_adadelta_without_lr_descends_where_optax_ascends(self):
        """Known, deliberate difference: ``optax.adadelta(learning_rate=None)`` returns
        ``+Delta`` (its ``scale_by_learning_rate(None)`` is the identity); gradtx treats
        ``None`` as the paper's rule, ``p -= Delta`` (lr = 1)."""
        params, grads = make_problem(5)
        ours, theirs = gradtx.adadelta(), optax.adadelta()
        u_ours = run_steps(step_fn(ours), ours.init(params), params, grads)
        u_theirs = run_steps(step_fn(theirs), theirs.init(params), params, grads)
        chex.assert_trees_all_close(u_ours, jax.tree.map(lambda u: -u, u_theirs), rtol=1e-6)
        # descent: the first step points against the gradient
        first = {k: np.asarray(v[0]) for k, v in u_ours.items()}
        for k, g in grads.items():
            assert np.all(np.sign(first[k]) == -np.sign(np.asarray(g[0])))

    def test_constant_schedule_equals_float_learning_rate(self):
        """A schedule that is constant gives the float learning rate's numbers, also for
        AdaBound's final_lr scaling (lr_t / lr_0 = 1)."""
        params, grads = make_problem(10)
        for name in ("adabound", "amsbound"):
            fn = getattr(gradtx, name)
            a, b = fn(3e-3), fn(lambda count: 3e-3 + 0.0 * count)

            @jax.jit
            def both(params, grads, a=a, b=b):
                return run_scan(a, params, grads), run_scan(b, params, grads)

            ua, ub = both(params, grads)
            chex.assert_trees_all_close(ua, ub, rtol=1e-6)
