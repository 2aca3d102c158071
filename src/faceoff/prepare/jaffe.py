"""Prepare one JAFFE expression: face crops of every subject, split by subject, with labels."""

from __future__ import annotations

from typing import Any

from faceoff.datasets.jaffe import groundtruth_path, scan, split_subjects
from faceoff.prepare.job import PrepareError, PrepareJob
from faceoff.prepare.stills import STILL_DEFAULTS, Still, cut_stills, skip_summary

DEFAULTS: dict[str, Any] = {**STILL_DEFAULTS, "test_subjects": 2, "val_subjects": 0}


def prepare_jaffe(job: PrepareJob) -> dict[str, Any]:
    """All images of expression ``item``; arrays ``labels`` (expression index) and ``subjects`` ride along."""
    source, item, groundtruth = job.source, job.item, job.groundtruth
    settings = job.settings_with(DEFAULTS)
    timer = job.timer
    found = scan(source)
    images = [i for i in found.images if i.expression == item]
    if not images:
        raise PrepareError(f"{source}: no JAFFE image of expression {item} (<SUBJ>.{item}<n>.<id>.tiff)")
    # The split is over every subject in the folder, so all expressions share it.
    subjects = split_subjects(
        [i.subject for i in found.images], settings["test_subjects"], settings["val_subjects"]
    )
    split_of = {s: name for name, members in subjects.items() for s in members}
    stills = [
        Still(
            path=image.path,
            key=image.path.name,
            split=split_of[image.subject],
            index=k,
            extra={"labels": image.label, "subjects": image.subject},
            groundtruth={o: groundtruth_path(folder, image, o) for o, folder in groundtruth.items()},
        )
        for k, image in enumerate(images)
    ]
    splits, skipped, several = cut_stills(
        stills, settings, source, "L", timer, job.progress, f"prepare jaffe {item}: crop"
    )
    for name in ("train", "test"):
        if name not in splits:
            raise PrepareError(
                f"{source}: no usable {item} image of the {name} subjects {subjects.get(name)} "
                f"({len(skipped)} skipped: {skip_summary(skipped)})"
            )
    report = {
        "kind": "jaffe",
        "item": item,
        "source": str(source),
        "settings": settings,
        "images_found": len(images),
        "subjects": subjects,
        "split": {name: len(data) for name, data in splits.items()},
        "skipped": skip_summary({**found.skipped, **skipped}),
        "skipped_files": {**found.skipped, **skipped},
        "several_faces_kept_one": len(several),
        "several_faces_files": several,
        "ignored_files": found.ignored,
        "groundtruth": {o: str(p) for o, p in sorted(groundtruth.items())},
    }
    return job.save(splits, report)
