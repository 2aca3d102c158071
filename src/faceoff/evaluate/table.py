"""The family table: one row per evaluated run (and per copy-input baseline) in CSV, Markdown, LaTeX."""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from faceoff.evaluate.bootstrap import hierarchical_mean, nested_mean
from faceoff.evaluate.glossary import APPLY, SCORED_SPLITS, all_glossaries
from faceoff.evaluate.samples import KEYS, read_samples
from faceoff.io.atomic import read_json, write_text

ID_COLUMNS = ("run", "pair", "variant", "seed")
# The precision a run trained in, as resolved on its machine (train.json): the same settings give
# other numbers in bf16 than in fp32, so every table says which ran. None for a copy-input row.
PRECISION = "precision"
TRAIN_COLUMNS = ("steps", "diverged", "diverged_step", "wall_time_s", "sec_per_step")
# The networks behind the numbers: the loss networks a run trained with (train.json: a substitute
# for the study's VGG19 or FaceNet is another experiment) and the identity network of the metrics.
# A column appears when some row names one.
# metrics.json names the networks of some protocol metrics itself: KID's features, id_retrieval's network.
METRIC_NETWORKS = ("kid_features", "id_retrieval_net")
NETWORK_COLUMNS = ("feature_net", "identity_net", "metric_identity_net", *METRIC_NETWORKS)
COPY_VARIANT = "copy input"
# The references of the apply columns (apply_metrics.json's blocks besides "run"): the copied input
# fills the copy-input row, the ground-truth paste a row of its own.
GROUNDTRUTH_PASTE = "ground-truth paste"
# A column ``<m>`` with companions ``<m>_lo`` and ``<m>_hi`` holds a mean and its 95% interval: the
# CSV keeps the three numbers, Markdown and LaTeX show one cell "0.110 [0.104, 0.116]".
INTERVAL_BOUNDS = ("_lo", "_hi")
# The summary's interval columns: the seeds behind a variant's mean, and what its interval resampled
# ("seeds, frames"; "frames" with one seed: the test frames' spread only, not the training's).
N_SEEDS = "n_seeds"
# The fixed design within a run: each (direction, source, target) of its per-sample file is a stratum,
# as metrics.json averages the frames per direction (translate) or per driven video (reenact), then those.
STRATUM = KEYS[:3]
INTERVAL = "interval"
_LATEX_SPECIAL = {c: "\\" + c for c in "&%$#_{}"} | {
    "~": r"\textasciitilde{}",
    "^": r"\^{}",
    "\\": r"\textbackslash{}",
}


def metric_names() -> list[str]:
    """Every registered evaluation kind's metrics (one name means one thing in all kinds), asked at
    call time: a kind that a plug-in registers after this module is imported is tabulated too."""
    return list(dict.fromkeys(name for g in all_glossaries().values() for name in g.metrics))


def metric_columns(names: Sequence[str]) -> tuple[str, ...]:
    """The metric columns of a table: ``names``, then each per scored split, then ``n_frames``."""
    return (*names, *(f"{s}_{k}" for s in SCORED_SPLITS for k in names), "n_frames")


def build_table(
    metrics_files: Mapping[str, str | os.PathLike[str]], extra: Mapping[str, Mapping[str, Any]] | None = None
) -> pd.DataFrame:
    """One row per run id: identification, precision, top-level metrics, training facts.

    ``extra[run id]`` carries what metrics.json does not know: ``pair``, ``variant``, ``seed``
    and train.json's ``precision`` and :data:`TRAIN_COLUMNS`; its other keys are not tabulated
    (the precision column is there even when no row knows it, empty). Without it the
    pair comes from metrics.json and the variant is the run id (or "copy input").
    """
    extra = extra or {}
    scores = metric_names()
    rows = []
    for run_id, path in metrics_files.items():
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: metrics of run {run_id!r} not found (evaluate it first)")
        metrics = read_json(path)
        names = metrics.get("names", {})
        row: dict[str, Any] = {
            "run": run_id,
            "pair": f"{names.get('A', 'A')}2{names.get('B', 'B')}",
            "variant": COPY_VARIANT if metrics.get("copy_input") else run_id,
            PRECISION: extra.get(run_id, {}).get(PRECISION),
        }
        row |= {k: metrics[k] for k in scores if k in metrics}
        row |= {k: metrics[k] for k in METRIC_NETWORKS if isinstance(metrics.get(k), str)}
        for split in SCORED_SPLITS:
            row |= {f"{split}_{k}": v for k, v in metrics.get(split, {}).items() if k in scores}
        row["n_frames"] = metrics.get("n_frames")
        row |= {
            k: v
            for k, v in extra.get(run_id, {}).items()
            if k in (*ID_COLUMNS[1:], *NETWORK_COLUMNS, *TRAIN_COLUMNS)
        }
        rows.append(row)
    df = pd.DataFrame(rows)
    networks = [c for c in NETWORK_COLUMNS if c in df and df[c].notna().any()]
    columns = metric_columns(scores)
    df = df[[c for c in (*ID_COLUMNS, PRECISION, *networks, *columns, *TRAIN_COLUMNS) if c in df]]
    scored = [c for c in columns if c in df and c != "n_frames"]
    df[scored] = df[scored].astype(float)
    # A metric no row has (no ground truth on real data, no classifier in this family) is no column.
    return df.drop(columns=[c for c in scored if df[c].isna().all()])


