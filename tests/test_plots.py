"""Loss curves, image grids and side-by-side videos render to valid files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from faceoff.io.video import read_frames
from faceoff.plots import comparison_figure, loss_curves, sample_grid, side_by_side_video


def _frames(n: int, size: int = 40, shift: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return np.stack(
        [np.stack([(xx * 6 + i * 15 + shift) % 256, yy * 6, xx + yy], -1) for i in range(n)]
    ).astype(np.uint8)


def _losses(path: Path, steps: int, seed: int, columns: tuple[str, ...]) -> Path:
    rng = np.random.default_rng(seed)
    step = np.arange(0, steps * 10, 10)
    df = pd.DataFrame({"step": step} | {c: np.exp(-step / 400) + rng.normal(0, 0.1, steps) for c in columns})
    df.to_csv(path, index=False)
    return path


def _valid_png(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_loss_curves(tmp_path: Path) -> None:
    csvs = {
        "A2B-baseline-s0": _losses(tmp_path / "a.csv", 200, 0, ("G_total", "D", "G_cycle")),
        "A2B-d5-s0": _losses(tmp_path / "b.csv", 120, 1, ("G_total", "D")),  # no cycle loss logged
    }
    out = tmp_path / "figures" / "losses.png"
    loss_curves(csvs, out)
    width, height = _valid_png(out)
    assert width > 2 * height
    with pytest.raises(FileNotFoundError, match="run 'x'"):
        loss_curves({"x": tmp_path / "missing.csv"}, out)


def test_sample_grid_and_comparison(tmp_path: Path) -> None:
    frames = _frames(3)
    sample_grid(
        [[frames[0], frames[1], None], [frames[2], frames[0], frames[1]]],
        ["in", "out", "gt"],
        tmp_path / "g.png",
    )
    _valid_png(tmp_path / "g.png")
    with pytest.raises(ValueError, match="row 0"):
        sample_grid([[frames[0]]], ["in", "out"], tmp_path / "bad.png")
    rows = [
        ("A2B", frames[:2], {"baseline": 255 - frames[:2], "d5": frames[:2]}),
        ("A2C", frames[1:], {"baseline": frames[1:]}),  # d5 missing for A2C: blank cells
    ]
    comparison_figure(rows, tmp_path / "comparison.png")
    width, height = _valid_png(tmp_path / "comparison.png")
    assert height > width  # 4 rows, 3 columns


def test_side_by_side_video(tmp_path: Path) -> None:
    left, right = _frames(6), _frames(5, shift=100)
    path = tmp_path / "faceoff.mp4"
    assert side_by_side_video(path, [left, right], fps=10, labels=["source", "output"]) == 5
    back = list(read_frames(path))
    assert len(back) == 5 and back[0].shape == (40, 80, 3)
    assert np.abs(back[3][20:, 40:].astype(int) - right[3][20:]).mean() < 8  # right panel below the label
    with pytest.raises(ValueError, match="height"):
        side_by_side_video(path, [left, _frames(6, size=32)])
