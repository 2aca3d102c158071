"""Random smooth warp of face crops: the deepfakes autoencoder's augmentation.

The autoencoder reconstructs the *unwarped* face from a warped copy. Without the warp an
autoencoder can learn to copy pixels; with it, each decoder must learn what its person's face
looks like, which is what lets it draw that face from the other person's code.

A ``grid x grid`` lattice of control points spanning the crop is displaced by independent normal
offsets with standard deviation ``strength`` times the crop side (the original's 5 px on a 160 px
face region is about 0.03); bicubic interpolation turns them into a smooth dense displacement
field, and the crop is resampled along it (bilinear, border pixels repeated). All randomness comes
from the caller's numpy generator, so a step's warp is a pure function of ``(seed, step)``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# A random stream of its own (faceoff.train.data numbers the shared ones from 0).
STREAM_WARP = 16


def random_warp(
    images: torch.Tensor, rng: np.random.Generator, strength: float, grid: int = 5
) -> torch.Tensor:
    """``images`` (N, C, H, W) float, each warped by its own random smooth field; same shape."""
    if strength == 0:
        return images
    n, _, height, width = images.shape
    # Offsets in grid_sample's [-1, 1] coordinates, where the crop side spans 2.
    control = rng.normal(0.0, 2 * strength, (n, 2, grid, grid))
    control = torch.from_numpy(control).to(images.device, torch.float32)
    field = F.interpolate(control, size=(height, width), mode="bicubic", align_corners=True)
    ys = torch.linspace(-1, 1, height, device=images.device)
    xs = torch.linspace(-1, 1, width, device=images.device)
    base = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)  # (H, W, 2) as (x, y)
    coords = base + field.permute(0, 2, 3, 1)
    warped = F.grid_sample(images.float(), coords, mode="bilinear", padding_mode="border", align_corners=True)
    return warped.to(images.dtype)
