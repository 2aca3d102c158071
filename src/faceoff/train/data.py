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
from faceoff.nets.images import from_uint8

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


def draw_crops(
    rng: np.random.Generator, n: int, size: int, batch_size: int, crop: int, flip: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame picks (B,), crop offsets (B, 2) as (y, x), and mirror flags (B,): one step's draw."""
    if crop > size:
        raise ValueError(f"crop_size {crop} is larger than the prepared frames ({size} px)")
    picks = rng.integers(0, n, batch_size)
    offsets = rng.integers(0, size - crop + 1, (batch_size, 2))
    mirror = rng.random(batch_size) < 0.5 if flip else np.zeros(batch_size, bool)
    return picks, offsets, mirror


def sample_arrays(
    split: PreparedSplit, rng: np.random.Generator, batch_size: int, crop: int, flip: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Random frames, each randomly cropped to ``crop`` and maybe mirrored, frames and masks alike."""
    picks, offsets, mirror = draw_crops(rng, len(split), split.size, batch_size, crop, flip)
    frames = np.empty((batch_size, crop, crop, 3), np.uint8)
    masks = np.empty((batch_size, crop, crop), np.uint8)
    for i, (pick, (y, x), m) in enumerate(zip(picks, offsets, mirror, strict=True)):
        columns = slice(x + crop - 1, x - 1 if x else None, -1) if m else slice(x, x + crop)
        frames[i] = split.frames[pick, y : y + crop, columns]
        masks[i] = split.masks[pick, y : y + crop, columns]
    return frames, masks


class DeviceSplit:
    """A split's frames and masks held on the device as uint8; crops and flips happen there.

    Draws the same random numbers as :func:`sample_arrays`, so both give identical batches; the
    device path only saves the host-side copy and upload of every batch.
    """

    def __init__(self, split: PreparedSplit, device: torch.device | str, chunk: int = 256) -> None:
        self.frames = torch.empty(split.frames.shape, dtype=torch.uint8, device=device)
        self.masks = torch.empty(split.masks.shape, dtype=torch.uint8, device=device)
        for start in range(0, len(split), chunk):  # chunks: a memory-mapped split is never fully in RAM
            part = slice(start, start + chunk)
            self.frames[part].copy_(torch.from_numpy(np.ascontiguousarray(split.frames[part])))
            self.masks[part].copy_(torch.from_numpy(np.ascontiguousarray(split.masks[part])))

    @staticmethod
    def fits(split: PreparedSplit, device: torch.device, share: float = 0.25) -> bool:
        """Whether the split takes at most ``share`` of the device's free memory (always on CPU)."""
        if device.type != "cuda":
            return True
        free, _ = torch.cuda.mem_get_info(device)
        return split.frames.nbytes + split.masks.nbytes <= share * free

    def sample(self, rng: np.random.Generator, batch_size: int, crop: int, flip: bool) -> Batch:
        n, size = self.frames.shape[:2]
        picks, offsets, mirror = draw_crops(rng, n, size, batch_size, crop, flip)
        grid = np.arange(crop)
        rows = offsets[:, :1] + grid
        cols = offsets[:, 1:] + np.where(mirror[:, None], grid[::-1], grid)
        index = torch.from_numpy(np.concatenate([picks[:, None], rows, cols], 1))
        index = index.to(self.frames.device, non_blocking=True)  # one small upload, no sync
        pick, rows_t, cols_t = index[:, :1, None], index[:, 1 : 1 + crop, None], index[:, 1 + crop :][:, None]
        frames, masks = self.frames[pick, rows_t, cols_t], self.masks[pick, rows_t, cols_t]
        images = from_uint8(frames, contiguous=False)  # channels_last strides, as it comes
        return Batch(images, masks.unsqueeze(1).float())


def to_tensors(frames: np.ndarray, masks: np.ndarray | None, device: torch.device | str) -> Batch:
    """uint8 (B, H, W, 3) frames and (B, H, W) masks to network tensors on ``device``."""
    images = from_uint8(frames, device)  # NCHW; the trainer may relayout
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
