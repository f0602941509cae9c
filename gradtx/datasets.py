"""Data sets that ship with gradtx (no download at run time)."""

from __future__ import annotations

from importlib import resources

import numpy as np


def load_airfoil(n: int = 1500, standardize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The NASA airfoil self-noise data (UCI; Brooks, Pope & Marcolini 1989; CC BY 4.0).

    Returns ``(X, y)`` as float32 arrays of shapes ``(n, 5)`` and ``(n,)``: the first
    ``n`` of the 1503 rows, each column standardised to mean 0 and variance 1 over the
    whole file when ``standardize`` (the preparation of *Dive into Deep Learning*'s
    optimisation chapter). The copy ships in ``gradtx/data/``, so this works offline.
    """
    if not 1 <= n <= 1503:
        raise ValueError(f"n must be in [1, 1503], got {n}")
    text = resources.files("gradtx").joinpath("data/airfoil_self_noise.dat").read_text()
    data = np.loadtxt(text.splitlines(), dtype=np.float64)
    if standardize:
        data = (data - data.mean(axis=0)) / data.std(axis=0)
    data = data[:n].astype(np.float32)
    return data[:, :-1], data[:, -1]
