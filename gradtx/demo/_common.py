"""What every demo experiment shares: the run configuration, tables, figures, progress bars
and the jitted "descend a loss with an optimiser" loop."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

import gradtx

MODES = ("smoke", "default", "full")


@dataclass(frozen=True)
class Config:
    """How big and where: ``mode`` is ``"smoke"`` (tiny, for tests and fast notebooks),
    ``"default"`` (the < 3 minute CPU run) or ``"full"`` (the paper/textbook lengths).

    ``out`` is where PNGs go (``None``: figures are returned, not written);
    ``data_dir`` optionally holds Fashion-MNIST's IDX files for the CNN experiments.
    """

    mode: str = "default"
    out: Path | None = None
    data_dir: Path | None = None
    seed: int = 0
    progress: bool = True
    written: list[Path] = field(default_factory=list, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")

    def pick(self, smoke: Any, default: Any, full: Any) -> Any:
        """The value for this run's size."""
        return {"smoke": smoke, "default": default, "full": full}[self.mode]


def notebook_config() -> Config:
    """The configuration the notebooks use: ``smoke`` sizes when the environment variable
    ``GRADTX_NOTEBOOK_FAST=1`` (the test suite), otherwise the default sizes; figures are
    shown inline, not written."""
    fast = os.environ.get("GRADTX_NOTEBOOK_FAST", "0") not in ("", "0")
    return Config(mode="smoke" if fast else "default", out=None, progress=not fast)


def progress(cfg: Config, total: int, desc: str):
    """A tqdm bar on stderr (a no-op bar when ``cfg.progress`` is false)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=not cfg.progress, leave=False, unit="ep")


def format_table(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain-text table with a title line; floats get 4 significant digits."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            if v != v:
                return "nan"
            return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
        return str(v)

    body = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    out = [title, line, "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    out.append(line)
    return "\n".join(ln.rstrip() for ln in out)


def print_table(cfg: Config, title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]):
    """Prints the table at once (flushed, so it shows while later experiments run)."""
    print("\n" + format_table(title, headers, rows), flush=True)


def new_figure(ncols: int = 1, nrows: int = 1, size: tuple[float, float] = (4.2, 3.4)):
    """A figure with an ``nrows x ncols`` grid of axes (always a 2-D array of axes)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False
    )
    return fig, axes


def save(cfg: Config, fig, name: str):
    """Writes ``fig`` to ``cfg.out/name.png`` and closes it; with no ``out`` (notebooks)
    the figure is returned untouched so Jupyter shows it inline."""
    if cfg.out is None:
        return fig
    import matplotlib.pyplot as plt

    path = Path(cfg.out) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    cfg.written.append(path)
    return path


def descend(
    loss: Callable[[jax.Array], jax.Array],
    opt: gradtx.GradientTransformation,
    x0: jax.Array,
    steps: int,
) -> jax.Array:
    """The trajectory ``x_0, x_1, ..., x_steps`` of ``opt`` on ``loss`` (full gradients),
    as one ``lax.scan``; trace it under ``jit`` (it is also vmappable over anything ``opt``
    is built from)."""

    def step(carry, _):
        x, state = carry
        updates, state = opt.update(jax.grad(loss)(x), state, x)
        x = gradtx.apply_updates(x, updates)
        return (x, state), x

    _, xs = jax.lax.scan(step, (x0, opt.init(x0)), None, length=steps)
    return jnp.concatenate([x0[None], xs])
