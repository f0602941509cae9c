"""The schedule-free and learning-rate-free optimisers of gradtx.contrib have optax.contrib's
signatures (parameter names, order, kinds and defaults; gradtx's extra arguments are
keyword-only, after optax's) and states with optax's fields."""

from __future__ import annotations

import inspect

import optax.contrib
import pytest

import gradtx.contrib

NAMES = ["schedule_free", "schedule_free_sgd", "schedule_free_adamw", "schedule_free_eval_params",
         "prodigy", "dadapt_adamw", "dog", "dowg", "cocob", "scale_by_cocob", "mechanize",
         "momo", "momo_adam"]  # fmt: skip
STATES = ["ScheduleFreeState", "ProdigyState", "DAdaptAdamWState", "DoGState", "DoWGState",
          "COCOBState", "MechanicState", "MomoState", "MomoAdamState"]  # fmt: skip
# gradtx's documented extras (the authors' rules), keyword-only
EXTRAS = {
    "schedule_free": {"r"},
    "schedule_free_sgd": {"r", "authors_convention"},
    "schedule_free_adamw": {"r", "authors_convention"},
    "prodigy": {"use_bias_correction"},
    "dadapt_adamw": {"use_bias_correction"},
    "momo": {"authors_convention"},
    "momo_adam": {"authors_convention"},
}


def _default(p):
    d = p.default
    return d if not isinstance(d, float) else round(d, 12)


@pytest.mark.parametrize("name", NAMES)
def test_signature_equals_optax(name):
    ours = inspect.signature(getattr(gradtx.contrib, name)).parameters
    theirs = inspect.signature(getattr(optax.contrib, name)).parameters
    extra = [n for n in ours if n not in theirs]
    assert set(extra) == EXTRAS.get(name, set()), extra
    assert all(ours[n].kind is inspect.Parameter.KEYWORD_ONLY for n in extra)
    assert [n for n in ours if n in theirs] == list(theirs)
    for n, p in theirs.items():
        assert ours[n].kind == p.kind, (name, n)
        assert _default(ours[n]) == _default(p), (name, n, ours[n].default, p.default)


@pytest.mark.parametrize("name", STATES)
def test_state_fields_equal_optax(name):
    assert getattr(gradtx.contrib, name)._fields == getattr(optax.contrib, name)._fields
