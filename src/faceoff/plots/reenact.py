"""The reenactment study's figures: sample grids (its appendix A), error heatmaps (appendix B) and
the final magnitude of each loss term (appendix C).

Landmarks are drawn as the generator sees them, the maximum over their 68 heatmaps.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from faceoff.faces.heatmaps import STUDY_SIGMA, heatmap_image
from faceoff.losses.reenact import TERMS
from faceoff.plots.grids import CELL_INCHES, sample_grid, save_figure

GRID_COLUMNS = ("source", "source landmarks", "generated", "target", "target landmarks")
ERROR_MAX = 96.0  # the study's colour scale: errors of 96 (of 255) and above are all yellow
LOSS_COLUMNS = tuple(f"G_{t}" for t in TERMS)


def reenactment_grid(
    sources: np.ndarray,
    source_landmarks: np.ndarray,
    outputs: np.ndarray,
    targets: np.ndarray,
    target_landmarks: np.ndarray,
    out_png: str | os.PathLike[str],
    row_titles: Sequence[str] | None = None,
    sigma: float = STUDY_SIGMA,
) -> None:
    """Appendix A: one row per sample (K, S, S, 3) images, (K, 68, 2) landmarks; the columns are
    :data:`GRID_COLUMNS`."""
    size = sources.shape[1]
    rows = [
        [src, heatmap_image(src_lm, size, sigma), out, tgt, heatmap_image(tgt_lm, size, sigma)]
        for src, src_lm, out, tgt, tgt_lm in zip(
            sources, source_landmarks, outputs, targets, target_landmarks, strict=True
        )
    ]
    sample_grid(rows, GRID_COLUMNS, out_png, row_titles=row_titles)


def error_map(output: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Absolute error on the 0..255 scale, averaged over the colour channels: (..., H, W)."""
    return np.abs(np.asarray(output, np.float64) - np.asarray(target, np.float64)).mean(axis=-1)


def error_heatmaps(
    sources: np.ndarray,
    target_landmarks: np.ndarray,
    targets: np.ndarray,
    outputs: Mapping[str, np.ndarray],
    out_png: str | os.PathLike[str],
    sigma: float = STUDY_SIGMA,
) -> None:
    """Appendix B: per sample (row) the source, the target landmarks, the real target, each run's
    output, then each run's :func:`error_map` in viridis from 0 to :data:`ERROR_MAX`."""
    if not outputs:
        raise ValueError(f"{out_png}: no runs to compare")
    runs = list(outputs)
    size = sources.shape[1]
    n_cols = 3 + 2 * len(runs)
    fig = Figure(figsize=(CELL_INCHES * n_cols, CELL_INCHES * len(sources) + 0.6))
    axes = fig.subplots(len(sources), n_cols, squeeze=False)
    titles = ["source", "target landmarks", "target", *runs, *(f"error {r}" for r in runs)]
    image = None
    for k in range(len(sources)):
        cells = [sources[k], heatmap_image(target_landmarks[k], size, sigma), targets[k]]
        cells += [outputs[r][k] for r in runs]
        for c, ax in enumerate(axes[k]):
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(cells):
                ax.imshow(np.asarray(cells[c], np.uint8))
            else:
                error = error_map(outputs[runs[c - len(cells)]][k], targets[k])
                image = ax.imshow(error, cmap=colormaps["viridis"], vmin=0.0, vmax=ERROR_MAX)
            if k == 0:
                ax.set_title(titles[c], fontsize=8)
    fig.subplots_adjust(wspace=0.03, hspace=0.03, right=0.9)
    bar = fig.colorbar(image, cax=fig.add_axes((0.92, 0.2, 0.015, 0.6)), extend="max")
    bar.set_label("absolute error (0-255, mean over RGB)", fontsize=8)
    save_figure(fig, out_png)


def loss_magnitudes(
    losses_csvs: Mapping[str, str | os.PathLike[str]],
    out_png: str | os.PathLike[str],
    columns: Sequence[str] = LOSS_COLUMNS,
) -> None:
    """Appendix C: each run's weighted loss terms at the last row of its losses.csv, as grouped bars
    (one group per term, one bar per run); a term a run did not log counts as 0."""
    last = {}
    for run, path in losses_csvs.items():
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: losses of run {run!r} not found (train it first)")
        table = pd.read_csv(path)
        if table.empty:
            raise ValueError(f"{path}: no logged losses")
        last[run] = [float(table[c].iloc[-1]) if c in table else 0.0 for c in columns]
    width = 0.8 / max(1, len(last))
    fig = Figure(figsize=(1.2 * len(columns) + 2, 3.4))
    ax = fig.subplots()
    x = np.arange(len(columns))
    for i, (run, values) in enumerate(last.items()):
        ax.bar(x + (i - (len(last) - 1) / 2) * width, values, width, label=run, color=f"C{i % 10}")
    ax.set_xticks(x, [c.removeprefix("G_") for c in columns])
    ax.set_ylabel("weighted loss, last logged window")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out_png)
