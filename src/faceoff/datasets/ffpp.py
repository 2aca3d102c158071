"""FaceForensics++ originals as distributed: ``original_sequences/youtube/<quality>/videos/NNN.mp4``.

``splits/{train,val,test}.json`` are JSON lists of ``["071", "054"]`` pairs (source, target of
a manipulation); a pair puts both of its ids in that split. An item is one video id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from faceoff.datasets.registry import DatasetError, DatasetKind, register
from faceoff.synth.formats import write_ffpp

QUALITIES = ("raw", "c0", "c23", "c40")
SPLIT_NAMES = ("train", "val", "test")
DEFAULT_QUALITY = "c23"


def videos_dir(source: Path, quality: str = DEFAULT_QUALITY) -> Path:
    if quality not in QUALITIES:
        raise DatasetError(f"FaceForensics++ quality {quality!r} is not one of {', '.join(QUALITIES)}")
    return Path(source) / "original_sequences" / "youtube" / quality / "videos"


def video_path(source: Path, item: str, quality: str = DEFAULT_QUALITY) -> Path:
    return videos_dir(source, quality) / f"{item}.mp4"


def read_splits(source: Path) -> dict[str, str]:
    """Video id -> ``train``/``val``/``test`` from ``splits/*.json``; an id in two splits is an error."""
    of: dict[str, str] = {}
    for name in SPLIT_NAMES:
        path = Path(source) / "splits" / f"{name}.json"
        if not path.is_file():
            raise DatasetError(f"{path}: FaceForensics++ split file not found")
        try:
            pairs = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{path}: not valid JSON ({exc})") from exc
        if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(v, str) for v in p) for p in pairs
        ):
            raise DatasetError(f'{path}: expected a JSON list of ["NNN", "NNN"] pairs')
        for video in (v for pair in pairs for v in pair):
            if of.setdefault(video, name) != name:
                raise DatasetError(f"{path}: video {video} is also in the {of[video]} split")
    return of


def missing_split_videos(source: Path) -> list[tuple[Path, str]]:
    """(split file, what is missing) for every split entry without its video, in each quality present.

    Prepare would otherwise fail on the first such id of an item list, or a test split would
    silently shrink.
    """
    source = Path(source)
    present = {q: {p.stem for p in videos_dir(source, q).glob("*.mp4")} for q in QUALITIES}
    present = {q: ids for q, ids in present.items() if ids}
    out = []
    for name in SPLIT_NAMES:
        path = source / "splits" / f"{name}.json"
        named = sorted({v for pair in json.loads(path.read_text()) for v in pair})
        for q, ids in present.items():
            out += [(path, f"video {v}: {video_path(source, v, q)} not found") for v in named if v not in ids]
    return out


def quality(settings: Mapping[str, Any] | None) -> str:
    return (settings or {}).get("quality", DEFAULT_QUALITY)


def item_inputs(source: Path, item: str, settings: Mapping[str, Any] | None = None) -> list[Path]:
    return [video_path(source, item, quality(settings))]


def missing(source: Path, items: Sequence[str], settings: Mapping[str, Any] | None = None) -> list[str]:
    source = Path(source)
    if not source.is_dir():
        return [f"{source}: FaceForensics++ folder not found (original_sequences/ and splits/ go there)"]
    messages = [
        f"FaceForensics++ video {item}: {path} not found"
        for item in items
        for path in item_inputs(source, item, settings)
        if not path.is_file()
    ]
    messages += [
        f"{path}: FaceForensics++ split file not found"
        for path in (source / "splits" / f"{name}.json" for name in SPLIT_NAMES)
        if not path.is_file()
    ]
    return messages


def validate(source: Path) -> dict[str, Any]:
    """Qualities present, video count per quality and split sizes."""
    source = Path(source)
    qualities = {q: sorted(p.stem for p in videos_dir(source, q).glob("*.mp4")) for q in QUALITIES}
    qualities = {q: ids for q, ids in qualities.items() if ids}
    if not qualities:
        raise DatasetError(
            f"{source}: no original_sequences/youtube/<{'|'.join(QUALITIES)}>/videos/NNN.mp4 video"
        )
    splits = read_splits(source)
    return {
        "videos": {q: len(ids) for q, ids in qualities.items()},
        "splits": {name: sum(s == name for s in splits.values()) for name in SPLIT_NAMES},
    }


def groundtruth(
    source: Path, item: str, others: Sequence[str], settings: Mapping[str, Any] | None = None
) -> dict[str, Path]:
    """Synthetic renderings ``videos/groundtruth/<item>_as_<other>.mp4`` that exist."""
    paths = {o: videos_dir(source, quality(settings)) / "groundtruth" / f"{item}_as_{o}.mp4" for o in others}
    return {o: p for o, p in paths.items() if p.is_file()}


register(
    DatasetKind(
        name="ffpp",
        item_inputs=item_inputs,
        missing=missing,
        validate=validate,
        groundtruth=groundtruth,
        prepare="faceoff.prepare.ffpp:prepare_ffpp",
        synth=write_ffpp,
        readers={"video_path": video_path, "read_splits": read_splits, "references": missing_split_videos},
    )
)
