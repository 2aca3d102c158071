"""Prepare one portrait domain (photo or painting): deduplicate, draw train/val/test, crop the faces."""

from __future__ import annotations

from typing import Any

from faceoff.datasets.portraits import DEFAULT_SPLIT, domain_dir, scan, split_files
from faceoff.prepare.job import PrepareError, PrepareJob
from faceoff.prepare.stills import STILL_DEFAULTS, Still, cut_stills, skip_summary

DEFAULTS: dict[str, Any] = {**STILL_DEFAULTS, "split": DEFAULT_SPLIT, "seed": 0}


def prepare_portraits(job: PrepareJob) -> dict[str, Any]:
    """The split is drawn before detection: images without a face shrink their split (reported)."""
    source, item = job.source, job.item
    settings = job.settings_with(DEFAULTS)
    timer = job.timer
    folder = domain_dir(source, item)
    with timer.step("scan"):
        found = scan(folder)
    if not found.files:
        raise PrepareError(f"{folder}: no image (after dropping {len(found.duplicates)} duplicates)")
    drawn, split_info = split_files(found.files, settings["split"], settings["seed"])
    ordinal = {path: k for k, path in enumerate(found.files)}
    stills = [
        Still(path=path, key=path.relative_to(source).as_posix(), split=name, index=ordinal[path])
        for name, paths in drawn.items()
        for path in paths
    ]
    splits, skipped, several = cut_stills(
        stills, settings, source, "RGB", timer, job.progress, f"prepare portraits {item}: crop"
    )
    for name in drawn:
        if name not in splits:
            raise PrepareError(
                f"{folder}: no usable image left in the {name} split ({skip_summary(skipped)})"
            )
    report = {
        "kind": "portraits",
        "item": item,
        "source": str(folder),
        "settings": settings,
        "images_found": len(found.files) + len(found.duplicates) + len(found.skipped),
        "duplicates_dropped": len(found.duplicates),
        "duplicates": found.duplicates,
        "split": {**split_info, **{name: len(data) for name, data in splits.items()}},
        "skipped": skip_summary({**found.skipped, **skipped}),
        "skipped_files": {**found.skipped, **skipped},
        "several_faces_kept_one": len(several),
        "several_faces_files": several,
    }
    return job.save(splits, report)
