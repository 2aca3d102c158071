"""Image grids: evaluation samples and the cross-run comparison figure.

Drawn on an Agg canvas without pyplot, so no display, global figure state or backend setting
is involved (cluster nodes have no display).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from faceoff.io.atomic import atomic_path

CELL_INCHES = 1.6


def save_figure(fig: Figure, out_png: str | os.PathLike[str], dpi: int = 100) -> None:
    """Render ``fig`` to a PNG atomically."""
    FigureCanvasAgg(fig)
    with atomic_path(out_png, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")


def sample_grid(
    rows: Sequence[Sequence[np.ndarray | None]],
    column_titles: Sequence[str],
    out_png: str | os.PathLike[str],
    row_titles: Sequence[str] | None = None,
) -> None:
    """A grid of RGB images, one list per row; ``None`` leaves a cell blank (e.g. no ground truth)."""
    if not rows:
        raise ValueError(f"{out_png}: no rows to draw")
    n_rows, n_cols = len(rows), len(column_titles)
    fig = Figure(figsize=(CELL_INCHES * n_cols, CELL_INCHES * n_rows))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r, row in enumerate(rows):
        if len(row) != n_cols:
            raise ValueError(f"{out_png}: row {r} has {len(row)} images for {n_cols} columns")
        for c, image in enumerate(row):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if image is None:
                ax.set_axis_off()
            else:
                ax.imshow(np.asarray(image, dtype=np.uint8))
            if r == 0:
                ax.set_title(column_titles[c], fontsize=9)
            if c == 0 and row_titles is not None:
                ax.set_ylabel(row_titles[r], fontsize=9)
    fig.subplots_adjust(wspace=0.03, hspace=0.03)
    save_figure(fig, out_png)


def comparison_figure(
    rows: Sequence[tuple[str, np.ndarray, Mapping[str, np.ndarray]]], out_png: str | os.PathLike[str]
) -> None:
    """Test frames (rows) translated by each run (columns), after the input column.

    ``rows`` holds, per pair, ``(label, frames (K, H, W, 3), {run name: outputs (K, H, W, 3)})``;
    a run missing for one pair leaves its cells blank.
    """
    names = list(dict.fromkeys(name for _, _, outputs in rows for name in outputs))
    grid, titles = [], []
    for pair_label, frames, outputs in rows:
        for k, frame in enumerate(frames):
            grid.append([frame] + [outputs[n][k] if n in outputs else None for n in names])
            titles.append(f"{pair_label} #{k}")
    sample_grid(grid, ["input", *names], out_png, row_titles=titles)
