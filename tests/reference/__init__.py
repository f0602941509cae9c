"""Independent NumPy (float64) references for gradtx's transforms and optimisers.

Nothing here imports gradtx or optax: every rule is written from its published update
equations, so the tests compare gradtx against the math, not against itself.
"""
