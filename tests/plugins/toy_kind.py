"""A test-only dataset kind, registered by this one file: reader, preparer, synthetic writer, validation.

Layout: ``<source>/<item>/<k>.png`` face images, and ``<source>/annotations.json`` with their
landmarks (the still-image convention the ``annotations`` detector reads). Named by the params
``plugins:`` list, it proves a dataset kind is one module plus params: synth, prepare, ingest
and the DAG's inputs use it like a built-in kind.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from faceoff.datasets.registry import DatasetError, DatasetKind, no_groundtruth, register
from faceoff.io.atomic import write_json
from faceoff.prepare.job import PrepareError, PrepareJob
from faceoff.prepare.stills import Still, cut_stills, skip_summary
from faceoff.synth import (
    SynthSpec,
    person_identity,
    render_face,
    sample_expression,
    sample_lighting,
    sample_pose,
)
from faceoff.synth.formats import ANNOTATIONS

NAME = "toy_stills"
DEFAULTS = {"margin": 0.3, "detector": "annotations", "landmarks": "annotations"}


def images(source: Path, item: str) -> list[Path]:
    return sorted(Path(source, item).glob("*.png"), key=lambda p: int(p.stem))


def item_inputs(source: Path, item: str, settings: Mapping[str, Any] | None = None) -> list[Path]:
    return [Path(source) / item]


def missing(source: Path, items: Iterable[str], settings: Mapping[str, Any] | None = None) -> list[str]:
    return [f"{Path(source) / item}: no <k>.png image" for item in items if not images(source, item)]


def validate(source: Path) -> dict[str, Any]:
    if not (Path(source) / ANNOTATIONS).is_file():
        raise DatasetError(f"{Path(source) / ANNOTATIONS}: landmark annotations not found")
    counts = {p.name: len(images(source, p.name)) for p in sorted(Path(source).iterdir()) if p.is_dir()}
    if not any(counts.values()):
        raise DatasetError(f"{source}: no <item>/<k>.png image")
    return {"items": counts}


def write_toy(out_dir: str | os.PathLike[str], spec: SynthSpec) -> None:
    """``spec.n_frames`` renderings of each item's person, in random expressions, poses and light."""
    out, landmarks = Path(out_dir), {}
    for item in spec.items:
        rng = np.random.default_rng([spec.seed, zlib.crc32(item.encode())])
        for k in range(spec.n_frames):
            face = render_face(
                person_identity(spec.seed, item),
                sample_expression(rng),
                sample_pose(rng),
                sample_lighting(rng),
                spec.size,
            )
            path = out / item / f"{k}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(face.image).save(path)
            landmarks[f"{item}/{k}.png"] = face.landmarks.round(3).tolist()
    write_json(out / ANNOTATIONS, landmarks)


def prepare_toy(job: PrepareJob) -> dict[str, Any]:
    """Face crops of the item's images: the last quarter is the test split, the rest train."""
    settings, timer = job.settings_with(DEFAULTS), job.timer
    files = images(job.source, job.item)
    n_test = max(1, len(files) // 4)
    stills = [
        Still(
            path=path,
            key=f"{job.item}/{path.name}",
            split="test" if k >= len(files) - n_test else "train",
            index=k,
        )
        for k, path in enumerate(files)
    ]
    splits, skipped, _ = cut_stills(
        stills, settings, job.source, "RGB", timer, job.progress, f"prepare toy {job.item}"
    )
    if set(splits) != {"train", "test"}:
        raise PrepareError(f"{job.source / job.item}: too few usable images ({skip_summary(skipped)})")
    report = {
        "kind": NAME,
        "item": job.item,
        "settings": settings,
        "split": {name: len(data) for name, data in splits.items()},
        "skipped": skip_summary(skipped),
    }
    return job.save(splits, report)


register(
    DatasetKind(
        name=NAME,
        item_inputs=item_inputs,
        missing=missing,
        validate=validate,
        groundtruth=no_groundtruth,
        prepare=prepare_toy,
        synth=write_toy,
        readers={"images": images},
    )
)
