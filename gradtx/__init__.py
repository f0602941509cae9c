"""gradtx: composable, pure gradient transformations and learning-rate schedules for JAX.

The protocol is optax's (``init``/``update``), so gradtx and optax pieces mix both ways.
"""

from gradtx.base import (
    EmptyState,
    GradientTransformation,
    OptState,
    Params,
    ScalarOrSchedule,
    Updates,
    apply_updates,
    chain,
    identity,
)
from gradtx.optimizers import (
    AsgdState,
    adabelief,
    adabound,
    adadelta,
    adafactor,
    adagrad,
    adam,
    adamax,
    adamaxw,
    adamw,
    adan,
    amsbound,
    amsgrad,
    asgd,
    fromage,
    lamb,
    lars,
    lion,
    nadam,
    nadamw,
    noisy_sgd,
    novograd,
    optimistic_adam,
    optimistic_adam_v2,
    optimistic_gradient_descent,
    polyak_sgd,
    radam,
    rmsprop,
    rprop,
    sgd,
    sign_sgd,
    signum,
    sm3,
    yogi,
)
from gradtx.transforms import (
    AddNoiseState,
    BacktrackingLinesearchInfo,
    BoundLrState,
    FactoredState,
    ScaleByAdaDeltaState,
    ScaleByAdamState,
    ScaleByAdanState,
    ScaleByAmsgradState,
    ScaleByBacktrackingLinesearchState,
    ScaleByBeliefState,
    ScaleByDistanceOverGradientsState,
    ScaleByLBFGSState,
    ScaleByLionState,
    ScaleByNovogradState,
    ScaleByOptimisticGradientState,
    ScaleByRmsState,
    ScaleByRpropState,
    ScaleByRssState,
    ScaleByScheduleState,
    ScaleBySM3State,
    ScaleByTrustRatioState,
    TraceState,
    WeightDecayState,
    add_decayed_weights,
    add_noise,
    bound_lr,
    clip_by_global_norm,
    scale,
    scale_by_adadelta,
    scale_by_adam,
    scale_by_adamax,
    scale_by_adan,
    scale_by_amsgrad,
    scale_by_backtracking_linesearch,
    scale_by_belief,
    scale_by_distance_over_gradients,
    scale_by_factored_rms,
    scale_by_lbfgs,
    scale_by_learning_rate,
    scale_by_lion,
    scale_by_novograd,
    scale_by_optimistic_gradient,
    scale_by_param_block_norm,
    scale_by_param_block_rms,
    scale_by_polyak,
    scale_by_radam,
    scale_by_rms,
    scale_by_rprop,
    scale_by_rss,
    scale_by_schedule,
    scale_by_sign,
    scale_by_sm3,
    scale_by_stddev,
    scale_by_trust_ratio,
    scale_by_yogi,
    trace,
    value_and_grad_from_state,
)
from gradtx.tree._core import global_norm, safe_increment

# Each area appends its public names below its own marker (one import block each).
# --- schedules (gradtx.schedules) ---
# isort: split
from gradtx import schedules
from gradtx.schedules import exponential_decay
from gradtx.schedules._optax_names import (
    constant_schedule,
    cosine_decay_schedule,
    cosine_onecycle_schedule,
    join_schedules,
    linear_onecycle_schedule,
    linear_schedule,
    piecewise_constant_schedule,
    piecewise_interpolate_schedule,
    polynomial_schedule,
    sgdr_schedule,
    warmup_constant_schedule,
    warmup_cosine_decay_schedule,
    warmup_exponential_decay_schedule,
)

# --- hyperparameters as data, reduce-on-plateau, sweeps ---
# isort: split
from gradtx.schedules._inject import InjectHyperparamsState, inject_hyperparams
from gradtx.schedules._set_hyperparams import set_hyperparams
from gradtx.training.sweep import TrainResult, scan_train, stack_schedules, vmap_sweep
from gradtx.transforms._plateau import ReduceLROnPlateauState, reduce_on_plateau

# --- training tools: accumulation, LR range test, batch size, non-finite steps ---
# isort: split
from gradtx.training.batch_size import (
    BatchSizeSchedule,
    NoiseScaleEstimate,
    batch_size_schedule,
    gradient_noise_scale,
    linear_scaling_rule,
    smith_le_noise_scale,
    sqrt_scaling_rule,
)
from gradtx.training.lr_finder import LRRangeTestResult, lr_range_test
from gradtx.transforms._accumulation import MultiSteps, MultiStepsState
from gradtx.transforms._finite import ApplyIfFiniteState, ZeroNansState, apply_if_finite, zero_nans

