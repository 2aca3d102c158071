"""One preparer per dataset kind, behind ``prepare_item``; each writes the prepared format + report.json.

A preparer is ``(source, item, out_dir, settings, groundtruth, progress) -> report`` where
``source`` is the dataset's raw folder and ``groundtruth`` maps other items to the paths the
kind's ``DatasetKind.groundtruth`` returned. Kind modules register on import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from faceoff.datasets.person_videos import find_person_sources
from faceoff.datasets.registry import DatasetError
from faceoff.prepare.persons import PrepareError, prepare_person

Preparer = Callable[[Path, str, Path, dict[str, Any], dict[str, Path], bool], dict[str, Any]]
_MODULES = ("jaffe", "vw300", "portraits", "ffpp")
PREPARERS: dict[str, Preparer] = {}


def register_preparer(kind: str) -> Callable[[Preparer], Preparer]:
    def decorate(preparer: Preparer) -> Preparer:
        if kind in PREPARERS:
            raise ValueError(f"preparer for {kind!r} registered twice")
        PREPARERS[kind] = preparer
        return preparer

    return decorate


def prepare_item(
    kind: str,
    source: str | Path,
    item: str,
    out_dir: str | Path,
    settings: Mapping[str, Any],
    groundtruth: Mapping[str, Path] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Prepare one item of a dataset of ``kind``; on failure ``out_dir`` is left as it was.

    Unusable raw data raises :class:`PrepareError` naming the file.
    """
    for module in _MODULES:
        importlib.import_module(f"faceoff.prepare.{module}")
    if kind not in PREPARERS:
        raise ValueError(f"no preparer for dataset kind {kind!r} (have {', '.join(sorted(PREPARERS))})")
    try:
        return PREPARERS[kind](
            Path(source), item, Path(out_dir), dict(settings), dict(groundtruth or {}), progress
        )
    except DatasetError as exc:
        raise PrepareError(str(exc)) from exc


@register_preparer("person_videos")
def _prepare_person_item(
    source: Path,
    item: str,
    out_dir: Path,
    settings: dict[str, Any],
    groundtruth: dict[str, Path],
    progress: bool,
) -> dict[str, Any]:
    video = find_person_sources(source, [item])[item]
    return prepare_person(video, item, out_dir, settings, groundtruth or None, progress)
