"""Face crops of still images (JAFFE, portrait sets): find the face, cut a square around it, mask it.

Each image is independent, so one that cannot be read or shows no face is skipped and
reported by path; only a split left with no image at all is an error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faceoff.datasets.prepared import PreparedSplit
from faceoff.datasets.registry import DatasetError
from faceoff.datasets.stills import read_annotations, read_still
from faceoff.faces.crop import apply_affine, crop_and_resize, inside_frame, landmark_box, square_box
from faceoff.faces.detect import make_detector, pick_face
from faceoff.faces.landmarks import make_landmarker
from faceoff.faces.mask import face_mask
from faceoff.io.progress import progress_bar
from faceoff.prepare.report import StepTimer
from faceoff.synth.formats import ANNOTATIONS

STILL_DEFAULTS: dict[str, Any] = {"margin": 0.3, "detector": "mtcnn", "landmarks": "dlib"}


@dataclass(frozen=True)
class Still:
    """One image to prepare: where it goes and what travels with it."""

    path: Path
    key: str  # its name in the annotations and the report (path relative to the source)
    split: str
    index: int  # ordinal in the item's full listing
    extra: dict[str, Any] = field(default_factory=dict)  # per-image values saved as arrays
    groundtruth: dict[str, Path] = field(default_factory=dict)  # other item -> its ideal translation


# One kept image: still, crop, landmarks, face mask, ground-truth crops, inside-the-frame pixels.
_Row = tuple[Still, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]


class _FaceFinder:
    """Landmarks of the one face in an image from annotations, a detector + landmarker, or a mix."""

    def __init__(self, settings: Mapping[str, Any], source: Path) -> None:
        self.several: list[str] = []
        self.annotations: dict[str, np.ndarray] = {}
        if "annotations" in (settings["detector"], settings["landmarks"]):
            self.annotations = read_annotations(source)
            if not self.annotations:
                raise DatasetError(
                    f"{source / ANNOTATIONS}: landmark annotations not found (needed by 'annotations')"
                )
        self._detector = (
            None if settings["detector"] == "annotations" else make_detector(settings["detector"])
        )
        self._landmarker = (
            None if settings["landmarks"] == "annotations" else make_landmarker(settings["landmarks"])
        )

    def __call__(self, image: np.ndarray, key: str) -> np.ndarray | None:
        """The face's landmarks, or None; ``self.several`` collects the keys of crowded images."""
        annotated = self.annotations.get(key)
        if self._detector is None:
            box = None if annotated is None else landmark_box(annotated)
        else:
            pick = pick_face(self._detector.detect(image), image.shape)
            if pick.n_faces > 1:
                self.several.append(key)
            box = None if pick.detection is None else pick.detection.box
        if box is None:
            return None
        if self._landmarker is None:
            return annotated
        return self._landmarker.predict(image, box)


def cut_stills(
    stills: Sequence[Still],
    settings: Mapping[str, Any],
    source: Path,
    mode: str,
    timer: StepTimer,
    progress: bool,
    desc: str,
) -> tuple[dict[str, PreparedSplit], dict[str, str], list[str]]:
    """Crop every still at ``settings['size']``; returns the splits, the skipped paths with why,
    and the images in which the detector found several faces (the most confident large one kept).

    ``source`` holds the annotations (``Still.key`` is relative to it); ``mode`` is the PIL mode
    images are read in (``L`` forces grayscale); crops are always RGB.
    """
    size, margin = int(settings["size"]), float(settings["margin"])
    with timer.step("load_models"):
        find = _FaceFinder(settings, source)
    rows: dict[str, list[_Row]] = {}
    skipped: dict[str, str] = {}
    bar = progress_bar(stills, desc=desc, unit="image", enabled=progress)
    for still in bar:
        try:
            with timer.step("decode"):
                image = _rgb(read_still(still.path, mode))
                gts = {other: _rgb(read_still(path, mode)) for other, path in still.groundtruth.items()}
        except DatasetError as exc:
            skipped[str(still.path)] = str(exc)
            continue
        with timer.step("detect"):
            points = find(image, still.key)
        if points is None:
            skipped[str(still.path)] = "no face found"
            continue
        with timer.step("crop"):
            box = square_box(landmark_box(points), margin)
            crop, affine = crop_and_resize(image, box, size)
            valid = inside_frame(image.shape, box, size)
            local = apply_affine(points, affine)
            gt_crops = {other: crop_and_resize(gt, box, size)[0] for other, gt in gts.items()}
        with timer.step("mask"):
            mask = face_mask(local, size)
        rows.setdefault(still.split, []).append((still, crop, local, mask, gt_crops, valid))
    return {name: _stack(kept) for name, kept in rows.items()}, skipped, find.several


def skip_summary(skipped: Mapping[str, str]) -> dict[str, int]:
    """Skipped images counted by reason (the reason without its path)."""
    return dict(Counter(_reason(path, why) for path, why in skipped.items()))


def _reason(path: str, why: str) -> str:
    return why.removeprefix(f"{path}: ").split(" (")[0]


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image


def _stack(kept: Sequence[_Row]) -> PreparedSplit:
    stills = [row[0] for row in kept]
    return PreparedSplit(
        frames=np.stack([row[1] for row in kept]),
        landmarks=np.stack([row[2] for row in kept]),
        masks=np.stack([row[3] for row in kept]),
        index=np.array([s.index for s in stills], dtype=np.int64),
        gt={other: np.stack([row[4][other] for row in kept]) for other in stills[0].groundtruth},
        extra={name: np.array([s.extra[name] for s in stills]) for name in stills[0].extra},
        valid=np.stack([row[5] for row in kept]),
    )
