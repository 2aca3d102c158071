"""Person sources: one video file (any ffmpeg container) or one folder of frames per item."""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from faceoff.datasets.registry import DatasetError, DatasetKind, register
from faceoff.io.video import VIDEO_EXTENSIONS, probe_fps, probe_frame_count, read_frames
from faceoff.synth.person_videos import write_person_videos

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
log = logging.getLogger(__name__)


class SourceError(DatasetError):
    """A person's video or frames folder that is missing or empty; the message names the path."""


def find_person_sources(source_dir: str | os.PathLike[str], items: Iterable[str]) -> dict[str, Path]:
    """Map each item to ``<source_dir>/<item>.<video ext>`` or the frames folder ``<source_dir>/<item>/``."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise SourceError(f"{source_dir}: person source folder not found")
    entries = sorted(source_dir.iterdir())
    found: dict[str, Path] = {}
    for item in items:
        existing = [
            p
            for p in entries
            if (p.is_dir() and p.name == item)
            or (p.is_file() and p.stem == item and p.suffix.lower() in VIDEO_EXTENSIONS)
        ]
        if not existing:
            exts = "/".join(e.lstrip(".") for e in VIDEO_EXTENSIONS)
            raise SourceError(
                f"person {item!r}: no {item}.{{{exts}}} video or {item}/ frames folder in {source_dir}"
            )
        if len(existing) > 1:
            names = ", ".join(p.name for p in existing)
            raise SourceError(f"person {item!r}: several sources in {source_dir} ({names}); keep one")
        found[item] = existing[0]
    return found


def frame_files(folder: Path) -> list[Path]:
    """The image files of a frames folder in natural name order (frame_2 before frame_10).

    Hidden files (macOS ``._frame_1.png`` forks) are not frames, as for ingest's content check.
    """
    files = [
        p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    ]
    if not files:
        raise SourceError(f"{folder}: frames folder holds no {'/'.join(IMAGE_EXTENSIONS)} images")
    return sorted(files, key=_natural_key)


def iter_frames(path: str | os.PathLike[str], fps: float | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(source frame index, RGB frame)``; ``fps`` resamples videos (folders have no rate).

    An unreadable image in a frames folder is skipped with a warning (its index is missing).
    """
    path = Path(path)
    if path.is_dir():
        for index, file in enumerate(frame_files(path)):
            try:
                with Image.open(file) as image:
                    frame = np.asarray(image.convert("RGB"))
            except (OSError, ValueError) as exc:  # truncated, zero-byte, not an image
                log.warning("%s: unreadable frame skipped (%s)", file, exc)
                continue
            yield index, frame
        return
    # Resampling here rather than in read_frames keeps the source index of every kept frame.
    step = 1.0 if fps is None else max(1.0, probe_fps(path) / fps)
    next_pick = 0.0
    for index, frame in enumerate(read_frames(path)):
        if index + 1e-9 >= next_pick:
            next_pick += step
            yield index, frame


def count_frames(path: str | os.PathLike[str], fps: float | None = None) -> int | None:
    """How many frames :func:`iter_frames` yields, as far as the source says (None: unknown)."""
    path = Path(path)
    if path.is_dir():
        return len(frame_files(path))
    declared = probe_frame_count(path)
    if declared is None:
        return None
    return math.ceil(declared / (1.0 if fps is None else max(1.0, probe_fps(path) / fps)))


def _natural_key(path: Path) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def item_inputs(source: Path, item: str, settings: Mapping[str, Any] | None = None) -> list[Path]:
    """The item's video or frames folder; the source folder itself while the item is absent."""
    try:
        return [find_person_sources(source, [item])[item]]
    except SourceError:
        return [Path(source)]


def missing(source: Path, items: Iterable[str], settings: Mapping[str, Any] | None = None) -> list[str]:
    if not Path(source).is_dir():
        return [f"{source}: person source folder not found"]
    messages = []
    for item in items:
        try:
            find_person_sources(source, [item])
        except SourceError as exc:
            messages.append(str(exc))
    return messages


def validate(source: Path) -> dict[str, Any]:
    """The persons found: every video file and frames folder at the top of ``source``."""
    source = Path(source)
    if not source.is_dir():
        raise SourceError(f"{source}: person source folder not found")
    items = sorted(
        p.stem if p.is_file() else p.name
        for p in source.iterdir()
        if not p.name.startswith((".", "__"))  # .DS_Store, __MACOSX/
        and ((p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS) or (p.is_dir() and _holds_frames(p)))
    )
    if not items:
        exts = "/".join(e.lstrip(".") for e in VIDEO_EXTENSIONS)
        raise SourceError(f"{source}: no <person>.{{{exts}}} video or <person>/ frames folder")
    return {"items": items}


def _holds_frames(folder: Path) -> bool:
    """A frames folder holds images itself (a folder of videos is a wrapper, not a person)."""
    return folder.name != "groundtruth" and any(
        p.suffix.lower() in IMAGE_EXTENSIONS for p in folder.iterdir()
    )


def groundtruth(
    source: Path, item: str, others: Iterable[str], settings: Mapping[str, Any] | None = None
) -> dict[str, Path]:
    """Synthetic renderings ``groundtruth/<item>_as_<other>.mp4`` that exist."""
    paths = {other: Path(source) / "groundtruth" / f"{item}_as_{other}.mp4" for other in others}
    return {other: path for other, path in paths.items() if path.is_file()}


register(
    DatasetKind(
        name="person_videos",
        item_inputs=item_inputs,
        missing=missing,
        validate=validate,
        groundtruth=groundtruth,
        prepare="faceoff.prepare.persons:prepare_person_item",
        synth=write_person_videos,
        readers={"find_sources": find_person_sources, "iter_frames": iter_frames},
    )
)
