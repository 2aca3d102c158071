"""Prepare one portrait domain (photo or painting): deduplicate, draw train/val/test, crop the faces."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from faceoff.datasets.portraits import DEFAULT_SPLIT, domain_dir, scan, split_files
from faceoff.datasets.prepared import save_split
from faceoff.io.atomic import atomic_dir, write_json
from faceoff.prepare.persons import PrepareError
from faceoff.prepare.registry import register_preparer
from faceoff.prepare.report import StepTimer
from faceoff.prepare.stills import STILL_DEFAULTS, Still, cut_stills, skip_summary

DEFAULTS: dict[str, Any] = {**STILL_DEFAULTS, "split": DEFAULT_SPLIT, "seed": 0}


@register_preparer("portraits")
def prepare_portraits(
    source: Path,
    item: str,
    out_dir: Path,
    settings: dict[str, Any],
    groundtruth: dict[str, Path],
    progress: bool,
) -> dict[str, Any]:
    """The split is drawn before detection: images without a face shrink their split (reported)."""
    settings = {**DEFAULTS, **settings}
    if "size" not in settings:
        raise PrepareError(f"portraits/{item}: prepare setting 'size' is missing")
    timer, start = StepTimer(), time.perf_counter()
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
        stills, settings, source, "RGB", timer, progress, f"prepare portraits {item}: crop"
    )
    for name in drawn:
        if name not in splits:
            raise PrepareError(
                f"{folder}: no usable image left in the {name} split ({skip_summary(skipped)})"
            )
    with atomic_dir(out_dir) as tmp:
        for name, data in splits.items():
            save_split(tmp, name, data)
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
            "timing_s": {**timer.summary(), "total": round(time.perf_counter() - start, 3)},
        }
        write_json(tmp / "report.json", report)
    return report
