"""Face detectors behind one interface: ``.detect(image) -> list[Detection]``."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Detection:
    """A face box ``(x0, y0, x1, y1)`` in pixels and a confidence in [0, 1]."""

    box: Box
    score: float


class Detector(Protocol):
    def detect(self, image: np.ndarray) -> list[Detection]: ...

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]: ...


class MTCNNDetector:
    """facenet-pytorch's MTCNN; its weights ship with the package, so it works offline."""

    def __init__(self, device: str | None = None, min_face_size: int = 20) -> None:
        from facenet_pytorch import MTCNN

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._mtcnn = MTCNN(keep_all=True, device=device, min_face_size=min_face_size)

    def detect(self, image: np.ndarray) -> list[Detection]:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detect in several same-sized frames with one network pass per stage (faster than a loop)."""
        if not len(images):
            return []
        if len({image.shape for image in images}) > 1:  # a frames folder may mix sizes: no stacking
            return [self.detect_batch([image])[0] for image in images]
        boxes, probs = self._mtcnn.detect(np.stack(images))
        return [
            []
            if b is None
            else [Detection(tuple(map(float, x)), float(p)) for x, p in zip(b, s, strict=True)]
            for b, s in zip(boxes, probs, strict=True)
        ]


@functools.cache
def _frontal_face_detector() -> Any:  # dlib.fhog_object_detector
    """dlib's HOG detector, built once per process (about half a second each time)."""
    import dlib

    return dlib.get_frontal_face_detector()


class DlibHOGDetector:
    """dlib's HOG + linear SVM detector: fast on CPU, frontal faces only."""

    def __init__(self, upsample: int = 1) -> None:
        self._detector = _frontal_face_detector()
        self.upsample = upsample

    def detect(self, image: np.ndarray) -> list[Detection]:
        rects, scores, _ = self._detector.run(np.ascontiguousarray(image), self.upsample, 0.0)
        # SVM margins are unbounded; a logistic squashes them into [0, 1] so pick_face ranks
        # dlib and MTCNN detections the same way.
        return [
            Detection(
                (float(r.left()), float(r.top()), r.right() + 1.0, r.bottom() + 1.0),
                1.0 / (1.0 + math.exp(-s)),
            )
            for r, s in zip(rects, scores, strict=True)
        ]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        return [self.detect(image) for image in images]


DETECTORS = {"mtcnn": MTCNNDetector, "dlib": DlibHOGDetector}


def make_detector(name: str) -> Detector:
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r} (choose from {', '.join(DETECTORS)})")
    return DETECTORS[name]()


class FacePick(NamedTuple):
    """The face kept in a frame and how many were found (``n_faces > 1`` means others were dropped)."""

    detection: Detection | None
    n_faces: int

    @property
    def several(self) -> bool:
        return self.n_faces > 1


def pick_face(detections: Sequence[Detection], image_shape: tuple[int, ...]) -> FacePick:
    """Keep the face with the largest score x visible area: the subject, not a small face behind."""
    height, width = image_shape[:2]

    def rank(d: Detection) -> float:
        x0, y0, x1, y1 = d.box
        area = max(0.0, min(x1, width) - max(x0, 0.0)) * max(0.0, min(y1, height) - max(y0, 0.0))
        return d.score * area

    if not detections:
        return FacePick(None, 0)
    best = max(detections, key=rank)
    return FacePick(best if rank(best) > 0 else None, len(detections))
