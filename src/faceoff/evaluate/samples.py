"""Per-sample metric files (``per_sample.csv``): every scored output's values, kept beside the means.

One row per scored output, identified by :data:`KEYS` (direction, source item, target item and
the frame's number in its prepared split's ``index``), then one float column per per-sample
metric, named as in ``metrics.json`` (empty = NaN: undefined for that sample). Two runs scored
on the same test frames (a run and its ``<pair>-copy`` baseline, or two seeds) pair row by row
on the keys, so intervals and paired differences can be computed later without re-evaluating.
Floats are written with 17 significant digits, which round-trips every float64 exactly (pandas'
default parser reads them back bit for bit; tests/test_samples.py checks it).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from faceoff.io.atomic import atomic_path

KEYS = ("direction", "source", "target", "frame")
FILENAME = "per_sample.csv"
_TEXT_KEYS = KEYS[:3]


def _ordered(df: pd.DataFrame) -> pd.DataFrame:
    """Keys first, then the metric columns by name: the file's layout does not depend on the caller."""
    missing = [k for k in KEYS if k not in df.columns]
    if missing:
        raise ValueError(f"per-sample rows lack key column(s) {missing}")
    metrics = sorted(c for c in df.columns if c not in KEYS)
    out = df.loc[:, [*KEYS, *metrics]].copy()
    for key in _TEXT_KEYS:
        out[key] = out[key].astype(str)
    out["frame"] = out["frame"].astype(np.int64)
    out[metrics] = out[metrics].astype(np.float64)
    if out.duplicated(list(KEYS)).any():
        raise ValueError("per-sample rows repeat a (direction, source, target, frame) key")
    return out.reset_index(drop=True)


def write_samples(path: str | os.PathLike[str], df: pd.DataFrame) -> None:
    """Write ``df`` (the :data:`KEYS` columns and float metric columns) as CSV, atomically."""
    table = _ordered(df)
    with atomic_path(path, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.17g", na_rep="")


def read_samples(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a file :func:`write_samples` wrote: text keys stay text ("0001" is an item, not 1),
    ``frame`` is an integer, every other column float64 (NaN where empty)."""
    df = pd.read_csv(
        path,
        dtype={key: str for key in _TEXT_KEYS} | {"frame": np.int64},
        keep_default_na=False,  # an item named "NA" stays a name; only an empty field is NaN
        na_values=[""],
    )
    return _ordered(df)
