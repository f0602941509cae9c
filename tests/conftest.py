"""Shared test settings: CPU only, small shapes, float32 (JAX's default)."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