# --- sharding ---
# isort: split
from gradtx.training.sharding import (
    bytes_per_device,
    fsdp_shardings,
    global_batch,
    make_train_step,
    state_shardings,
)

# --- optax's clipping and small transforms ---
# isort: split
from gradtx.schedules._inject import inject_stateful_hyperparams
from gradtx.transforms._clipping import (
    AdaptiveGradClipState,
    ClipState,
    adaptive_grad_clip,
    clip,
    clip_by_block_rms,
    per_example_global_norm_clip,
    per_example_layer_norm_clip,
)
from gradtx.transforms._monitoring import (
    MonitorState,
    SnapshotState,
    flatten,
    monitor,
    normalize_by_update_norm,
    snapshot,
)
from gradtx.transforms._small import (
    NonNegativeParamsState,
    centralize,
    keep_params_nonnegative,
    scale_gradient,
)

# --- pytree utilities (optax.tree / optax.tree_utils) and safe numerics ---
# isort: split
from gradtx import tree, tree_utils
from gradtx.tree._numerics import safe_int32_increment, safe_norm, safe_root_mean_squares

# isort: split
# --- performance ---
from gradtx import native
from gradtx.training.packing import PackedState, PackedTree, pack, packed, unpack
from gradtx.training.step import make_step, update_and_apply

# --- optax API: parameter groups, composition, averaging, update timing ---
# isort: split
from gradtx.base import (
    GradientTransformationExtraArgs,
    Schedule,
    TransformInitFn,
    TransformUpdateExtraArgsFn,
    TransformUpdateFn,
    init_empty_state,
    stateless,
    stateless_with_tree_map,
    with_extra_args_support,
)
from gradtx.transforms import (
    ApplyEvery,
    ConditionallyMaskState,
    ConditionallyTransformState,
    EmaState,
    LookaheadParams,
    LookaheadState,
    MaskedNode,
    MaskedState,
    MaskOrFn,
    MultiTransformState,
    PartitionState,
    ShouldSkipUpdateFunction,
    apply_every,
    conditionally_mask,
    conditionally_transform,
    ema,
    freeze,
    incremental_update,
    lookahead,
    masked,
    measure_with_ema,
    multi_transform,
    named_chain,
    partition,
    periodic_update,
    selective_transform,
    set_to_zero,
    skip_large_updates,
    skip_not_finite,
    tree_map_params,
)

# --- L-BFGS and its zoom line search (issue 14); the rest of optax's names ---
# isort: split
from gradtx.optimizers import lbfgs
from gradtx.training import microbatching
from gradtx.training.microbatching import microbatch
from gradtx.transforms import (
    ScaleByRStdDevState,
    ScaleByZoomLinesearchState,
    ZoomLinesearchInfo,
    scale_by_zoom_linesearch,
)
from gradtx.tree._linalg import matrix_inverse_pth_root, nnls, power_iteration
from gradtx.tree._multi_normal import multi_normal

# --- optax's other names for existing types (optax 0.2.8 aliases them the same way) ---
# isort: split
from gradtx.base import EmptyState as _EmptyState

AddDecayedWeightsState = _EmptyState  # add_decayed_weights with a number
ClipByGlobalNormState = _EmptyState
ScaleState = _EmptyState
# optax.inject_hyperparams returns an InjectStatefulHyperparamsState; gradtx's
# InjectHyperparamsState has that tree, field for field
InjectStatefulHyperparamsState = InjectHyperparamsState

__version__ = "0.1.0"

# Submodules a user reaches as attributes (``gradtx.checkpoint.save(...)``, ``from gradtx
# import datasets``), imported on first use: they need extras (flax) or belong to the demo.
_LAZY_MODULES = {
    "checkpoint": "gradtx.training.checkpoint",
    "contrib": "gradtx.contrib",
    "datasets": "gradtx.demo.datasets",
    "lr_finder": "gradtx.training.lr_finder",
    "batch_size": "gradtx.training.batch_size",
    "sharding": "gradtx.training.sharding",
    "sweep": "gradtx.training.sweep",
}


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        import importlib

        module = importlib.import_module(_LAZY_MODULES[name])
        globals()[name] = module
        return module
    raise AttributeError(f"module 'gradtx' has no attribute {name!r}")


# __all__ lists names only: no submodules.
__all__ = sorted(
    name
    for name, value in list(globals().items())
    if not name.startswith("_") and not isinstance(value, type(schedules))
)
