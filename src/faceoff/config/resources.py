"""What a training job asks a cluster for, from its resolved settings (used by the Snakefile).

Calibrated on one GPU with the reference CycleGAN at 256 px, batch 1: about 0.25 s per step and
under 6 GB of host memory (the two prepared splits, the networks, the optimizer states and the
data on its way to the device). Both scale with the pixels of a batch; a retried job (SLURM
killed it for time or memory) asks for proportionally more at each attempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SECONDS_PER_STEP_256 = 0.25
BASE_MINUTES = 10
BASE_MEM_MB = 2000
MEM_MB_PER_256_IMAGE = 4000


def _pixels(settings: Mapping[str, Any]) -> float:
    """A step's image area in units of one 256 x 256 image."""
    return settings.get("batch_size", 1) * (settings["crop_size"] / 256) ** 2


def train_runtime_minutes(settings: Mapping[str, Any], attempt: int = 1) -> int:
    steps = settings["steps"] + settings["steps_decay"]
    minutes = BASE_MINUTES + steps * _pixels(settings) * SECONDS_PER_STEP_256 / 60
    return int(minutes * attempt)


def train_mem_mb(settings: Mapping[str, Any], attempt: int = 1) -> int:
    return int((BASE_MEM_MB + MEM_MB_PER_256_IMAGE * _pixels(settings)) * attempt)
