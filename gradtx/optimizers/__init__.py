"""Optimisers (aliases): each a one-line chain of the building blocks in
:mod:`gradtx.transforms`, one module per family. Signatures, defaults and numbers equal
optax's alias of the same name."""

from gradtx.optimizers._classic import (
    adabound,
    adadelta,
    adagrad,
    adam,
    adamw,
    amsbound,
    amsgrad,
    nadam,
    rmsprop,
    sgd,
    yogi,
)
from gradtx.optimizers._factored import adafactor, sm3
from gradtx.optimizers._layerwise import fromage, lamb, lars

__all__ = [
    "adafactor",
    "adabound",
    "adadelta",
    "adagrad",
    "adam",
    "adamw",
    "amsbound",
    "amsgrad",
    "fromage",
    "lamb",
    "lars",
    "nadam",
    "rmsprop",
    "sgd",
    "sm3",
    "yogi",
]
