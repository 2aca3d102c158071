"""300VW as distributed: ``NNN/vid.avi`` plus ``NNN/annot/000001.pts`` (one file per frame, from 1).

A ``.pts`` file reads ``version: 1`` (or ``1.0``), ``n_points:  68``, ``{``, 68 lines ``x y``,
``}``, with 1-based coordinates; they are returned 0-based. Some test videos have more frames
than annotations (or the reverse): :func:`read_annotations` reports it, the preparer keeps the
frames both cover.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceoff.datasets.registry import DatasetError, DatasetKind, no_groundtruth, register
from faceoff.synth.formats import write_300vw

N_POINTS = 68
VIDEO = "vid.avi"
ANNOT = "annot"
_PTS = re.compile(r"^\d{6}\.pts$")

# The official split (train, test categories 1-3), see ../shared/seeds/README.md.
_SPLIT_IDS = {
    "train": "001 002 003 004 007 009 010 011 013 015 016 017 018 019 020 022 025 027 028 029 031 033 034 "
    "035 037 039 041 043 044 046 047 048 049 053 057 059 112 113 115 119 120 123 138 143 144 160 204 205 "
    "223 225",
    "test1": "114 124 125 126 150 158 401 402 505 506 507 508 509 510 511 514 515 518 519 520 521 522 524 "
    "525 537 538 540 541 546 547 548",
    "test2": "203 208 211 212 213 214 218 224 403 404 405 406 407 408 409 412 550 551 553",
    "test3": "410 411 516 517 526 528 529 530 531 533 557 558 559 562",
}
CATEGORY = {vid: name for name, ids in _SPLIT_IDS.items() for vid in ids.split()}


class PtsError(DatasetError):
    """A ``.pts`` file that does not hold 68 points in the 300VW layout; the message names it."""


@dataclass(frozen=True)
class Annotations:
    """A video's landmarks (n, 68, 2) 0-based, NaN where a file was bad, and what went wrong."""

    landmarks: np.ndarray
    files: list[Path]
    bad: dict[str, str]  # path -> why
    gaps: list[int]  # 1-based frame numbers without a file before the last one


def official_split(video_id: str) -> tuple[str, str]:
    """(``train`` | ``test``, category ``train``/``test1``/``test2``/``test3``); unknown ids are test."""
    category = CATEGORY.get(video_id, "unlisted")
    return ("train" if category == "train" else "test"), category


def read_pts(path: Path) -> np.ndarray:
    """One frame's 68 points, 0-based (x, y) float32."""
    try:
        lines = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise PtsError(f"{path}: unreadable .pts file ({exc})") from exc
    if len(lines) < 3 or not lines[0].startswith("version:") or not lines[1].startswith("n_points:"):
        raise PtsError(f"{path}: not a .pts file (expected 'version:' and 'n_points:' header lines)")
    try:
        declared = int(lines[1].split(":", 1)[1])
    except ValueError as exc:
        raise PtsError(f"{path}: bad n_points line {lines[1]!r}") from exc
    if lines[2] != "{" or lines[-1] != "}":
        raise PtsError(f"{path}: points are not enclosed in '{{' and '}}'")
    body = lines[3:-1]
    if declared != N_POINTS or len(body) != N_POINTS:
        raise PtsError(f"{path}: {len(body)} points (n_points: {declared}), expected {N_POINTS}")
    try:
        points = np.array([[float(v) for v in line.split()] for line in body], dtype=np.float32)
    except ValueError as exc:
        raise PtsError(f"{path}: a point is not two numbers ({exc})") from exc
    if points.shape != (N_POINTS, 2):
        raise PtsError(f"{path}: a point line does not hold exactly x and y")
    if not np.isfinite(points).all():
        raise PtsError(f"{path}: a point is not a finite number (nan or inf)")
    return points - 1.0


def read_annotations(video_dir: Path) -> Annotations:
    """All ``annot/NNNNNN.pts`` of a video, frame k (1-based) in row k - 1; bad files become NaN rows."""
    folder = Path(video_dir) / ANNOT
    if not folder.is_dir():
        raise DatasetError(f"{folder}: annotation folder not found")
    files = sorted(p for p in folder.iterdir() if _PTS.match(p.name))
    if not files:
        raise DatasetError(f"{folder}: no NNNNNN.pts annotation file")
    n = int(files[-1].stem)
    landmarks = np.full((n, N_POINTS, 2), np.nan, dtype=np.float32)
    bad: dict[str, str] = {}
    for path in files:
        try:
            landmarks[int(path.stem) - 1] = read_pts(path)
        except PtsError as exc:
            bad[str(path)] = str(exc)
    present = {int(p.stem) for p in files}
    gaps = [k for k in range(1, n + 1) if k not in present]
    return Annotations(landmarks, files, bad, gaps)


def video_path(source: Path, item: str) -> Path:
    return Path(source) / item / VIDEO


def item_inputs(source: Path, item: str, settings: Mapping[str, Any] | None = None) -> list[Path]:
    return [video_path(source, item), Path(source) / item / ANNOT]


def missing(source: Path, items: Sequence[str], settings: Mapping[str, Any] | None = None) -> list[str]:
    source = Path(source)
    if not source.is_dir():
        return [f"{source}: 300VW folder not found (put the NNN/vid.avi + NNN/annot/ folders there)"]
    return [
        f"300VW video {item}: {path} not found"
        for item in items
        for path in item_inputs(source, item)
        if not path.exists()
    ]


def validate(source: Path) -> dict[str, Any]:
    source = Path(source)
    if not source.is_dir():
        raise DatasetError(f"{source}: 300VW folder not found")
    videos = sorted(p.name for p in source.iterdir() if p.is_dir() and re.fullmatch(r"\d{3}", p.name))
    if not videos:
        raise DatasetError(
            f"{source}: no NNN/ video folder (300VW layout: NNN/vid.avi, NNN/annot/000001.pts)"
        )
    problems = missing(source, videos)
    if problems:
        raise DatasetError("incomplete 300VW layout:\n  " + "\n  ".join(problems))
    return {"videos": videos, "categories": {v: official_split(v)[1] for v in videos}}


register(
    DatasetKind(
        name="300vw",
        item_inputs=item_inputs,
        missing=missing,
        validate=validate,
        groundtruth=no_groundtruth,
        prepare="faceoff.prepare.vw300:prepare_300vw",
        synth=write_300vw,
        readers={
            "read_pts": read_pts,
            "read_annotations": read_annotations,
            "official_split": official_split,
        },
    )
)
