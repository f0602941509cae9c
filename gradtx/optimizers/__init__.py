"""Optimisers (aliases): each a one-line chain of the building blocks in
:mod:`gradtx.transforms`, one module per family. Signatures, defaults and numbers equal
optax's alias of the same name."""

from gradtx.optimizers._adamax import adamax, adamaxw
from gradtx.optimizers._belief import adabelief
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
from gradtx.optimizers._lion import lion
from gradtx.optimizers._nadamw import nadamw
from gradtx.optimizers._radam import radam

__all__ = [
    "adabelief",
    "adabound",
    "adadelta",
    "adagrad",
    "adam",
    "adamax",
    "adamaxw",
    "adamw",
    "amsbound",
    "amsgrad",
    "lion",
    "nadam",
    "nadamw",
    "radam",
    "rmsprop",
    "sgd",
    "yogi",
]
