"""Prepare one FaceForensics++ original video: a person video, plus its official split in the report.

The face-swap study extracts frames of each video as that person's training set, exactly as
for person videos, so the person preparer does the work.
"""

from __future__ import annotations

from typing import Any

from faceoff.datasets.ffpp import DEFAULT_QUALITY, read_splits, video_path
from faceoff.datasets.registry import DatasetError
from faceoff.io.atomic import write_json
from faceoff.prepare.job import PrepareJob
from faceoff.prepare.persons import prepare_person


def prepare_ffpp(job: PrepareJob) -> dict[str, Any]:
    source, item, settings = job.source, job.item, dict(job.settings)
    quality = settings.pop("quality", DEFAULT_QUALITY)
    video = video_path(source, item, quality)
    if not video.is_file():
        raise DatasetError(f"FaceForensics++ video {item}: {video} not found")
    try:
        official = read_splits(source).get(item)
    except DatasetError as exc:
        official = f"unknown ({exc})"
    report = prepare_person(video, item, job.out_dir, settings, dict(job.groundtruth) or None, job.progress)
    report.update(kind="ffpp", quality=quality, official_split=official)
    write_json(job.out_dir / "report.json", report)
    return report