def add_apply(df: pd.DataFrame, applied: Mapping[str, str | os.PathLike[str]]) -> pd.DataFrame:
    """``df`` with the :data:`~faceoff.evaluate.glossary.APPLY` columns: each run id of ``applied``
    gets its apply_metrics.json's ``run`` scores; per pair, the copy-input row (``<pair>-copy``) the
    copied input's and a new ``<pair>-groundtruth-paste`` row the ground-truth paste's, each the mean
    over the pair's runs (equal when the runs crop alike). Columns no row has are left out."""
    if not applied:
        return df
    pair_of = dict(zip(df["run"], df["pair"], strict=True))
    scores = {run_id: read_json(path) for run_id, path in applied.items()}
    own = pd.DataFrame.from_dict({r: s["run"] for r, s in scores.items()}, orient="index")

    def per_pair(reference: str) -> pd.DataFrame:
        rows = [{**s[reference], "pair": pair_of[r]} for r, s in scores.items() if reference in s]
        return pd.DataFrame(rows).groupby("pair").mean() if rows else pd.DataFrame()

    copies = per_pair("copy_input").rename(index=lambda pair: f"{pair}-copy")
    best = per_pair("groundtruth_paste")
    columns = [c for c in APPLY if c in own or c in copies or c in best]
    out = df.join(pd.concat([own, copies]).reindex(columns=columns).astype(float), on="run")
    if len(best):
        best = best.reindex(columns=columns).astype(float).reset_index()
        best.insert(0, "run", best["pair"] + "-groundtruth-paste")
        best.insert(2, "variant", GROUNDTRUTH_PASTE)
        out = pd.concat([out, best], ignore_index=True)
    kept = [c for c in columns if out[c].notna().any()]
    order = [c for c in df if c not in TRAIN_COLUMNS] + kept + [c for c in df if c in TRAIN_COLUMNS]
    return out[order]


