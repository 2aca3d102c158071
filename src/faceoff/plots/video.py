"""Side-by-side videos: several aligned frame sequences shown next to each other, labelled."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from faceoff.io.progress import progress_bar
from faceoff.io.video import write_video


def label(frame: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``frame`` with ``text`` on a dark strip in its top-left corner."""
    image = Image.fromarray(np.ascontiguousarray(frame, dtype=np.uint8))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    left, top, right, bottom = draw.textbbox((3, 2), text, font=font)
    draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=(0, 0, 0))
    draw.text((3, 2), text, fill=(255, 255, 255), font=font)
    return np.asarray(image)


def _side_by_side(panels: Sequence[np.ndarray], labels: Sequence[str] | None) -> Iterator[np.ndarray]:
    for i in range(min(len(p) for p in panels)):
        frames = [np.asarray(p[i], dtype=np.uint8) for p in panels]
        if labels is not None:
            frames = [label(f, t) for f, t in zip(frames, labels, strict=True)]
        yield np.concatenate(frames, axis=1)


def side_by_side_video(
    path: str | os.PathLike[str],
    panels: Sequence[np.ndarray],
    fps: float = 25.0,
    labels: Sequence[str] | None = None,
) -> int:
    """Write panels (each (N, H, W, 3), same H) next to each other as one H.264 video.

    The video is as long as the shortest panel; returns the number of frames written.
    """
    if not panels:
        raise ValueError(f"{path}: no panels to put side by side")
    if len({p.shape[1] for p in panels}) != 1:
        raise ValueError(f"{path}: panels differ in height: {[p.shape for p in panels]}")
    frames = progress_bar(
        _side_by_side(panels, labels),
        total=min(len(p) for p in panels),
        desc=f"video {Path(path).name}",
        unit="frame",
    )
    with frames:
        return write_video(path, frames, fps=fps)
