"""Gradient transformations: the building blocks every optimiser is chained from."""

from gradtx.transforms._adagrad_rmsprop import (
    ScaleByAdaDeltaState,
    ScaleByRmsState,
    ScaleByRssState,
    scale_by_adadelta,
    scale_by_rms,
    scale_by_rss,
    scale_by_stddev,
)
from gradtx.transforms._adam import (
    BoundLrState,
    ScaleByAdamState,
    ScaleByAmsgradState,
    bound_lr,
    scale_by_adam,
    scale_by_amsgrad,
    scale_by_yogi,
)
from gradtx.transforms._adamax import (
    scale_by_adamax,
)
from gradtx.transforms._adan import ScaleByAdanState, scale_by_adan
from gradtx.transforms._belief import (
    ScaleByBeliefState,
    scale_by_belief,
)
from gradtx.transforms._lion import (
    ScaleByLionState,
    scale_by_lion,
)
from gradtx.transforms._modifiers import (
    AddNoiseState,
    WeightDecayState,
    add_decayed_weights,
    add_noise,
    clip_by_global_norm,
)
from gradtx.transforms._momentum import TraceState, trace
from gradtx.transforms._novograd import ScaleByNovogradState, scale_by_novograd
from gradtx.transforms._optimistic import (
    ScaleByOptimisticGradientState,
    scale_by_optimistic_gradient,
)
from gradtx.transforms._polyak import scale_by_polyak
from gradtx.transforms._radam import (
    scale_by_radam,
)
from gradtx.transforms._rprop import ScaleByRpropState, scale_by_rprop
from gradtx.transforms._scaling import (
    ScaleByScheduleState,
    scale,
    scale_by_learning_rate,
    scale_by_schedule,
)
from gradtx.transforms._sign import scale_by_sign

__all__ = [
    "AddNoiseState",
    "BoundLrState",
    "ScaleByAdaDeltaState",
    "ScaleByAdamState",
    "ScaleByAdanState",
    "ScaleByAmsgradState",
    "ScaleByBeliefState",
    "ScaleByLionState",
    "ScaleByNovogradState",
    "ScaleByOptimisticGradientState",
    "ScaleByRmsState",
    "ScaleByRpropState",
    "ScaleByRssState",
    "ScaleByScheduleState",
    "TraceState",
    "WeightDecayState",
    "add_decayed_weights",
    "add_noise",
    "bound_lr",
    "clip_by_global_norm",
    "scale",
    "scale_by_adadelta",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_adan",
    "scale_by_amsgrad",
    "scale_by_belief",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_novograd",
    "scale_by_optimistic_gradient",
    "scale_by_polyak",
    "scale_by_radam",
    "scale_by_rms",
    "scale_by_rprop",
    "scale_by_rss",
    "scale_by_schedule",
    "scale_by_sign",
    "scale_by_stddev",
    "scale_by_yogi",
    "trace",
]
