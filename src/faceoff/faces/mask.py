"""Face masks from landmarks: where the translator should change pixels."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

JAW = slice(0, 17)
BROWS = slice(17, 27)


def face_mask(landmarks: np.ndarray, size: int | tuple[int, int], forehead: float = 0.25) -> np.ndarray:
    """Filled convex hull of the jaw line and the brows raised by ``forehead`` x face height.

    The 68 points stop at the brows; lifting them covers the forehead, which also changes
    between people. ``size`` is the square side or (height, width); returns uint8 {0, 1}.
    """
    height, width = (size, size) if isinstance(size, int) else size
    points = np.asarray(landmarks, dtype=np.float64)
    brows = points[BROWS].copy()
    face_height = points[JAW, 1].max() - brows[:, 1].min()
    brows[:, 1] -= forehead * face_height
    hull = _convex_hull(np.concatenate([points[JAW], brows]))
    canvas = Image.new("L", (width, height), 0)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in hull], fill=1, outline=1)
    return np.asarray(canvas, dtype=np.uint8)


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """Andrew's monotone chain; returns the hull vertices in order."""
    pts = sorted(map(tuple, points))

    def half(seq: list[tuple[float, float]]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for p in seq:
            while len(out) >= 2 and _cross(out[-2], out[-1], p) <= 0:
                out.pop()
            out.append(p)
        return out[:-1]

    return np.array(half(pts) + half(pts[::-1]))


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
