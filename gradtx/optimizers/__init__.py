"""Optimisers (aliases): each a one-line chain of the building blocks in
:mod:`gradtx.transforms`, one module per family. Signatures, defaults and numbers equal
optax's alias of the same name."""

from gradtx.optimizers._adabound import adabound, amsbound
from gradtx.optimizers._adam import adam, adamw, amsgrad, nadam, yogi
from gradtx.optimizers._adamax import adamax, adamaxw
from gradtx.optimizers._adan import adan
from gradtx.optimizers._adaptive import adadelta, adagrad, rmsprop
from gradtx.optimizers._asgd import AsgdState, asgd
from gradtx.optimizers._belief import adabelief
from gradtx.optimizers._factored import adafactor, sm3
from gradtx.optimizers._layerwise import fromage, lamb, lars
from gradtx.optimizers._lbfgs import lbfgs
from gradtx.optimizers._lion import lion
from gradtx.optimizers._nadamw import nadamw
from gradtx.optimizers._noisy_sgd import noisy_sgd
from gradtx.optimizers._novograd import novograd
from gradtx.optimizers._optimistic import (
    optimistic_adam,
    optimistic_adam_v2,
    optimistic_gradient_descent,
)
from gradtx.optimizers._polyak import polyak_sgd
from gradtx.optimizers._radam import radam
from gradtx.optimizers._rprop import rprop
from gradtx.optimizers._sgd import sgd
from gradtx.optimizers._sign import sign_sgd, signum

__all__ = [
    "AsgdState",
    "adabelief",
    "adabound",
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamaxw",
    "adamw",
    "adan",
    "amsbound",
    "amsgrad",
    "asgd",
    "fromage",
    "lamb",
    "lars",
    "lbfgs",
    "lion",
    "nadam",
    "nadamw",
    "noisy_sgd",
    "novograd",
    "optimistic_adam",
    "optimistic_adam_v2",
    "optimistic_gradient_descent",
    "polyak_sgd",
    "radam",
    "rmsprop",
    "rprop",
    "sgd",
    "sign_sgd",
    "signum",
    "sm3",
    "yogi",
]
