"""The `faceoff` command: bad input gives one clear message naming the file or key, exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import REPO


def _faceoff(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faceoff", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _override(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "override.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_lists_runs() -> None:
    proc = _faceoff("-c", "params.yaml", "-c", "config/demo.yaml", "config", "runs")
    assert proc.returncode == 0, proc.stderr
    runs = proc.stdout.split()
    assert len(runs) == 12 + 5 + 4 + 4 + 4 and runs[:3] == [
        "faceoff/A2B-baseline-s0",
        "faceoff/A2B-wgan-s0",
        "faceoff/A2B-wgangp-s0",
    ]
    pairs = {"faceoff": "A2B", "portrait": "photo2painting", "expression": "HA2NE", "reenact": "1142124"}
    pairs["swap"] = "0712054"  # the demo runs one pair per study
    assert all(
        r.startswith(f"{f}/{pairs[f]}-") and r.endswith("-s0") for r in runs for f in [r.split("/")[0]]
    )


def test_wrong_type_is_named(tmp_path: Path) -> None:
    bad = _override(tmp_path, {"datasets": {"persons": {"prepare": {"size": "big"}}}})
    proc = _faceoff("-c", "params.yaml", "-c", str(bad), "config", "runs")
    assert proc.returncode == 2
    assert f"{bad}: datasets.persons.prepare.size: 'big' is not of type 'integer'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_real_dataset_says_where_to_put_it() -> None:
    proc = _faceoff("-c", "params.yaml", "config", "check")
    assert proc.returncode == 2 and "data/raw/persons: person source folder not found" in proc.stderr


def test_undecodable_video_is_named_and_nothing_is_left(tmp_path: Path) -> None:
    source = tmp_path / "videos"
    source.mkdir()
    (source / "A.mp4").write_bytes(b"\x00garbage" * 100)
    out = tmp_path / "prepared" / "A"
    override = _override(tmp_path, {"datasets": {"persons": {"source": str(source)}}})
    proc = _faceoff(
        "-c",
        "params.yaml",
        "-c",
        str(override),
        "prepare",
        "--dataset",
        "persons",
        "--item",
        "A",
        "--out",
        str(out),
    )
    assert proc.returncode == 2, proc.stderr
    assert str(source / "A.mp4") in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []  # no half-written temp folder


def test_empty_source_folder_is_named(tmp_path: Path) -> None:
    source = tmp_path / "videos"
    (source / "A").mkdir(parents=True)
    override = _override(tmp_path, {"datasets": {"persons": {"source": str(source)}}})
    proc = _faceoff(
        "-c",
        "params.yaml",
        "-c",
        str(override),
        "prepare",
        "--dataset",
        "persons",
        "--item",
        "A",
        "--out",
        str(tmp_path / "out"),
    )
    assert proc.returncode == 2 and str(source / "A") in proc.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_run_and_missing_model(tmp_path: Path) -> None:
    proc = _faceoff("-c", "params.yaml", "train", "--run", "faceoff/A2Z-baseline-s0")
    assert proc.returncode == 2 and "unknown run 'faceoff/A2Z-baseline-s0'" in proc.stderr
    override = _override(tmp_path, {"output_dir": str(tmp_path / "results")})
    proc = _faceoff("-c", "params.yaml", "-c", str(override), "evaluate", "--run", "faceoff/A2B-baseline-s0")
    assert proc.returncode == 2 and "not found" in proc.stderr and "Traceback" not in proc.stderr


def test_config_check_names_runs_whose_settings_cannot_train(tmp_path: Path) -> None:
    ok = _faceoff("-c", "params.yaml", "-c", "config/demo.yaml", "config", "check")
    assert ok.returncode == 0, ok.stderr
    assert "every run's training settings valid" in ok.stdout
    small = _override(tmp_path, {"families": {"faceoff": {"train": {"crop_size": 64}}}})
    bad = _faceoff("-c", "params.yaml", "-c", "config/demo.yaml", "-c", str(small), "config", "check")
    assert bad.returncode == 2
    assert "run faceoff/A2B-d5-s0: crop_size 64 < 96" in bad.stderr
    assert "run faceoff/A2B-double_d-s0: crop_size 64 < 96" in bad.stderr
    assert "A2B-baseline-s0" not in bad.stderr and "A2B-unet-s0" not in bad.stderr  # valid at 64 px
