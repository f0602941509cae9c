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
]
