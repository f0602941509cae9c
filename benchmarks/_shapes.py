"""Parameter-tree shapes for the benchmarks: flat vectors, a ResNet-50-like tree and many
small leaves. Shapes only (the values do not matter to an elementwise step)."""

from __future__ import annotations

import numpy as np


def resnet50_shapes(scale: int = 1) -> dict[str, tuple[int, ...]]:
    """The 161 parameter arrays of ResNet-50 (He et al. 2016) as flax names them: 53
    convolutions (no bias), 53 batch norms (scale and bias) and the final dense layer:
    25,557,032 parameters. ``scale`` divides every channel count (for smoke tests)."""
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(name, k, cin, cout):
        shapes[f"{name}/kernel"] = (k, k, cin, cout)
        shapes[f"{name}/bn/scale"] = (cout,)
        shapes[f"{name}/bn/bias"] = (cout,)

    c = lambda n: max(1, n // scale)  # noqa: E731
    conv("stem", 7, 3, c(64))
    cin = c(64)
    for stage, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512), strict=True)):
        w = c(width)
        for b in range(blocks):
            pre = f"stage{stage}/block{b}"
            conv(f"{pre}/conv1", 1, cin, w)
            conv(f"{pre}/conv2", 3, w, w)
            conv(f"{pre}/conv3", 1, w, 4 * w)
            if b == 0:
                conv(f"{pre}/proj", 1, cin, 4 * w)
            cin = 4 * w
    shapes["head/kernel"] = (cin, c(1000))
    shapes["head/bias"] = (c(1000),)
    return shapes


def small_leaves_shapes(n_leaves: int = 2000, size: int = 1000) -> dict[str, tuple[int, ...]]:
    return {f"leaf{i:05d}": (size,) for i in range(n_leaves)}


def n_params(shapes: dict[str, tuple[int, ...]]) -> int:
    return int(sum(np.prod(s, dtype=np.int64) for s in shapes.values()))


def transformer_shapes(blocks: int = 1, width: int = 512) -> dict[str, tuple[int, ...]]:
    """``blocks`` transformer blocks of width ``width``: four ``width x width`` attention
    matrices, a ``width x 4 width`` and a ``4 width x width`` MLP matrix, two LayerNorm
    scales and an MLP bias (3.15M parameters per block at width 512)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for b in range(blocks):
        block = {"q": (width, width), "k": (width, width), "v": (width, width),
                 "o": (width, width), "mlp_in": (width, 4 * width),
                 "mlp_out": (4 * width, width), "ln1": (width,), "ln2": (width,),
                 "mlp_b": (4 * width,)}
        shapes.update({f"block{b}/{k}": s for k, s in block.items()})
    return shapes
