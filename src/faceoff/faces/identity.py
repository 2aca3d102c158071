"""Identity embeddings (dlib's ResNet or FaceNet descriptors) to measure who a translated face looks like."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

from faceoff.faces.detect import DlibHOGDetector, pick_face
from faceoff.faces.landmarks import DlibLandmarker

MIN_SIDE = 150  # dlib aligns faces to 150 px chips; smaller images are upsampled first
CHIP_PADDING = 0.25  # the margin dlib's compute_face_descriptor gives its chips
BATCH = 32  # chips per network call
# The face-recognition networks, by the name every setting uses for them (identity_net of the
# metrics and losses; feature_net adds them to VGG19).
IDENTITY_NETS = ("dlib_resnet", "facenet")


class _AlignedEmbedder:
    """Descriptors of face crops aligned by dlib's 68 landmarks (given, or predicted per image):
    dlib's aligned chips (``dlib.get_face_chip``, as ``compute_face_descriptor`` cuts them) through
    a torch network, in batches."""

    dim: int
    chip_size: int

    def __init__(self, net: torch.nn.Module, device: str = "cpu") -> None:
        self._landmarker = DlibLandmarker()
        self._detector = DlibHOGDetector(upsample=0)
        self._device = device
        self._net = net.to(device).eval()

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
        chips = []
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
            chips.append(dlib.get_face_chip(image, shape, size=self.chip_size, padding=CHIP_PADDING))
        return np.concatenate([self._describe(np.stack(chips[i : i + BATCH])) for i in range(0, n, BATCH)])

    @torch.no_grad()
    def _describe(self, chips: np.ndarray) -> np.ndarray:
        """(N, D) float32 descriptors of (N, S, S, 3) uint8 chips."""
        x = torch.from_numpy(chips).to(self._device).permute(0, 3, 1, 2).float()
        return self._net(x).cpu().numpy().astype(np.float32)

    def _face_box(self, image: np.ndarray) -> tuple[float, float, float, float]:
        """The face box in a crop: dlib's landmark predictor expects a detector-sized box, not a
        margin-enlarged crop. Falls back to the whole image when HOG finds nothing (GAN artefacts).
        """
        detection = pick_face(self._detector.detect(image), image.shape).detection
        return detection.box if detection else (0.0, 0.0, float(image.shape[1]), float(image.shape[0]))


class DlibFaceEmbedder(_AlignedEmbedder):
    """dlib's 128-d face descriptors, computed by the PyTorch port of its ResNet
    (faceoff.faces.dlib_resnet) on dlib's own chips: the port agrees with
    ``compute_face_descriptor`` to 1e-4 (tests/test_identity_net.py) and, batched, runs about ten
    times as fast on a CPU as dlib's one-image-at-a-time C++ pass (2026-12-03, 2-core EPYC: 11 vs
    133 ms per face), which was most of an evaluation's time."""

    dim = 128
    chip_size = 150

    def __init__(self, device: str = "cpu") -> None:
        from faceoff.faces.dlib_resnet import load_dlib_resnet

        super().__init__(load_dlib_resnet(), device)


class FaceNetEmbedder(_AlignedEmbedder):
    """512-d FaceNet (VGGFace2) descriptors of 160 px chips aligned as dlib aligns its own."""

    dim = 512
    chip_size = 160

    def __init__(self, device: str = "cpu") -> None:
        from faceoff.faces.facenet import load_facenet

        super().__init__(load_facenet(), device)


def make_embedder(name: str, device: str = "cpu") -> _AlignedEmbedder:
    """The metric embedder of identity net ``name`` ("dlib_resnet" or "facenet") on ``device``."""
    if name == "dlib_resnet":
        return DlibFaceEmbedder(device)
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
