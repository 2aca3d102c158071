"""The claims ledger's forest plot: one row per claim, its paired difference and 95% interval.

Claims compare different metrics (an L1 in [0, 1], a PSNR in dB, a failure rate), so each row
has its own horizontal scale, centred on zero; rows are oriented so that right means better for
the claim's variant (an equivalence claim is drawn as measured, its margin shaded), and each is
coloured by its verdict. Rows are grouped under their family (study).
"""

from __future__ import annotations

import os

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

from faceoff.plots.grids import save_figure

VERDICT_COLORS = {
    "supported": "#1a9850",
    "contradicted": "#d73027",
    "inconclusive": "#7f7f7f",
}
_ROW_INCHES = 0.6


def _label(row: pd.Series) -> str:
    return f"{row['claim']}: {row['variant']} vs {row['baseline']} ({row['metric']})"


def _value_text(row: pd.Series) -> str:
    provisional = ", provisional" if row["provisional"] else ""
    if pd.isna(row["difference"]):
        return f"{row['direction']}: {row['verdict']}{provisional} ({row['note']})"
    interval = (
        "" if pd.isna(row["difference_lo"]) else f" [{row['difference_lo']:.3g}, {row['difference_hi']:.3g}]"
    )
    return f"{row['direction']}: {row['difference']:.3g}{interval} {row['verdict']}{provisional}"


def forest_plot(claims: pd.DataFrame, path: str | os.PathLike[str]) -> list[str]:
    """Draw ``claims`` (the columns of :data:`faceoff.evaluate.claims.COLUMNS`) to a PNG at ``path``;
    returns the row labels, top to bottom (family headers excluded)."""
    families = list(dict.fromkeys(claims["family"]))
    n_rows = len(claims) + len(families)
    fig = Figure(figsize=(11, 0.9 + _ROW_INCHES * max(n_rows, 1)))
    if not n_rows:
        fig.text(0.5, 0.5, "no claims to test", ha="center", va="center")
        save_figure(fig, path)
        return []
    axes = fig.subplots(n_rows, 1, squeeze=False)[:, 0]
    fig.subplots_adjust(
        hspace=1.1,
        left=0.42,
        right=0.74,
        top=1 - 0.35 / fig.get_figheight(),
        bottom=0.55 / fig.get_figheight(),
    )
    labels: list[str] = []
    position = 0
    for family in families:
        header = axes[position]
        header.set_axis_off()
        at_left = blended_transform_factory(fig.transFigure, header.transAxes)
        header.text(0.01, 0.2, family, transform=at_left, fontsize=10, fontweight="bold", va="center")
        position += 1
        for _, row in claims[claims["family"] == family].iterrows():
            ax = axes[position]
            position += 1
            labels.append(_label(row))
            _draw_row(ax, row)
    axes[-1].set_xlabel(
        "variant - baseline, each row on its own scale; right = better for the variant", fontsize=8
    )
    save_figure(fig, path)
    return labels


def _draw_row(ax: Axes, row: pd.Series) -> None:
    """One claim: zero line (or the margin band), the interval and the point, oriented better-right."""
    color = VERDICT_COLORS.get(row["verdict"], "#7f7f7f")
    equivalence = row["direction"] == "equivalent"
    values = [row[c] for c in ("difference", "difference_lo", "difference_hi") if not pd.isna(row[c])]
    margin = row["margin"] if equivalence and not pd.isna(row["margin"]) else 0.0
    reach = max([abs(v) for v in values] + [margin]) or 1.0
    ax.set_xlim(-1.25 * reach, 1.25 * reach)
    if not (equivalence or row["higher_is_better"]):
        ax.invert_xaxis()  # lower is better: right still means better, the ticks keep their values
    ax.set_ylim(-1, 1)
    ax.axvline(0, color="black", linewidth=0.7)
    if margin:
        ax.axvspan(-margin, margin, color="#4575b4", alpha=0.15, linewidth=0)
    if values:
        point = values[0]
        if len(values) == 3:
            lo, hi = sorted(values[1:])
            ax.hlines(0, lo, hi, color=color, linewidth=2.5)
        ax.plot([point], [0], "o", color=color, markersize=6)
    ax.set_yticks([])
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4, symmetric=True))
    if not values:
        ax.set_xticks([])
    ax.tick_params(axis="x", labelsize=6, length=2, pad=1)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.text(-0.02, 0, _label(row), transform=ax.get_yaxis_transform(), ha="right", va="center", fontsize=7.5)
    ax.text(
        1.02,
        0,
        _value_text(row),
        transform=ax.get_yaxis_transform(),
        ha="left",
        va="center",
        fontsize=7.5,
        color=color,
    )
