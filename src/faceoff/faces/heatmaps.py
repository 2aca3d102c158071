"""iBUG-68 landmarks as per-point Gaussian heatmaps, and their horizontal mirror.

A reenactment network is told where each landmark should go by one channel per point (68 at
the image size): a map of coordinates would not tell it which point is which. Landmarks are in
continuous crop pixel coordinates (pixel ``j`` covers ``[j, j + 1)``), so a map's pixels are
sampled at their centres ``j + 0.5`` and mirroring an image of width ``W`` maps ``x`` to ``W - x``.

Mirroring a face also swaps its sides: the point that was the jaw's left end becomes its right
end, so after ``x -> W - x`` the points must be reordered with :data:`FLIP_PERMUTATION` to be a
valid iBUG ordering again (36-41 is always the eye on the image's left).
"""

from __future__ import annotations

import numpy as np
import torch

N_LANDMARKS = 68
# The study: a Gaussian "over 7 pixels with a mean of 0 and a variance of 1/3", i.e. a 7-tap kernel
# on [-1, 1] (1/3 per pixel) with variance 1/3: a standard deviation of sqrt(3) pixels.
STUDY_SIGMA = 3**0.5


def _flip_permutation() -> tuple[int, ...]:
    """For each point of the mirrored face, the point of the original face it comes from."""
    perm = list(range(N_LANDMARKS))

    def swap(left: list[int], right: list[int]) -> None:
        for a, b in zip(left, right, strict=True):
            perm[a], perm[b] = b, a

    swap(list(range(0, 8)), list(range(16, 8, -1)))  # jaw 0..16 reversed, 8 (chin) stays
    swap([17, 18, 19, 20, 21], [26, 25, 24, 23, 22])  # brows, outer to inner on both sides
    swap([31, 32], [35, 34])  # nostrils reversed, 33 (tip) stays; bridge 27-30 stays
    swap([36, 37, 38, 39, 40, 41], [45, 44, 43, 42, 47, 46])  # eyes clockwise from their outer corner
    swap([48, 49, 50, 55, 56], [54, 53, 52, 59, 58])  # outer lip, 51 and 57 on the midline stay
    swap([60, 61, 65], [64, 63, 67])  # inner lip, 62 and 66 stay
    return tuple(perm)


FLIP_PERMUTATION: tuple[int, ...] = _flip_permutation()


def flip_landmarks(landmarks: np.ndarray, size: int) -> np.ndarray:
    """Landmarks (..., 68, 2) of the horizontally mirrored ``size``-wide image, in iBUG order."""
    points = np.asarray(landmarks)
    mirrored = np.stack([size - points[..., 0], points[..., 1]], axis=-1).astype(points.dtype)
    return mirrored[..., FLIP_PERMUTATION, :]


def flip_heatmaps(heatmaps: torch.Tensor) -> torch.Tensor:
    """The heatmaps (N, 68, H, W) of the mirrored image: each map mirrored, channels swapped."""
    return heatmaps.flip(-1)[:, list(FLIP_PERMUTATION)]


def landmark_heatmaps(landmarks: torch.Tensor, size: int, sigma: float = STUDY_SIGMA) -> torch.Tensor:
    """(N, 68, 2) landmarks -> (N, 68, size, size) Gaussians with peak 1 at each point.

    Separable: an outer product of a row and a column Gaussian per point, so 68 maps of 64 px for
    a batch cost a few microseconds and never need storing.
    """
    grid = torch.arange(size, device=landmarks.device, dtype=torch.float32) + 0.5
    points = landmarks.float()
    gx = torch.exp(-((grid - points[..., 0:1]) ** 2) / (2 * sigma**2))  # (N, 68, W)
    gy = torch.exp(-((grid - points[..., 1:2]) ** 2) / (2 * sigma**2))  # (N, 68, H)
    return gy.unsqueeze(-1) * gx.unsqueeze(-2)


def heatmap_image(landmarks: np.ndarray, size: int, sigma: float = STUDY_SIGMA) -> np.ndarray:
    """One face's landmarks drawn as the network sees them: uint8 (size, size, 3), the maximum
    over the 68 maps in white on black (the study's "landmarks" columns)."""
    maps = landmark_heatmaps(torch.as_tensor(np.asarray(landmarks, dtype=np.float32))[None], size, sigma)
    gray = (maps[0].amax(0).clamp(0, 1) * 255).round().byte().numpy()
    return np.repeat(gray[..., None], 3, axis=-1)
