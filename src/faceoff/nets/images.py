"""Frames <-> network images, the one conversion every model, sample grid and translator uses.

Frames are uint8 RGB (..., H, W, 3); networks take float (..., 3, H, W) in [-1, 1]. The
arithmetic is fixed here (``x / 127.5 - 1`` in, ``round((x + 1) * 127.5)`` out) because a
different but equivalent formula would change low bits, and with them every stored result.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def from_uint8(
    frames: np.ndarray | torch.Tensor, device: torch.device | str | None = None, *, contiguous: bool = True
) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1] on ``device`` (None: where it is).

    The result is laid out (..., 3, H, W) in memory; ``contiguous=False`` keeps the frames'
    channels-last strides instead (a copy saved). The layout can change a convolution's low bits,
    so each caller keeps the one its results were made with.
    """
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    if device is not None:
        frames = frames.to(device)
    images = frames.movedim(-1, -3).float()
    if contiguous:
        images = images.contiguous()
    return images / 127.5 - 1


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float (..., 3, H, W), clamped to [-1, 1] -> uint8 (..., H, W, 3) on the host."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().byte().movedim(-3, -1).cpu().numpy()


def map_chunks(fn: Callable[[slice], torch.Tensor], frames: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """uint8 frames like ``frames``, computed ``batch_size`` at a time: ``fn(chunk)`` gives the network
    images of ``frames[chunk]`` (whatever else it feeds the network, e.g. masks or labels of the same
    rows); no gradients are kept."""
    out = np.empty_like(frames, dtype=np.uint8)
    with torch.no_grad():
        for start in range(0, len(frames), batch_size):
            chunk = slice(start, start + batch_size)
            out[chunk] = to_uint8(fn(chunk))
    return out
