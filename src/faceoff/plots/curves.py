"""Training loss curves: one panel per loss, one smoothed line per run."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from faceoff.plots.grids import save_figure


def smooth(values: np.ndarray, span: int) -> np.ndarray:
    """Exponential moving average: GAN losses are too noisy to compare runs point by point."""
    return pd.Series(values).ewm(span=max(1, span), ignore_na=True).mean().to_numpy()


def loss_curves(
    losses_csvs: Mapping[str, str | os.PathLike[str]],
    out_png: str | os.PathLike[str],
    columns: Sequence[str] = ("G_total", "D", "G_cycle"),
    step_column: str = "step",
) -> None:
    """Plot ``columns`` of each run's ``losses.csv`` (x = ``step_column``, else the row number).

    The raw values are drawn faintly under the smoothed line; a loss a run did not log is left
    out of that run's panel.
    """
    tables = {}
    for run, path in losses_csvs.items():
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: losses of run {run!r} not found (train it first)")
        tables[run] = pd.read_csv(path)
    fig = Figure(figsize=(4.2 * len(columns), 3.2))
    axes = fig.subplots(1, len(columns), squeeze=False)[0]
    for ax, column in zip(axes, columns, strict=True):
        for i, (run, df) in enumerate(tables.items()):
            if column not in df or df.empty:
                continue
            x = df[step_column].to_numpy() if step_column in df else np.arange(len(df))
            y = pd.to_numeric(df[column], errors="coerce").to_numpy()
            color = f"C{i % 10}"
            ax.plot(x, y, color=color, alpha=0.2, linewidth=0.6)
            ax.plot(x, smooth(y, len(y) // 20), color=color, linewidth=1.4, label=run)
        ax.set_title(column)
        ax.set_xlabel(step_column)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    save_figure(fig, out_png)
