"""gradtx: composable, pure gradient transformations and learning-rate schedules for JAX.

The protocol is optax's (``init``/``update``), so gradtx and optax pieces mix both ways.
"""

from gradtx._base import (
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
from gradtx._tree import global_norm, safe_increment
from gradtx.optimizers import (
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
from gradtx.transforms import (
    AddNoiseState,
    BoundLrState,
    ScaleByAdaDeltaState,
    ScaleByAdamState,
    ScaleByAmsgradState,
    ScaleByRmsState,
    ScaleByRssState,
    ScaleByScheduleState,
    TraceState,
    WeightDecayState,
    add_decayed_weights,
    add_noise,
    bound_lr,
    clip_by_global_norm,
    scale,
    scale_by_adadelta,
    scale_by_adam,
    scale_by_amsgrad,
    scale_by_learning_rate,
    scale_by_rms,
    scale_by_rss,
    scale_by_schedule,
    scale_by_stddev,
    scale_by_yogi,
    trace,
)

# Each area appends its public names below its own marker (one import block each).
# --- schedules (gradtx.schedules) ---
# isort: split
from gradtx import datasets, schedules
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
from gradtx.hyperparams import InjectHyperparamsState, inject_hyperparams, set_hyperparams
from gradtx.plateau import ReduceLROnPlateauState, reduce_on_plateau
from gradtx.sweep import TrainResult, scan_train, stack_schedules, vmap_sweep

# --- training tools: accumulation, LR range test, batch size, non-finite steps ---
# isort: split
from gradtx.accumulation import MultiSteps, MultiStepsState
from gradtx.batch_size import (
    BatchSizeSchedule,
    NoiseScaleEstimate,
    batch_size_schedule,
    gradient_noise_scale,
    linear_scaling_rule,
    smith_le_noise_scale,
    sqrt_scaling_rule,
)
from gradtx.finite import ApplyIfFiniteState, ZeroNansState, apply_if_finite, zero_nans
from gradtx.lr_finder import LRRangeTestResult, lr_range_test

# --- sharding ---
# isort: split
from gradtx.sharding import bytes_per_device, fsdp_shardings, make_train_step, state_shardings

# --- optax's clipping and small transforms ---
# isort: split
from gradtx.hyperparams import inject_stateful_hyperparams
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
from gradtx.fused import make_step, update_and_apply
from gradtx.packed import PackedState, PackedTree, pack, packed, unpack

__version__ = "0.1.0"

__all__ = sorted(name for name in dir() if not name.startswith("_"))
