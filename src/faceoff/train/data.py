"""Training batches drawn from prepared splits, with randomness that is a pure function of the step.

Every random choice of a step (frames, crop offsets, flips, image-pool swaps, WGAN-GP mixing)
comes from generators seeded by ``(seed, step, stream)``; a run resumed from a checkpoint
therefore draws exactly what the uninterrupted run would have drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from faceoff.datasets.prepared import PreparedSplit

# Independent random streams within one step.
STREAM_A, STREAM_B, STREAM_POOL, STREAM_GP = 0, 1, 2, 3


def step_rng(seed: int, step: int, stream: int, substep: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, step, stream, substep])


def step_torch_generator(seed: int, step: int, stream: int, substep: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(int(step_rng(seed, step, stream, substep).integers(2**63)))


@dataclass
class Batch:
    images: torch.Tensor  # (B, 3, C, C) float in [-1, 1]
    masks: torch.Tensor  # (B, 1, C, C) float in {0, 1}


def sample_arrays(
    split: PreparedSplit, rng: np.random.Generator, batch_size: int, crop: int, flip: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Random frames, each randomly cropped to ``crop`` and maybe mirrored, frames and masks alike."""
    size = split.size
    if crop > size:
        raise ValueError(f"crop_size {crop} is larger than the prepared frames ({size} px)")
    picks = rng.integers(0, len(split), batch_size)
    offsets = rng.integers(0, size - crop + 1, (batch_size, 2))
    mirror = rng.random(batch_size) < 0.5 if flip else np.zeros(batch_size, bool)
    frames = np.empty((batch_size, crop, crop, 3), np.uint8)
    masks = np.empty((batch_size, crop, crop), np.uint8)
    for i, (pick, (y, x), m) in enumerate(zip(picks, offsets, mirror, strict=True)):
        columns = slice(x + crop - 1, x - 1 if x else None, -1) if m else slice(x, x + crop)
        frames[i] = split.frames[pick, y : y + crop, columns]
        masks[i] = split.masks[pick, y : y + crop, columns]
    return frames, masks


def to_tensors(frames: np.ndarray, masks: np.ndarray | None, device: torch.device | str) -> Batch:
    """uint8 (B, H, W, 3) frames and (B, H, W) masks to network tensors on ``device``."""
    images = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1
    if masks is None:
        mask = torch.ones_like(images[:, :1])
    else:
        mask = torch.from_numpy(np.ascontiguousarray(masks)).to(device).unsqueeze(1).float()
    return Batch(images, mask)


def mask_background(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Black (-1) outside the face mask: the "mask out background" input of the study."""
    return torch.where(masks > 0, images, torch.full_like(images, -1.0))


def sample_batch(
    split: PreparedSplit,
    seed: int,
    step: int,
    stream: int,
    *,
    batch_size: int,
    crop: int,
    flip: bool,
    mask_input: bool,
    device: torch.device | str,
    substep: int = 0,
) -> Batch:
    frames, masks = sample_arrays(split, step_rng(seed, step, stream, substep), batch_size, crop, flip)
    batch = to_tensors(frames, masks, device)
    if mask_input:
        batch.images = mask_background(batch.images, batch.masks)
    return batch
