"""Research optimisers, as ``optax.contrib``: each in its own module, under the same
protocol as the core (``init``/``update``), with the same names, signatures and numbers
as optax.contrib where it has them."""

from gradtx.contrib._complex_valued import (
    SplitRealAndImaginaryArrays,
    SplitRealAndImaginaryState,
    split_real_and_imaginary,
)

# --- Muon and SOAP (issue 15) ---
from gradtx.contrib._muon import MuonDimensionNumbers, MuonState, muon, scale_by_muon
from gradtx.contrib._soap import ScaleBySoapState, SoapStepState, scale_by_soap, soap

# isort: split
# --- schedule-free and learning-rate-free optimisers (issue 15, branch sfree) ---
from gradtx.contrib._cocob import COCOBState, cocob, scale_by_cocob
from gradtx.contrib._dadapt import DAdaptAdamWState, dadapt_adamw
from gradtx.contrib._dog import DoGState, DoWGState, dog, dowg
from gradtx.contrib._mechanic import MechanicState, mechanize
from gradtx.contrib._momo import MomoAdamState, MomoState, momo, momo_adam
from gradtx.contrib._prodigy import ProdigyState, prodigy
from gradtx.contrib._schedule_free import (
    ScheduleFreeState,
    schedule_free,
    schedule_free_adamw,
    schedule_free_eval_params,
    schedule_free_sgd,
)

# --- end schedule-free and learning-rate-free ---
# isort: split
# --- Adam variants, normalize and the reduce_on_plateau alias (issue 15, helper advar) ---
from gradtx.contrib._acprop import acprop, scale_by_acprop
from gradtx.contrib._ademamix import (
    ScaleByAdemamixState,
    ScaleBySimplifiedAdEMAMixState,
    ademamix,
    scale_by_ademamix,
    scale_by_simplified_ademamix,
    simplified_ademamix,
)
from gradtx.contrib._adopt import adopt, scale_by_adopt
from gradtx.contrib._galore import GaLoreDimensionNumbers, GaLoreState, galore, scale_by_galore
from gradtx.contrib._madgrad import MadgradState, madgrad, scale_by_madgrad
from gradtx.contrib._normalize import NormalizeState, normalize
from gradtx.contrib._privacy import (
    DifferentiallyPrivateAggregateState,
    differentially_private_aggregate,
    dpsgd,
)
from gradtx.contrib._sam import SAMState, sam
from gradtx.contrib._sophia import (
    HutchinsonState,
    SophiaState,
    hutchinson_estimator_diag_hessian,
    scale_by_sophia,
    sophia,
)
from gradtx.transforms._plateau import ReduceLROnPlateauState, reduce_on_plateau

# --- end advar ---

__all__: list[str] = [
    # --- advar (issue 15) ---
    "DifferentiallyPrivateAggregateState",
    "GaLoreDimensionNumbers",
    "GaLoreState",
    "HutchinsonState",
    "MadgradState",
    "NormalizeState",
    "ReduceLROnPlateauState",
    "SAMState",
    "ScaleByAdemamixState",
    "ScaleBySimplifiedAdEMAMixState",
    "SophiaState",
    "acprop",
    "ademamix",
    "adopt",
    "differentially_private_aggregate",
    "dpsgd",
    "galore",
    "hutchinson_estimator_diag_hessian",
    "madgrad",
    "normalize",
    "reduce_on_plateau",
    "sam",
    "scale_by_acprop",
    "scale_by_ademamix",
    "scale_by_adopt",
    "scale_by_galore",
    "scale_by_madgrad",
    "scale_by_simplified_ademamix",
    "scale_by_sophia",
    "simplified_ademamix",
    "sophia",
    # --- end advar ---
    "SplitRealAndImaginaryArrays",
    "SplitRealAndImaginaryState",
    "split_real_and_imaginary",
    # --- Muon and SOAP (issue 15) ---
    "MuonDimensionNumbers",
    "MuonState",
    "muon",
    "scale_by_muon",
    "ScaleBySoapState",
    "SoapStepState",
    "scale_by_soap",
    "soap",
    # --- schedule-free and learning-rate-free optimisers (issue 15, branch sfree) ---
    "ScheduleFreeState",
    "schedule_free",
    "schedule_free_adamw",
    "schedule_free_eval_params",
    "schedule_free_sgd",
    "ProdigyState",
    "prodigy",
    "DAdaptAdamWState",
    "dadapt_adamw",
    "DoGState",
    "DoWGState",
    "dog",
    "dowg",
    "COCOBState",
    "cocob",
    "scale_by_cocob",
    "MechanicState",
    "mechanize",
    "MomoState",
    "MomoAdamState",
    "momo",
    "momo_adam",
    # --- end schedule-free and learning-rate-free ---
]