def summary_table(
    df: pd.DataFrame,
    samples: Mapping[str, str | os.PathLike[str]] | None = None,
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean over pairs (and seeds) per variant, best first, with the precisions and networks its
    runs trained and were scored with.

    With ``samples`` (run id -> its per_sample.csv), each per-sample metric gets the 95% interval of
    that mean (``<m>_lo``, ``<m>_hi``; :func:`interval_columns`), with ``n_seeds`` and ``interval``.
    Ranked by ground-truth L1 (lower is better); data without ground truth (real videos) is
    ranked by identity similarity to the target person instead.
    """
    metrics = [c for c in (*metric_columns(metric_names()), *APPLY) if c in df]
    grouped = df.groupby("variant", sort=False)
    summary = grouped[metrics].mean(numeric_only=True)
    summary.insert(0, "runs", grouped.size())
    summary.insert(1, "pairs", grouped["pair"].nunique())
    for position, column in enumerate(c for c in (PRECISION, *NETWORK_COLUMNS) if c in df):
        summary.insert(2 + position, column, grouped[column].agg(_distinct))
    if "l1_gt" in summary and summary["l1_gt"].notna().any():
        summary = summary.sort_values("l1_gt", na_position="last")
    elif "identity_sim" in summary:
        summary = summary.sort_values("identity_sim", ascending=False, na_position="last")
    if samples is not None:
        summary = interval_columns(summary, df, samples, n_boot=n_boot, seed=seed)
    return summary.reset_index()


def interval_columns(
    summary: pd.DataFrame,
    df: pd.DataFrame,
    samples: Mapping[str, str | os.PathLike[str]],
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """``summary`` (indexed by variant) with ``n_seeds``, ``interval`` and, after each metric the
    per-sample files hold, its hierarchical bootstrap interval (:mod:`faceoff.evaluate.bootstrap`:
    seeds, then frames within each direction, source and target of a seed's runs, the strata that
    metrics.json averages).

    A variant gets intervals only when every one of its runs has a per-sample file (an interval of
    some runs would not belong to the mean of all); its means are never changed.
    """
    out = summary.copy()
    seeds = df.groupby("variant", sort=False)["seed"].nunique() if "seed" in df else 0
    out.insert(out.columns.get_loc("pairs") + 1, N_SEEDS, seeds)
    out.insert(out.columns.get_loc(N_SEEDS) + 1, INTERVAL, None)
    scores = set(metric_names())
    bounds: dict[str, dict[str, tuple[float, float]]] = {}
    for variant, runs in df.groupby("variant", sort=False):
        paths = [samples.get(run) for run in runs["run"]]
        if not all(p is not None and Path(p).is_file() for p in paths):
            continue
        by_seed: dict[Any, list[pd.DataFrame]] = {}  # a copy-input row has no seed: one group
        for run_seed, path in zip(runs.get("seed", pd.Series(None, index=runs.index)), paths, strict=True):
            by_seed.setdefault(None if pd.isna(run_seed) else run_seed, []).append(read_samples(path))
        tables = [t for group in by_seed.values() for t in group]
        for metric in (m for m in out.columns if m in scores and all(m in t for t in tables)):
            strata = [
                [
                    values.to_numpy()
                    for t in group
                    for _, values in t.groupby(list(STRATUM), sort=True)[metric]
                ]
                for group in by_seed.values()
            ]
            if np.isnan(nested_mean(strata)):  # undefined on every sample (no face found anywhere)
                continue
            stream = np.random.default_rng([seed, zlib.crc32(f"{variant}/{metric}".encode())])
            interval = hierarchical_mean(strata, n_boot=n_boot, rng=stream)
            bounds.setdefault(metric, {})[variant] = (interval.lo, interval.hi)
            out.loc[variant, INTERVAL] = interval.levels
    for metric, values in bounds.items():
        position = out.columns.get_loc(metric) + 1
        for offset, suffix in enumerate(INTERVAL_BOUNDS):
            column = pd.Series({v: b[offset] for v, b in values.items()}, dtype=float)
            out.insert(position + offset, f"{metric}{suffix}", column.reindex(out.index))
    return out


def _distinct(values: pd.Series) -> str | None:
    """The distinct values among a variant's runs ("bf16, fp32" when machines differed), or None."""
    return ", ".join(sorted(values.dropna().unique())) or None


def variant_table(
    df: pd.DataFrame, settings: Mapping[str, Mapping[str, Any]], overridden: Sequence[str] = ()
) -> pd.DataFrame:
    """The rows of ``df`` whose variant is a key of ``settings`` (in that order), for a sweep table.

    The settings that differ between those variants, and the keys in ``overridden`` (what the
    variants set, so a one-variant view still shows it), come first as columns, so a sweep
    shows the swept value next to its scores.
    """
    order = list(settings)
    rows = df[df["variant"].isin(order)].copy()
    varying = sorted(
        key
        for key in set().union(*(s.keys() for s in settings.values()))
        if (len({repr(s.get(key)) for s in settings.values()}) > 1 or key in overridden)
        and key not in df  # "steps" done (train.json) is already a column
    )
    for position, key in enumerate(varying):
        values = {variant: settings[variant].get(key) for variant in order}
        rows.insert(ID_COLUMNS.index("variant") + 1 + position, key, rows["variant"].map(values))
    rank = {variant: i for i, variant in enumerate(order)}
    return rows.sort_values(["variant", "pair"], key=lambda c: c.map(rank) if c.name == "variant" else c)


def with_intervals(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with each column that has ``_lo``/``_hi`` companions shown as "x [lo, hi]" (just "x"
    without an interval), the companions dropped."""
    out = df.copy()
    for column in df:
        lo, hi = (f"{column}{suffix}" for suffix in INTERVAL_BOUNDS)
        if lo in df and hi in df:
            out[column] = [
                None
                if pd.isna(x)
                else f"{x:.4g}"
                if pd.isna(a) or pd.isna(b)
                else f"{x:.4g} [{a:.4g}, {b:.4g}]"
                for x, a, b in zip(df[column], df[lo], df[hi], strict=True)
            ]
            out = out.drop(columns=[lo, hi])
    return out


def to_markdown(df: pd.DataFrame) -> str:
    """A pipe table; a mean with its interval columns reads "x [lo, hi]"."""
    df = with_intervals(df)
    return (
        df.astype(object).where(df.notna(), None).to_markdown(index=False, floatfmt=".4g", missingval="-")
        + "\n"
    )


def _latex_cell(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "--"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return "".join(_LATEX_SPECIAL.get(c, c) for c in str(value))


def to_latex(df: pd.DataFrame) -> str:
    """A booktabs tabular (needs ``\\usepackage{booktabs}``); numbers (and "x [lo, hi]" intervals)
    right-aligned, text left."""
    numeric = {c for c in df if pd.api.types.is_numeric_dtype(df[c])}
    df = with_intervals(df)
    align = "".join("r" if c in numeric else "l" for c in df)
    lines = [
        f"\\begin{{tabular}}{{{align}}}",
        "\\toprule",
        " & ".join(_latex_cell(c) for c in df) + r" \\",
        "\\midrule",
    ]
    lines += [" & ".join(_latex_cell(v) for v in row) + r" \\" for row in df.itertuples(index=False)]
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_table(
    df: pd.DataFrame,
    csv: str | os.PathLike[str] | None = None,
    md: str | os.PathLike[str] | None = None,
    tex: str | os.PathLike[str] | None = None,
) -> None:
    """Write ``df`` in each format given (each file atomically)."""
    if csv is not None:
        write_text(csv, df.to_csv(index=False))
    if md is not None:
        write_text(md, to_markdown(df))
    if tex is not None:
        write_text(tex, to_latex(df))
