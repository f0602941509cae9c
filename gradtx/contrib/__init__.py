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

__all__: list[str] = [
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
