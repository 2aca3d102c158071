"""Identity embeddings (dlib's ResNet face descriptor) to measure who a translated face looks like."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from faceoff.faces.detect import DlibHOGDetector, pick_face
from faceoff.faces.landmarks import DlibLandmarker, shipped_dlib_model

MIN_SIDE = 150  # dlib aligns faces to 150 px chips; smaller images are upsampled first


class DlibFaceEmbedder:
    """128-d face descriptors; runs on the CPU, so it needs no device."""

    def __init__(self) -> None:
        import dlib

        self._model = dlib.face_recognition_model_v1(shipped_dlib_model("face_recognition_model_location"))
        self._landmarker = DlibLandmarker()
        self._detector = DlibHOGDetector(upsample=0)

    def embed(self, images: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """Descriptors of (N, H, W, 3) uint8 face crops; missing landmarks are predicted per image."""
        import dlib

        images = np.asarray(images, dtype=np.uint8)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"expected (N, H, W, 3) uint8 images, got shape {images.shape}")
        n, height, width = images.shape[:3]
        scale = max(1, math.ceil(MIN_SIDE / min(height, width)))
        out = np.empty((n, 128), dtype=np.float32)
        for i, image in enumerate(images):
            if scale > 1:
                image = np.asarray(
                    Image.fromarray(image).resize((width * scale, height * scale), Image.BICUBIC)
                )
            if landmarks is None:
                shape = self._landmarker.shape(image, self._face_box(image))
            else:
                points = [dlib.point(round(x * scale), round(y * scale)) for x, y in landmarks[i]]
                shape = dlib.full_object_detection(
                    dlib.rectangle(0, 0, image.shape[1] - 1, image.shape[0] - 1), points
                )
            out[i] = np.asarray(self._model.compute_face_descriptor(image, shape), dtype=np.float32)
        return out

    def _face_box(self, image: np.ndarray) -> tuple[float, float, float, float]:
        """The face box in a crop: dlib's landmark predictor expects a detector-sized box, not a
        margin-enlarged crop. Falls back to the whole image when HOG finds nothing (GAN artefacts).
        """
        detection = pick_face(self._detector.detect(image), image.shape).detection
        return detection.box if detection else (0.0, 0.0, float(image.shape[1]), float(image.shape[0]))


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of (N, D) and (N, D) (or broadcastable) embeddings."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    dot = (a * b).sum(axis=-1)
    return dot / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
