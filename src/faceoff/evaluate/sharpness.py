"""Sharpness as the variance of the Laplacian (Pech-Pacheco et al. 2000): blur removes the high
frequencies the Laplacian responds to, so a blurrier image has a lower variance. Only comparable
between images of the same size and content, hence the ratio of an output to its target."""

from __future__ import annotations

import cv2
import numpy as np


def laplacian_variance(images: np.ndarray) -> np.ndarray:
    """(N,) variance of the Laplacian of each (H, W, 3) uint8 RGB image's grey level."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected (N, H, W, 3) uint8 images, got {images.dtype} {images.shape}")
    return np.array(
        [cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for image in images],
        dtype=np.float64,
    ).reshape(len(images))


def sharpness_ratio(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(N,) Laplacian variance of each output over its target's: 1 as sharp, below 1 blurrier; NaN
    where the target is flat (variance 0)."""
    if len(outputs) != len(targets):
        raise ValueError(f"{len(outputs)} outputs but {len(targets)} targets")
    out, target = laplacian_variance(outputs), laplacian_variance(targets)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(target > 0, out / np.where(target > 0, target, 1.0), np.nan)
