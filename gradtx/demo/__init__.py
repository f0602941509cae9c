"""``python -m gradtx.demo``: the classic optimisation experiments, reproduced with gradtx.

One module per experiment, each with a ``run(cfg)`` that trains (jitted, ``lax.scan``,
vmapped grids), prints its table as soon as it is done and writes PNGs, plus the smaller
functions the notebooks call step by step:

1. ``one_d``       gradient descent on ``x^2`` and ``x cos(c x)``
2. ``two_d``       GD, SGD with lr schedules, momentum, Adagrad, RMSProp on 2-D quadratics
3. ``airfoil``     every optimiser on the airfoil linear regression
4. ``cnn_schedules``  a LeNet-style CNN under four learning-rate schedules
5. ``cnn_adabound``   AdaBound vs Adam, AMSGrad, SGD+momentum, AMSBound, with an lr sweep
6. ``lr_finder``   the LR range test, gradient accumulation and the linear scaling rule

See ``docs/demo.md``. Needs the ``demo`` extra (flax, optax, matplotlib, tqdm).
"""

from gradtx.demo._common import Config, format_table, notebook_config

__all__ = ["Config", "format_table", "notebook_config"]
