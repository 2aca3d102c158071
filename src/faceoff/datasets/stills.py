"""Reading still images of any common format safely: one bad file is reported, never a crash."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from faceoff.datasets.registry import DatasetError
from faceoff.io.atomic import read_json
from faceoff.synth.formats import ANNOTATIONS

STILL_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def read_still(path: str | os.PathLike[str], mode: str = "RGB") -> np.ndarray:
    """Decode one image fully and convert it (``RGB`` or ``L``); DatasetError names an unusable file."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: image file not found")
    if path.stat().st_size == 0:
        raise DatasetError(f"{path}: image file is empty (0 bytes)")
    try:
        with Image.open(path) as image:
            image.load()  # a truncated file fails here, not later in the middle of a batch
            return np.asarray(image.convert(mode))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise DatasetError(f"{path}: not a readable image ({exc})") from exc


def read_annotations(source: Path) -> dict[str, np.ndarray]:
    """Landmarks shipped with synthetic still sets, by path relative to ``source`` (empty if none)."""
    path = Path(source) / ANNOTATIONS
    if not path.is_file():
        return {}
    return {name: np.asarray(points, dtype=np.float32) for name, points in read_json(path).items()}
