"""Gradient transformations: the building blocks every optimiser is chained from."""

from gradtx.transforms._accumulating import (
    ApplyEvery,
    ShouldSkipUpdateFunction,
    apply_every,
    skip_large_updates,
    skip_not_finite,
)
from gradtx.transforms._adagrad_rmsprop import (
    ScaleByAdaDeltaState,
    ScaleByRmsState,
    ScaleByRmsWithCountState,
    ScaleByRssState,
    ScaleByRStdDevState,
    ScaleByRStdDevWithCountState,
    scale_by_adadelta,
    scale_by_rms,
    scale_by_rss,
    scale_by_stddev,
)
from gradtx.transforms._adam import (
    ScaleByAdamState,
    ScaleByAmsgradState,
    scale_by_adam,
    scale_by_amsgrad,
    scale_by_yogi,
)
from gradtx.transforms._adamax import (
    scale_by_adamax,
)
from gradtx.transforms._adan import ScaleByAdanState, scale_by_adan
from gradtx.transforms._averaging import (
    EmaState,
    LookaheadParams,
    LookaheadState,
    ema,
    incremental_update,
    lookahead,
    measure_with_ema,
    periodic_update,
)
from gradtx.transforms._belief import (
    ScaleByBeliefState,
    scale_by_belief,
)
from gradtx.transforms._bound_lr import BoundLrState, bound_lr
from gradtx.transforms._clipping import clip_by_block_rms
from gradtx.transforms._combining import (
    MultiTransformState,
    PartitionState,
    multi_transform,
    named_chain,
    partition,
)
from gradtx.transforms._conditionality import (
    ConditionallyMaskState,
    ConditionallyTransformState,
    conditionally_mask,
    conditionally_transform,
)
from gradtx.transforms._dog import (
    ScaleByDistanceOverGradientsState,
    scale_by_distance_over_gradients,
)
from gradtx.transforms._factored import (
    FactoredState,
    ScaleBySM3State,
    scale_by_factored_rms,
    scale_by_sm3,
)
from gradtx.transforms._freezing import freeze, selective_transform, set_to_zero
from gradtx.transforms._linesearch import (
    BacktrackingLinesearchInfo,
    ScaleByBacktrackingLinesearchState,
    ScaleByLBFGSState,
    scale_by_backtracking_linesearch,
    scale_by_lbfgs,
    value_and_grad_from_state,
)
from gradtx.transforms._lion import (
    ScaleByLionState,
    scale_by_lion,
)
from gradtx.transforms._masking import (
    MaskedNode,
    MaskedState,
    MaskOrFn,
    masked,
    tree_map_params,
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
from gradtx.transforms._trust_ratio import (
    ScaleByTrustRatioState,
    scale_by_param_block_norm,
    scale_by_param_block_rms,
    scale_by_trust_ratio,
)
from gradtx.transforms._zoom_linesearch import (
    ScaleByZoomLinesearchState,
    ZoomLinesearchInfo,
    scale_by_zoom_linesearch,
)

__all__ = [
    "AddNoiseState",
    "ApplyEvery",
    "BacktrackingLinesearchInfo",
    "BoundLrState",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "EmaState",
    "FactoredState",
    "LookaheadParams",
    "LookaheadState",
    "MaskOrFn",
    "MaskedNode",
    "MaskedState",
    "MultiTransformState",
    "PartitionState",
    "ScaleByAdaDeltaState",
    "ScaleByAdamState",
    "ScaleByAdanState",
    "ScaleByAmsgradState",
    "ScaleByBacktrackingLinesearchState",
    "ScaleByBeliefState",
    "ScaleByDistanceOverGradientsState",
    "ScaleByLBFGSState",
    "ScaleByLionState",
    "ScaleByNovogradState",
    "ScaleByOptimisticGradientState",
    "ScaleByRmsState",
    "ScaleByRmsWithCountState",
    "ScaleByRStdDevState",
    "ScaleByRStdDevWithCountState",
    "ScaleByRpropState",
    "ScaleByRssState",
    "ScaleBySM3State",
    "ScaleByScheduleState",
    "ScaleByTrustRatioState",
    "ScaleByZoomLinesearchState",
    "ShouldSkipUpdateFunction",
    "TraceState",
    "WeightDecayState",
    "ZoomLinesearchInfo",
    "add_decayed_weights",
    "add_noise",
    "apply_every",
    "bound_lr",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "conditionally_mask",
    "conditionally_transform",
    "ema",
    "freeze",
    "incremental_update",
    "lookahead",
    "masked",
    "measure_with_ema",
    "multi_transform",
    "named_chain",
    "partition",
    "periodic_update",
    "scale",
    "scale_by_adadelta",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_adan",
    "scale_by_amsgrad",
    "scale_by_backtracking_linesearch",
    "scale_by_belief",
    "scale_by_distance_over_gradients",
    "scale_by_factored_rms",
    "scale_by_lbfgs",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_novograd",
    "scale_by_optimistic_gradient",
    "scale_by_param_block_norm",
    "scale_by_param_block_rms",
    "scale_by_polyak",
    "scale_by_radam",
    "scale_by_rms",
    "scale_by_rprop",
    "scale_by_rss",
    "scale_by_schedule",
    "scale_by_sign",
    "scale_by_sm3",
    "scale_by_stddev",
    "scale_by_trust_ratio",
    "scale_by_yogi",
    "scale_by_zoom_linesearch",
    "selective_transform",
    "set_to_zero",
    "skip_large_updates",
    "skip_not_finite",
    "trace",
    "tree_map_params",
    "value_and_grad_from_state",
]

# optax.transforms also holds these; gradtx defines them outside this package (chain in
# gradtx.base, MultiSteps in gradtx.transforms._accumulation, ...), which import it, so they resolve
# here lazily, for ``import gradtx as optax; optax.transforms.chain(...)``.
_FROM_GRADTX = frozenset(
    {
        "ApplyIfFiniteState",
        "MonitorState",
        "MultiSteps",
        "MultiStepsState",
        "NonNegativeParamsState",
        "SnapshotState",
        "ZeroNansState",
        "adaptive_grad_clip",
        "apply_if_finite",
        "chain",
        "clip",
        "flatten",
        "keep_params_nonnegative",
        "monitor",
        "snapshot",
        "zero_nans",
    }
)


def __getattr__(name: str) -> object:
    if name in _FROM_GRADTX:
        import gradtx

        return getattr(gradtx, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
