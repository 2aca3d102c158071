"""JAFFE as distributed: one flat folder of ``<SUBJ>.<EXP><n>.<id>.tiff`` (e.g. ``KA.AN1.39.tiff``).

An item is an expression code (``NE``, ``HA``, ...), so a pair ``NE2HA`` translates neutral to
happy faces. Files that are not TIFF (READMEs) are ignored; TIFFs whose name does not parse are
reported and skipped. Splits are by subject, so no person is seen in training and testing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceoff.datasets.registry import DatasetError, DatasetKind, register
from faceoff.datasets.stills import read_still
from faceoff.synth.formats import (
    ANNOTATIONS,
    JAFFE_CODES,
    JAFFE_GROUNDTRUTH,
    jaffe_groundtruth_name,
    write_jaffe,
)

EXPRESSIONS = JAFFE_CODES
_NAME = re.compile(r"^(?P<subject>[A-Za-z]{2,})\.(?P<expression>[A-Z]{2})(?P<n>\d+)\.(?P<id>\d+)\.tiff?$")
_TIFF = (".tif", ".tiff")


@dataclass(frozen=True)
class JaffeImage:
    path: Path
    subject: str
    expression: str
    n: int
    id: int

    @property
    def label(self) -> int:
        return EXPRESSIONS.index(self.expression)


@dataclass(frozen=True)
class JaffeScan:
    images: list[JaffeImage]
    skipped: dict[str, str]  # path -> why
    ignored: list[str]  # non-TIFF files (READMEs)


def parse_name(path: Path) -> JaffeImage | None:
    match = _NAME.match(path.name)
    if match is None or match["expression"] not in EXPRESSIONS:
        return None
    return JaffeImage(path, match["subject"].upper(), match["expression"], int(match["n"]), int(match["id"]))


def scan(source: Path) -> JaffeScan:
    """All parseable images of the flat folder, sorted by name; bad names are kept aside, not fatal."""
    source = Path(source)
    if not source.is_dir():
        raise DatasetError(f"{source}: JAFFE folder not found")
    images, skipped, ignored = [], {}, []
    for path in sorted(p for p in source.iterdir() if p.is_file()):
        if path.suffix.lower() not in _TIFF:
            if path.name != ANNOTATIONS:
                ignored.append(path.name)
            continue
        parsed = parse_name(path)
        if parsed is None:
            skipped[str(path)] = (
                f"name does not parse as <SUBJ>.<EXP><n>.<id>.tiff with EXP in {' '.join(EXPRESSIONS)}"
            )
        else:
            images.append(parsed)
    return JaffeScan(images, skipped, ignored)


def read_gray(path: Path) -> np.ndarray:
    """The image as 8-bit grayscale (H, W): the few 3-channel JAFFE files are converted."""
    return read_still(path, mode="L")


def split_subjects(
    subjects: Sequence[str], test: int | Sequence[str], val: int | Sequence[str] = 0
) -> dict[str, list[str]]:
    """Subject-disjoint splits: named subjects, or the last ``test`` (then ``val``) in sorted order."""
    pool = sorted(set(subjects))
    out: dict[str, list[str]] = {}
    for name, wanted in (("test", test), ("val", val)):
        if isinstance(wanted, int):
            chosen = pool[len(pool) - wanted :] if wanted else []
        else:
            unknown = sorted(set(wanted) - set(pool))
            if unknown:
                raise DatasetError(f"JAFFE {name} subjects {unknown} not among the subjects found: {pool}")
            chosen = sorted(wanted)
        pool = [s for s in pool if s not in chosen]
        out[name] = chosen
    if not pool:
        raise DatasetError(f"JAFFE: no training subject left after the test/val subjects {out}")
    return {"train": pool, **{k: v for k, v in out.items() if v}}


def item_inputs(source: Path, item: str, settings: Mapping[str, Any] | None = None) -> list[Path]:
    """The TIFFs of one expression (the folder itself while it is absent or holds none)."""
    if not Path(source).is_dir():
        return [Path(source)]
    files = [image.path for image in scan(source).images if image.expression == item]
    return files or [Path(source)]


def missing(source: Path, items: Sequence[str], settings: Mapping[str, Any] | None = None) -> list[str]:
    source = Path(source)
    if not source.is_dir():
        return [f"{source}: JAFFE folder not found (put the flat folder of <SUBJ>.<EXP><n>.<id>.tiff there)"]
    found = {image.expression for image in scan(source).images}
    messages = []
    for item in items:
        if item not in EXPRESSIONS:
            messages.append(f"JAFFE item {item!r} is not an expression code ({' '.join(EXPRESSIONS)})")
        elif item not in found:
            messages.append(f"{source}: no <SUBJ>.{item}<n>.<id>.tiff image")
    return messages


def validate(source: Path) -> dict[str, Any]:
    result = scan(source)
    if not result.images:
        raise DatasetError(f"{source}: no JAFFE image named <SUBJ>.<EXP><n>.<id>.tiff")
    return {
        "images": len(result.images),
        "subjects": sorted({i.subject for i in result.images}),
        "per_expression": {e: sum(i.expression == e for i in result.images) for e in EXPRESSIONS},
        "skipped": result.skipped,
        "ignored": result.ignored,
    }


def groundtruth(
    source: Path, item: str, others: Sequence[str], settings: Mapping[str, Any] | None = None
) -> dict[str, Path]:
    """The ground-truth folder for every other expression it holds renderings of."""
    folder = Path(source) / JAFFE_GROUNDTRUTH
    return {o: folder for o in others if folder.is_dir() and any(folder.glob(f"*.{item}*_as_{o}.tif*"))}


def groundtruth_path(folder: Path, image: JaffeImage, other: str) -> Path:
    return folder / jaffe_groundtruth_name(image.path.name, other)


register(
    DatasetKind(
        name="jaffe",
        item_inputs=item_inputs,
        missing=missing,
        validate=validate,
        groundtruth=groundtruth,
        prepare="faceoff.prepare.jaffe:prepare_jaffe",
        synth=write_jaffe,
        readers={"scan": scan, "read_gray": read_gray, "split_subjects": split_subjects},
    )
)
