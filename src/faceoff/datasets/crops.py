"""The central crop of prepared frames: the one window that training samples, evaluation, the
sample grids and ``faceoff apply`` all show a model.

Prepared frames are ``size`` px squares; a model sees ``crop`` px. Training draws random windows,
everything else takes the central one, which must be the same window everywhere (the scores of
a run compare the model's output with the truth at the same pixels), so its offset lives here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from faceoff.datasets.prepared import PreparedSplit


def center_offset(size: int, crop: int) -> int:
    """Top-left corner (row = column) of the central ``crop`` window of a ``size`` frame."""
    if crop > size:
        raise ValueError(f"crop_size {crop} is larger than the prepared frames ({size} px)")
    return (size - crop) // 2


def center_window(array: np.ndarray, crop: int, rows: Any = slice(None)) -> np.ndarray:
    """``array[rows]`` cut to its central ``crop`` window: array is (N, S, S, ...) (frames, masks,
    ground truth, valid pixels), ``rows`` any first-axis index; a memory map reads only the window."""
    off = center_offset(int(array.shape[1]), crop)
    window = slice(off, off + crop)
    return np.asarray(array[rows, window, window])


def center_crop(split: PreparedSplit, crop: int) -> PreparedSplit:
    """The central ``crop`` window of a split (frames, masks, ground truth, valid pixels), landmarks
    shifted into it."""
    off = center_offset(split.size, crop)
    return PreparedSplit(
        frames=center_window(split.frames, crop),
        landmarks=np.asarray(split.landmarks, dtype=np.float32) - off,
        masks=center_window(split.masks, crop),
        index=np.asarray(split.index),
        gt={k: center_window(v, crop) for k, v in split.gt.items()},
        valid=center_window(split.valid, crop),
    )
