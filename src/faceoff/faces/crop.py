"""Square face crops that stay steady over time.

Boxes are ``(x0, y0, x1, y1)`` in the continuous pixel coordinates landmarks use. A crop's
affine map (2x3) takes frame coordinates to crop coordinates, so landmarks follow the crop.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from faceoff.faces.detect import Box


def landmark_box(landmarks: np.ndarray) -> Box:
    """The tight bounding box of a set of landmarks."""
    (x0, y0), (x1, y1) = landmarks.min(axis=0), landmarks.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def square_box(box: Box, margin: float) -> Box:
    """The square around ``box``'s centre, its longer side enlarged by ``margin`` on each side."""
    cx, cy, side = _centre_side(np.asarray([box], dtype=np.float64))[0]
    side *= 1.0 + 2.0 * margin
    x0, y0, x1, y1 = _boxes(np.array([[cx, cy, side]]))[0]
    return float(x0), float(y0), float(x1), float(y1)


def smooth_boxes(boxes: np.ndarray, window: int, valid: np.ndarray | None = None) -> np.ndarray:
    """Average each box's centre and size over a centred window of ``window`` frames.

    A jittering crop makes the translated face shake, so the crop follows a moving average.
    ``valid`` marks frames with a face; the others neither contribute nor break the average,
    and near the ends the window shrinks instead of padding (no pull towards the first frame).
    An even ``window`` grows by one so the average stays centred on its frame.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    valid = np.ones(len(boxes), dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if window <= 1 or not len(boxes):
        return boxes.copy()
    params = np.where(valid[:, None], _centre_side(np.nan_to_num(boxes)), 0.0)
    window |= 1
    weight = _window_sum(valid.astype(np.float64), window)
    summed = np.stack([_window_sum(params[:, k], window) for k in range(3)], axis=1)
    smoothed = _boxes(summed / np.maximum(weight, 1e-12)[:, None])
    return np.where(valid[:, None], smoothed, boxes)


def crop_and_resize(image: np.ndarray, box: Box, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``box`` out of ``image`` at ``size`` x ``size``, replicating edge pixels outside the frame.

    Returns the crop and the 2x3 affine map from frame to crop coordinates.
    """
    x0, y0, x1, y1 = box
    height, width = image.shape[:2]
    # Gather only the pixels the box covers; clipped indices replicate the border.
    left, top = math.floor(x0), math.floor(y0)
    cols = np.clip(np.arange(left, math.ceil(x1) + 1), 0, width - 1)
    rows = np.clip(np.arange(top, math.ceil(y1) + 1), 0, height - 1)
    patch = Image.fromarray(np.ascontiguousarray(image[rows[:, None], cols[None, :]]))
    crop = patch.resize((size, size), Image.BICUBIC, box=(x0 - left, y0 - top, x1 - left, y1 - top))
    sx, sy = size / (x1 - x0), size / (y1 - y0)
    affine = np.array([[sx, 0.0, -x0 * sx], [0.0, sy, -y0 * sy]], dtype=np.float64)
    return np.asarray(crop), affine


def apply_affine(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Map (N, 2) points with a 2x3 affine matrix."""
    points = np.asarray(points, dtype=np.float64)
    return (points @ affine[:, :2].T + affine[:, 2]).astype(np.float32)


def _window_sum(values: np.ndarray, window: int) -> np.ndarray:
    """Sum over a centred odd window, also when it is longer than the sequence (unlike mode="same")."""
    full = np.convolve(values, np.ones(window))
    return full[window // 2 : window // 2 + len(values)]


def _centre_side(boxes: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = boxes.T
    return np.stack([(x0 + x1) / 2, (y0 + y1) / 2, np.maximum(x1 - x0, y1 - y0)], axis=1)


def _boxes(centre_side: np.ndarray) -> np.ndarray:
    cx, cy, side = centre_side.T
    half = side / 2
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)
