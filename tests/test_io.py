"""Atomic writes and video round trips through PyAV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceoff.datasets.prepared import PreparedDataError, PreparedSplit, load_split, save_split
from faceoff.io.atomic import atomic_dir, atomic_path, read_json, write_json
from faceoff.io.video import VideoError, probe_fps, read_frames, write_video


def _frames(n: int, size: int = 48) -> list[np.ndarray]:
    yy, xx = np.mgrid[:size, :size]
    return [
        np.stack([(xx * 4 + i * 9) % 256, (yy * 4) % 256, np.full_like(xx, 128)], -1).astype(np.uint8)
        for i in range(n)
    ]


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    write_json(target, {"b": 1, "a": np.float32(0.5)})
    assert read_json(target) == {"a": 0.5, "b": 1}
    assert target.read_text().index('"a"') < target.read_text().index('"b"')


def test_atomic_dir_replaces_whole_folder(tmp_path: Path) -> None:
    target = tmp_path / "item"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    with atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    with pytest.raises(ValueError), atomic_dir(target) as tmp:
        (tmp / "partial.txt").write_text("x")
        raise ValueError
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["item"]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".avi", ".mov"])
def test_video_round_trip(tmp_path: Path, suffix: str) -> None:
    """Every container the person-video reader accepts is written and decoded for real."""
    frames = _frames(12)
    path = tmp_path / f"clip{suffix}"
    assert write_video(path, frames, fps=25) == 12
    back = list(read_frames(path))
    assert len(back) == 12 and back[0].shape == (48, 48, 3) and back[0].dtype == np.uint8
    assert np.abs(back[5].astype(int) - frames[5].astype(int)).mean() < 6  # lossy but close
    assert probe_fps(path) == pytest.approx(25)
    assert len(list(read_frames(path, fps=12.5))) == 6


@pytest.mark.parametrize("content", [None, b"", b"this is not a video at all" * 40])
def test_bad_videos_name_the_file(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "bad.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(VideoError, match=str(path)):
        list(read_frames(path))


def test_truncated_videos(tmp_path: Path) -> None:
    """An mp4 cut before its index is unreadable (named error); a cut mkv keeps its good frames."""
    for suffix, readable in ((".mp4", False), (".mkv", True)):
        path = tmp_path / f"clip{suffix}"
        write_video(path, _frames(30), fps=25)
        cut = tmp_path / f"cut{suffix}"
        cut.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
        if readable:
            assert 0 < len(list(read_frames(cut))) < 30
        else:
            with pytest.raises(VideoError, match=str(cut)):
                list(read_frames(cut))


def test_prepared_split_round_trip(tmp_path: Path) -> None:
    n, s = 5, 16
    split = PreparedSplit(
        frames=np.zeros((n, s, s, 3), np.uint8),
        landmarks=np.zeros((n, 68, 2), np.float32),
        masks=np.ones((n, s, s), np.uint8),
        index=np.arange(n),
        gt={"B": np.full((n, s, s, 3), 7, np.uint8)},
    )
    save_split(tmp_path, "test", split)
    back = load_split(tmp_path, "test")
    assert len(back) == n and back.size == s and isinstance(back.frames, np.memmap)
    assert set(back.gt) == {"B"} and int(back.gt["B"][0, 0, 0, 0]) == 7
    with pytest.raises(PreparedDataError, match="train"):
        load_split(tmp_path, "train")
    bad = PreparedSplit(split.frames, split.landmarks[:2], split.masks, split.index)
    with pytest.raises(PreparedDataError, match="landmarks"):
        save_split(tmp_path, "x", bad)


def test_encoding_the_same_frames_gives_the_same_bytes(tmp_path: Path) -> None:
    """Small talking-head frames encoded over and over in one process: with x264's macroblock tree
    on, about one encoding in 15 of exactly these frames came out different (other bytes, decoded
    pixels up to 39 levels apart), which broke the DVC-vs-Snakemake equality of the synthetic data."""
    from faceoff.synth.person_videos import person_identity, person_motion
    from faceoff.synth.render import render_face

    identity, motion = person_identity(0, "054"), person_motion(0, "054", 30, 25.0)
    frames = np.stack([render_face(identity, f.expression, f.pose, f.lighting, 64).image for f in motion])
    encodings = set()
    for k in range(60):
        write_video(tmp_path / f"{k}.mp4", frames, 25.0)
        encodings.add((tmp_path / f"{k}.mp4").read_bytes())
    assert len(encodings) == 1
