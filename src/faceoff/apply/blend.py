"""Paste a translated face crop back into its frame without seams, colour jumps or flicker.

The crop is warped back with the inverse of the crop's affine map (OpenCV), then blended
inside a feathered face mask; optionally cloned with OpenCV's Poisson solver first. Only the
face's bounding region of the frame is touched, so pixels outside the mask stay bit-identical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from faceoff.faces.mask import face_mask

BLENDS = ("feather", "seamless")
COLOR_MATCHES = ("none", "ring")


def feathered_mask(landmarks: np.ndarray, size: int, feather: float) -> np.ndarray:
    """float32 (size, size) alpha in [0, 1]: the landmark-hull face mask, eroded and blurred by
    ``feather`` x size so it reaches 0 inside the hull and inside the crop's border."""
    hard = face_mask(landmarks, size).astype(np.float32)
    width = max(1, round(feather * size))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * (width // 2) + 1,) * 2)
    hard = cv2.erode(hard, kernel)
    border = max(1, width // 2 + 1)  # the blur must not carry alpha onto the crop's edge
    hard[:border], hard[-border:], hard[:, :border], hard[:, -border:] = 0, 0, 0, 0
    sigma = width / 2
    return np.clip(cv2.GaussianBlur(hard, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT), 0.0, 1.0)


def crop_to_frame(affine: np.ndarray) -> np.ndarray:
    """OpenCV's map (integer pixel centres) from frame pixels to crop pixels, for a continuous
    frame-to-crop ``affine`` (:func:`faceoff.faces.crop.crop_and_resize`'s, pixel centres at +0.5)."""
    m = np.asarray(affine, dtype=np.float64).copy()
    m[:, 2] += 0.5 * (m[:, 0] + m[:, 1]) - 0.5
    return m


def region(affine: np.ndarray, size: int, shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """The frame rectangle ``(x0, y0, x1, y1)`` the ``size`` crop covers, clipped (None: outside)."""
    inverse = cv2.invertAffineTransform(crop_to_frame(affine))
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float64) - 0.5
    mapped = corners @ inverse[:, :2].T + inverse[:, 2]
    height, width = shape[:2]
    x0, y0 = (max(0, math.floor(v) - 1) for v in mapped.min(axis=0))
    x1, y1 = mapped.max(axis=0)
    x1, y1 = min(width, math.ceil(x1) + 2), min(height, math.ceil(y1) + 2)
    return None if x0 >= x1 or y0 >= y1 else (x0, y0, x1, y1)


def warp_back(
    crop: np.ndarray, affine: np.ndarray, rect: tuple[int, int, int, int], interpolation: int
) -> np.ndarray:
    """The crop resampled onto the frame rectangle ``rect`` (zeros where the crop does not reach)."""
    x0, y0, x1, y1 = rect
    m = crop_to_frame(affine)
    m[:, 2] += m[:, :2] @ np.array([x0, y0], dtype=np.float64)
    return cv2.warpAffine(
        crop,
        m,
        (x1 - x0, y1 - y0),
        flags=interpolation | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


@dataclass
class ColorMatcher:
    """Shift the translated crop's LAB mean so that its surroundings match the frame's, smoothed over time.

    The statistics are read in a ring just outside the face (``ring``, crop pixels), where a
    face translation should leave the frame as it was: a difference there is the generator's
    colour cast, which the whole crop then loses. The person's own skin tone, which a swap is
    meant to change, does not enter. An exponential moving average over frames (``momentum``)
    keeps the correction from flickering.
    """

    momentum: float = 0.8
    _state: dict[int, np.ndarray] = field(default_factory=dict)

    def __call__(
        self, face_id: int, output: np.ndarray, original: np.ndarray, ring: np.ndarray
    ) -> np.ndarray:
        if ring.sum() < 8:
            return output
        pixels = np.concatenate([original[ring], output[ring]]).reshape(-1, 1, 3).astype(np.float32) / 255.0
        lab = cv2.cvtColor(pixels, cv2.COLOR_RGB2LAB).reshape(2, -1, 3)
        shift = lab[0].mean(axis=0) - lab[1].mean(axis=0)
        previous = self._state.get(face_id)
        if previous is not None:
            shift = self.momentum * previous + (1.0 - self.momentum) * shift
        self._state[face_id] = shift
        out_lab = cv2.cvtColor(output.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
        fixed = cv2.cvtColor(out_lab + shift.astype(np.float32), cv2.COLOR_LAB2RGB)
        return np.clip(fixed * 255.0 + 0.5, 0, 255).astype(np.uint8)


def surroundings(
    landmarks: np.ndarray, size: int, width: float, valid: np.ndarray | None = None
) -> np.ndarray:
    """bool (size, size): a ring ``width`` x size wide just outside the landmark-hull face mask
    (pixels outside the frame, ``valid`` False, left out)."""
    hard = face_mask(landmarks, size)
    k = 2 * max(1, round(width * size)) + 1
    ring = (cv2.dilate(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0) & (hard == 0)
    return ring if valid is None else ring & valid


def composite(
    frame: np.ndarray, face: np.ndarray, alpha: np.ndarray, rect: tuple[int, int, int, int]
) -> None:
    """Blend ``face`` over ``frame[rect]`` in place with ``alpha``; alpha 0 leaves pixels as they were."""
    x0, y0, x1, y1 = rect
    target = frame[y0:y1, x0:x1]
    weight = np.ascontiguousarray(alpha, dtype=np.float32)
    mixed = cv2.blendLinear(face, target, weight, 1.0 - weight)
    np.copyto(target, mixed, where=(weight > 0)[..., None])


def seamless(
    frame: np.ndarray, face: np.ndarray, alpha: np.ndarray, rect: tuple[int, int, int, int]
) -> np.ndarray:
    """OpenCV's Poisson (normal) clone of ``face`` into ``frame[rect]`` inside alpha > 0.5;
    returns the cloned rectangle (the frame is unchanged), or ``face`` when the mask is too small."""
    x0, y0, x1, y1 = rect
    mask = ((alpha > 0.5) * 255).astype(np.uint8)
    mask[0], mask[-1], mask[:, 0], mask[:, -1] = 0, 0, 0, 0
    ys, xs = np.nonzero(mask)
    if len(xs) < 9:
        return face
    # seamlessClone centres the mask's bounding box at ``center``: put it back where it was.
    width, height = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    centre = (int(xs.min() + width // 2), int(ys.min() + height // 2))
    window = np.ascontiguousarray(frame[y0:y1, x0:x1])
    try:
        return cv2.seamlessClone(np.ascontiguousarray(face), window, mask, centre, cv2.NORMAL_CLONE)
    except cv2.error:  # a mask touching the window's edge: fall back to the plain face
        return face
