"""Identity embeddings (dlib's ResNet or FaceNet descriptors) to measure who a translated face looks like."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image

from faceoff.faces.detect import DlibHOGDetector, pick_face
from faceoff.faces.landmarks import DlibLandmarker, shipped_dlib_model

MIN_SIDE = 150  # dlib aligns faces to 150 px chips; smaller images are upsampled first
CHIP_PADDING = 0.25  # the margin dlib's compute_face_descriptor gives its chips
# The face-recognition networks, by the name every setting uses for them (identity_net of the
# metrics and losses; feature_net adds them to VGG19).
IDENTITY_NETS = ("dlib_resnet", "facenet")


class _AlignedEmbedder:
    """Descriptors of face crops aligned by dlib's 68 landmarks (given, or predicted per image)."""

    dim: int

    def __init__(self) -> None:
        self._landmarker = DlibLandmarker()
        self._detector = DlibHOGDetector(upsample=0)

    def embed(self, images: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """Descriptors of (N, H, W, 3) uint8 face crops; missing landmarks are predicted per image."""
        import dlib

        images = np.asarray(images, dtype=np.uint8)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"expected (N, H, W, 3) uint8 images, got shape {images.shape}")
        n, height, width = images.shape[:3]
        if n == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        scale = max(1, math.ceil(MIN_SIDE / min(height, width)))
        faces = []
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
            faces.append((image, shape))
        return self._describe(faces)

    def _describe(self, faces: list[tuple[np.ndarray, Any]]) -> np.ndarray:
        """(N, D) float32 descriptors of (image, dlib shape) pairs."""
        raise NotImplementedError

    def _face_box(self, image: np.ndarray) -> tuple[float, float, float, float]:
        """The face box in a crop: dlib's landmark predictor expects a detector-sized box, not a
        margin-enlarged crop. Falls back to the whole image when HOG finds nothing (GAN artefacts).
        """
        detection = pick_face(self._detector.detect(image), image.shape).detection
        return detection.box if detection else (0.0, 0.0, float(image.shape[1]), float(image.shape[0]))


class DlibFaceEmbedder(_AlignedEmbedder):
    """128-d face descriptors from dlib itself; runs on the CPU, so it needs no device."""

    dim = 128

    def __init__(self) -> None:
        import dlib

        super().__init__()
        self._model = dlib.face_recognition_model_v1(shipped_dlib_model("face_recognition_model_location"))

    def _describe(self, faces: list[tuple[np.ndarray, Any]]) -> np.ndarray:
        return np.array(
            [self._model.compute_face_descriptor(image, shape) for image, shape in faces], dtype=np.float32
        )


class FaceNetEmbedder(_AlignedEmbedder):
    """512-d FaceNet (VGGFace2) descriptors of 160 px chips aligned as dlib aligns its own."""

    dim = 512

    def __init__(self, device: str = "cpu") -> None:
        from faceoff.faces.facenet import load_facenet

        super().__init__()
        self._device = device
        self._net = load_facenet().to(device)

    def _describe(self, faces: list[tuple[np.ndarray, Any]]) -> np.ndarray:
        import dlib
        import torch

        from faceoff.faces.facenet import INPUT_SIZE

        chips = np.stack(
            [
                dlib.get_face_chip(image, shape, size=INPUT_SIZE, padding=CHIP_PADDING)
                for image, shape in faces
            ]
        )
        with torch.no_grad():
            x = torch.from_numpy(chips).to(self._device).permute(0, 3, 1, 2).float()
            return self._net(x).cpu().numpy().astype(np.float32)


def make_embedder(name: str, device: str = "cpu") -> _AlignedEmbedder:
    """The metric embedder of identity net ``name``: "dlib_resnet" runs dlib's own implementation of
    the network the training loss ports to PyTorch (the two agree to float precision), "facenet"
    the torch FaceNet on ``device``."""
    if name == "dlib_resnet":
        return DlibFaceEmbedder()
    if name == "facenet":
        return FaceNetEmbedder(device)
    raise ValueError(f"unknown identity embedder {name!r} (choose from {', '.join(IDENTITY_NETS)})")


def identity_net_names() -> list[str]:
    return list(IDENTITY_NETS)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of (N, D) and (N, D) (or broadcastable) embeddings."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    dot = (a * b).sum(axis=-1)
    return dot / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
