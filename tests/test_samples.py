"""per_sample.csv: exact round trip, stable layout, text keys kept as text, pairing two runs on the keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from faceoff.evaluate.samples import KEYS, read_samples, write_samples


def _rows(values: np.ndarray, sources: list[str]) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame(
        {
            "psnr_gt": values[::-1].copy(),
            "direction": ["A2B"] * n,
            "source": sources,
            "target": ["B"] * n,
            "frame": np.arange(n) * 3 + 7,
            "l1_gt": values,
        }
    )


def test_round_trip_is_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    values = rng.random(200) * np.logspace(-300, 300, 200)
    values[[3, 50]] = np.nan
    values[7], values[8] = np.inf, 5e-324  # unbounded and the smallest subnormal
    sources = [f"{i:04d}" for i in range(200)]
    sources[:2] = ["NA", "nan"]  # item names a CSV reader might take for missing values
    write_samples(tmp_path / "per_sample.csv", _rows(values, sources))
    back = read_samples(tmp_path / "per_sample.csv")
    assert list(back.columns) == [*KEYS, "l1_gt", "psnr_gt"]  # keys, then metrics by name
    assert back["source"].tolist() == sources and back["frame"].tolist() == list(range(7, 607, 3))
    assert back["frame"].dtype == np.int64 and back["l1_gt"].dtype == np.float64
    assert np.array_equal(back["l1_gt"].to_numpy(), values, equal_nan=True)
    assert np.array_equal(back["psnr_gt"].to_numpy(), values[::-1], equal_nan=True)
    assert [p.name for p in tmp_path.iterdir()] == ["per_sample.csv"]  # no temporary left behind


def test_rows_need_their_keys_once(tmp_path: Path) -> None:
    rows = _rows(np.ones(3), ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"key column\(s\) \['frame'\]"):
        write_samples(tmp_path / "x.csv", rows.drop(columns="frame"))
    rows.loc[2, ["source", "frame"]] = ["b", 10]
    with pytest.raises(ValueError, match="repeat"):
        write_samples(tmp_path / "x.csv", rows)
    assert not (tmp_path / "x.csv").exists()


def test_two_runs_pair_on_the_keys(tmp_path: Path) -> None:
    """Rows written in any order pair one to one on (direction, source, target, frame)."""
    run = _rows(np.array([0.1, 0.2, 0.3]), ["a", "a", "a"])
    copy = run.assign(l1_gt=[0.5, 0.6, 0.7]).iloc[::-1]
    write_samples(tmp_path / "run.csv", run)
    write_samples(tmp_path / "copy.csv", copy)
    paired = read_samples(tmp_path / "run.csv").merge(
        read_samples(tmp_path / "copy.csv"), on=list(KEYS), suffixes=("", "_copy"), validate="one_to_one"
    )
    assert len(paired) == 3
    assert np.allclose(paired["l1_gt_copy"] - paired["l1_gt"], 0.4)
