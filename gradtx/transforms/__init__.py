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
from gradtx.transforms._modifiers import (
    AddNoiseState,
    WeightDecayState,
    add_decayed_weights,
    add_noise,
    clip_by_global_norm,
)
from gradtx.transforms._momentum import TraceState, trace
from gradtx.transforms._scaling import (
    ScaleByScheduleState,
    scale,
    scale_by_learning_rate,
    scale_by_schedule,
)
from gradtx.transforms._trust_ratio import (
    ScaleByTrustRatioState,
    scale_by_param_block_norm,
    scale_by_param_block_rms,
    scale_by_trust_ratio,
)

__all__ = [
    "AddNoiseState",
    "BoundLrState",
    "ScaleByAdaDeltaState",
    "ScaleByAdamState",
    "ScaleByAmsgradState",
    "ScaleByRmsState",
    "ScaleByRssState",
    "ScaleByScheduleState",
    "ScaleByTrustRatioState",
    "TraceState",
    "WeightDecayState",
    "add_decayed_weights",
    "add_noise",
    "bound_lr",
    "clip_by_global_norm",
    "scale",
    "scale_by_adadelta",
    "scale_by_adam",
    "scale_by_amsgrad",
    "scale_by_learning_rate",
    "scale_by_param_block_norm",
    "scale_by_param_block_rms",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_schedule",
    "scale_by_stddev",
    "scale_by_trust_ratio",
    "scale_by_yogi",
    "trace",
]
