"""``prepare_item``: run the preparer of a dataset's kind (``DatasetKind.prepare``) on one item.

A preparer is ``(job: PrepareJob) -> report``; it writes the prepared format + report.json.
The names the ``prepare`` settings choose from (detectors, landmark predictors) are listed
here for the params validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from faceoff.datasets.registry import DatasetError, get_kind
from faceoff.faces.detect import DETECTORS
from faceoff.faces.landmarks import LANDMARKERS
from faceoff.prepare.job import PrepareError, PrepareJob

# Detector and landmarks setting that reads the dataset's landmark annotations instead.
ANNOTATIONS = "annotations"


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
    preparer = get_kind(kind).preparer()
    job = PrepareJob(
        kind, Path(source), item, Path(out_dir), dict(settings), dict(groundtruth or {}), progress
    )
    try:
        return preparer(job)
    except DatasetError as exc:
        raise PrepareError(str(exc)) from exc


def detector_names() -> list[str]:
    return [*DETECTORS, ANNOTATIONS]


def landmarker_names() -> list[str]:
    return [*LANDMARKERS, ANNOTATIONS]
