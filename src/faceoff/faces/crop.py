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


FILL = 0  # value of crop pixels that lie outside the frame: black, as the masked-background input


def crop_and_resize(image: np.ndarray, box: Box, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``box`` out of ``image`` at ``size`` x ``size``; where the box leaves the frame, black.

    Replicating the edge pixels (what clamped indices give) paints streaks that a GAN learns as
    part of the person, and reflecting mirrors the face itself when it touches the edge (a half
    face the detector and the discriminator see as real). Black is plainly "no data" and matches
    the masked-background input; :func:`inside_frame` marks these pixels so metrics skip them.
    Moving the box inside the frame instead would shift the face off the crop's centre, which
    the aligned-face models rely on, and is impossible for a box larger than the frame.

    The resampling filter reads a reflection beyond the edge, so pixels just inside are not
    darkened by the black; every pixel :func:`inside_frame` rejects is then set to :data:`FILL`.
    Returns the crop and the 2x3 affine map from frame to crop coordinates.
    """
    x0, y0, x1, y1 = box
    height, width = image.shape[:2]
    left, top = math.floor(x0), math.floor(y0)
    right, bottom = math.ceil(x1) + 1, math.ceil(y1) + 1
    inner = image[max(top, 0) : min(bottom, height), max(left, 0) : min(right, width)]
    if inner.size == 0:
        patch = np.full((bottom - top, right - left, *image.shape[2:]), FILL, dtype=image.dtype)
    else:
        pads = [(max(-top, 0), max(bottom - height, 0)), (max(-left, 0), max(right - width, 0))]
        patch = np.pad(inner, pads + [(0, 0)] * (image.ndim - 2), mode="reflect")  # OpenCV's REFLECT_101
    crop = np.asarray(
        Image.fromarray(patch).resize(
            (size, size), Image.BICUBIC, box=(x0 - left, y0 - top, x1 - left, y1 - top)
        )
    ).copy()
    crop[~inside_frame(image.shape, box, size)] = FILL
    sx, sy = size / (x1 - x0), size / (y1 - y0)
    affine = np.array([[sx, 0.0, -x0 * sx], [0.0, sy, -y0 * sy]], dtype=np.float64)
    return crop, affine


def inside_frame(frame_shape: tuple[int, ...], box: Box, size: int) -> np.ndarray:
    """Which pixels of the ``size`` crop of ``box`` come from the frame: (size, size) bool.

    A crop pixel is inside when its centre maps into the frame ``[0, width) x [0, height)``;
    the others are :data:`FILL` and are left out of every metric.
    """
    x0, y0, x1, y1 = box
    height, width = frame_shape[:2]
    centres = (np.arange(size) + 0.5) / size
    xs, ys = x0 + centres * (x1 - x0), y0 + centres * (y1 - y0)
    return ((ys >= 0) & (ys < height))[:, None] & ((xs >= 0) & (xs < width))[None, :]


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
