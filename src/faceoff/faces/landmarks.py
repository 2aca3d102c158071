"""68-point (iBUG) landmark predictors behind one interface: ``.predict(image, box) -> (68, 2)``."""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from faceoff.faces.detect import Box


class Landmarker(Protocol):
    def predict(self, image: np.ndarray, box: Box) -> np.ndarray: ...


def _dlib_rect(box: Box) -> Any:  # dlib has no type stubs
    import dlib

    x0, y0, x1, y1 = (round(v) for v in box)
    return dlib.rectangle(int(x0), int(y0), int(x1) - 1, int(y1) - 1)


def shipped_dlib_model(locator: str) -> str:
    """Path of a dlib model file shipped in face_recognition_models, e.g.
    ``shipped_dlib_model("pose_predictor_model_location")``; the package imports the deprecated
    pkg_resources, whose warning would otherwise clutter every step's log."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        import face_recognition_models
    return getattr(face_recognition_models, locator)()


@functools.cache
def _shape_predictor() -> Any:  # dlib.shape_predictor
    """The 68-point model, read once per process (a 100 MB file: about half a second per read)."""
    import dlib

    return dlib.shape_predictor(shipped_dlib_model("pose_predictor_model_location"))


class DlibLandmarker:
    """dlib's ensemble-of-regression-trees predictor (shipped in face_recognition_models)."""

    def __init__(self) -> None:
        self._predictor = _shape_predictor()

    def shape(self, image: np.ndarray, box: Box) -> Any:  # dlib.full_object_detection
        """The raw dlib shape, which the identity embedder needs."""
        return self._predictor(np.ascontiguousarray(image), _dlib_rect(box))

    def predict(self, image: np.ndarray, box: Box) -> np.ndarray:
        shape = self.shape(image, box)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def fan_weights_path() -> Path:
    """Where face-alignment caches the 2D-FAN weights (torch hub's checkpoint folder)."""
    from face_alignment.api import models_urls

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(models_urls["2DFAN-4"])


class FANLandmarker:
    """face-alignment's 2D-FAN: more accurate than dlib on profile and blurred faces.

    Refuses to start when the weights are not cached: face-alignment would otherwise try to
    download them mid-pipeline, which fails on offline cluster nodes.
    """

    def __init__(self, device: str | None = None) -> None:
        from faceoff.faces.weights import require

        require("fan")
        import face_alignment

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # The 'folder' detector loads nothing: boxes always come from our own detector.
        self._fa = face_alignment.FaceAlignment(
            face_alignment.LandmarksType.TWO_D, device=device, face_detector="folder", compile=False
        )

    def predict(self, image: np.ndarray, box: Box) -> np.ndarray:
        result = self._fa.get_landmarks_from_image(image, detected_faces=[np.asarray(box, dtype=np.float64)])
        if not result:
            raise RuntimeError(f"FAN returned no landmarks for box {box}")
        return np.asarray(result[0][:, :2], dtype=np.float32)


LANDMARKERS = {"dlib": DlibLandmarker, "fan": FANLandmarker}


def make_landmarker(name: str) -> Landmarker:
    if name not in LANDMARKERS:
        raise ValueError(f"unknown landmark predictor {name!r} (choose from {', '.join(LANDMARKERS)})")
    return LANDMARKERS[name]()


class LandmarkFinder:
    """Detect the face, then place its landmarks: ``finder(image) -> (68, 2) | None``.

    The evaluation asks "is there still a face, and where are its features?" of generated
    images, where no box is known in advance.
    """

    def __init__(self, detector: str = "dlib", landmarker: str = "dlib") -> None:
        from faceoff.faces.detect import make_detector

        self._detector = make_detector(detector)
        self._landmarker = make_landmarker(landmarker)

    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        from faceoff.faces.detect import pick_face

        detection = pick_face(self._detector.detect(image), image.shape).detection
        return None if detection is None else self._landmarker.predict(image, detection.box)
