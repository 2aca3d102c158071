"""The prepared-data format: a few memory-mappable arrays per item (person) and split.

Layout of one prepared item (``prepared/<dataset>/<item>/``)::

    report.json                 frames decoded, faces found, frames dropped and why
    <split>/frames.npy          uint8  (N, S, S, 3)  RGB face crops at the load size S
    <split>/landmarks.npy       float32 (N, 68, 2)   iBUG-68 landmarks, crop pixel coords (x, y)
    <split>/masks.npy           uint8  (N, S, S)     1 inside the landmark-hull face mask
    <split>/valid.npy           uint8  (N, S, S)     1 where the crop pixel comes from the frame,
                                                     0 where the crop box left it (black fill;
                                                     metrics skip these pixels)
    <split>/index.npy           int64  (N,)          frame index in the source video
    <split>/gt_<other>.npy      uint8  (N, S, S, 3)  optional: the ideal translation of each
                                                     frame to item <other> (synthetic data)
    <split>/<name>.npy          (N, ...)             optional per-frame extras of still-image
                                                     datasets, e.g. ``labels`` int64, ``subjects``

Splits are ``train`` and ``test``, plus ``val`` where the dataset defines one (portraits);
a video dataset with an official split (300VW) writes each item into its own split only.

Folders prepared before ``valid.npy`` existed still load: every pixel counts as valid
(their outside pixels are replicated edges; preparing again marks them).

Thousands of small image files are slow on cluster file systems; ``.npy`` arrays open as
memory maps, so training reads only the frames it samples.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceoff.errors import FaceoffError
from faceoff.io.atomic import save_npy

SPLITS = ("train", "val", "test")
_ARRAYS = ("frames", "landmarks", "masks", "index")
VALID = "valid"


class PreparedDataError(FaceoffError, RuntimeError):
    """Prepared data that is missing or inconsistent; the message names the path."""


@dataclass
class PreparedSplit:
    """One split of one prepared item; arrays may be memory maps."""

    frames: np.ndarray
    landmarks: np.ndarray
    masks: np.ndarray
    index: np.ndarray
    gt: dict[str, np.ndarray] = field(default_factory=dict)
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    valid: np.ndarray = None  # type: ignore[assignment]  # None: every pixel (a read-only view of ones)

    def __post_init__(self) -> None:
        if self.valid is None:
            self.valid = np.broadcast_to(np.ones((1, 1, 1), np.uint8), self.frames.shape[:3])

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> int:
        return int(self.frames.shape[1])

    def take(self, rows: slice | np.ndarray) -> PreparedSplit:
        """The same rows of every array (a slice of memory maps stays a lazy view; an index array copies)."""
        return PreparedSplit(
            frames=self.frames[rows],
            landmarks=self.landmarks[rows],
            masks=self.masks[rows],
            index=self.index[rows],
            gt={k: v[rows] for k, v in self.gt.items()},
            extra={k: v[rows] for k, v in self.extra.items()},
            valid=self.valid[rows],
        )


def save_split(item_dir: str | os.PathLike[str], split: str, data: PreparedSplit) -> None:
    """Write one split's arrays (each atomically) after checking their shapes agree."""
    n = len(data)
    for name in (*_ARRAYS[1:], VALID):
        if getattr(data, name).shape[0] != n:
            raise PreparedDataError(
                f"{item_dir}/{split}: {name} has {getattr(data, name).shape[0]} rows, frames {n}"
            )
    out = Path(item_dir) / split
    save_npy(out / "frames.npy", np.ascontiguousarray(data.frames, dtype=np.uint8))
    save_npy(out / "landmarks.npy", np.ascontiguousarray(data.landmarks, dtype=np.float32))
    save_npy(out / "masks.npy", np.ascontiguousarray(data.masks, dtype=np.uint8))
    save_npy(out / "index.npy", np.ascontiguousarray(data.index, dtype=np.int64))
    if data.valid.shape != data.frames.shape[:3]:
        raise PreparedDataError(
            f"{item_dir}/{split}: valid shape {data.valid.shape} != frames {data.frames.shape}"
        )
    save_npy(out / f"{VALID}.npy", np.ascontiguousarray(data.valid, dtype=np.uint8))
    for other, gt in data.gt.items():
        if gt.shape != data.frames.shape:
            raise PreparedDataError(
                f"{item_dir}/{split}: gt_{other} shape {gt.shape} != frames {data.frames.shape}"
            )
        save_npy(out / f"gt_{other}.npy", np.ascontiguousarray(gt, dtype=np.uint8))
    for name, values in data.extra.items():
        if name in (*_ARRAYS, VALID) or name.startswith("gt_") or values.shape[0] != n:
            raise PreparedDataError(
                f"{item_dir}/{split}: extra array {name!r} clashes or has {values.shape[0]} rows, frames {n}"
            )
        save_npy(out / f"{name}.npy", np.ascontiguousarray(values))


def load_split(item_dir: str | os.PathLike[str], split: str, mmap: bool = True) -> PreparedSplit:
    """Open one split; ``mmap`` keeps the frames on disk until they are indexed."""
    folder = Path(item_dir) / split
    if not folder.is_dir():
        raise PreparedDataError(f"{folder}: prepared split not found (run `faceoff prepare` first)")
    mode = "r" if mmap else None
    arrays = {}
    for name in _ARRAYS:
        path = folder / f"{name}.npy"
        if not path.is_file():
            raise PreparedDataError(f"{path}: missing array in prepared data")
        arrays[name] = np.load(path, mmap_mode=mode)
    gt = {p.stem[3:]: np.load(p, mmap_mode=mode) for p in sorted(folder.glob("gt_*.npy"))}
    extra = {
        p.stem: np.load(p, mmap_mode=mode)
        for p in sorted(folder.glob("*.npy"))
        if p.stem not in (*_ARRAYS, VALID) and not p.stem.startswith("gt_")
    }
    valid_path = folder / f"{VALID}.npy"
    valid = np.load(valid_path, mmap_mode=mode) if valid_path.is_file() else None
    return PreparedSplit(gt=gt, extra=extra, valid=valid, **arrays)
