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
from gradtx.transforms._dog import (
    ScaleByDistanceOverGradientsState,
    scale_by_distance_over_gradients,
)
from gradtx.transforms._factored import (
    FactoredState,
    ScaleBySM3State,
    clip_by_block_rms,
    scale_by_factored_rms,
    scale_by_sm3,
)
from gradtx.transforms._linesearch import (
    BacktrackingLinesearchInfo,
    ScaleByBacktrackingLinesearchState,
    ScaleByLBFGSState,
    scale_by_backtracking_linesearch,
    scale_by_lbfgs,
    value_and_grad_from_state,
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
    "BacktrackingLinesearchInfo",
    "BoundLrState",
    "FactoredState",
    "ScaleByAdaDeltaState",
    "ScaleByAdamState",
    "ScaleByAmsgradState",
    "ScaleByBacktrackingLinesearchState",
    "ScaleByDistanceOverGradientsState",
    "ScaleByLBFGSState",
    "ScaleByRmsState",
    "ScaleByRssState",
    "ScaleBySM3State",
    "ScaleByScheduleState",
    "ScaleByTrustRatioState",
    "TraceState",
    "WeightDecayState",
    "add_decayed_weights",
    "add_noise",
    "bound_lr",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "scale",
    "scale_by_adadelta",
    "scale_by_adam",
    "scale_by_amsgrad",
    "scale_by_backtracking_linesearch",
    "scale_by_distance_over_gradients",
    "scale_by_factored_rms",
    "scale_by_lbfgs",
    "scale_by_learning_rate",
    "scale_by_param_block_norm",
    "scale_by_param_block_rms",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_schedule",
    "scale_by_sm3",
    "scale_by_stddev",
    "scale_by_trust_ratio",
    "scale_by_yogi",
    "trace",
    "value_and_grad_from_state",
]
