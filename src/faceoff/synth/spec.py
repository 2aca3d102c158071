"""What every synthetic writer is asked to render (``faceoff.datasets.registry.DatasetKind.synth``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SynthSpec:
    """A dataset's ``synthetic`` block and items: ``n_frames`` frames (or images per item) of
    ``size`` px for each item, and each (src, tgt) of ``ground_truth_pairs`` rendered again as tgt
    where the format has ground truth."""

    items: Sequence[str]
    n_frames: int
    size: int
    fps: float = 25.0
    seed: int = 0
    ground_truth_pairs: Sequence[tuple[str, str]] = ()
