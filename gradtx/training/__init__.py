"""Training tools: step builders, packing, LR range test, batch size, sweeps,
checkpoints, sharding."""
