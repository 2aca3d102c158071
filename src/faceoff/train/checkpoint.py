"""Atomic checkpoint files: a job killed while saving leaves the previous checkpoint intact.

A checkpoint records the precision its run resolved to (``precision``: fp32/bf16/fp16); a run
only continues one of its own precision (:func:`check_precision`).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from faceoff.errors import FaceoffError
from faceoff.io.atomic import atomic_path
from faceoff.train.settings import SettingsError


class CheckpointError(FaceoffError):
    """A resume checkpoint that cannot be read (a disk full or a copy cut short)."""


class PrecisionMismatchError(SettingsError):
    """A checkpoint of this very run, trained in another precision than this run resolves to."""


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(
    path: str | os.PathLike[str], device: torch.device | str = "cpu"
) -> dict[str, Any] | None:
    """The checkpoint's contents, or None when there is none; only tensors and built-ins are accepted."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise CheckpointError(
            f"{path}: resume checkpoint cannot be read ({exc}); delete it to train this run from its start"
        ) from exc


def load_model(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A trained model.pt on the CPU (``settings`` and the weights its translator needs)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def check_precision(path: str | os.PathLike[str], recorded: str, current: str, setting: str) -> None:
    """Stop a resume that would continue ``path`` (trained in ``recorded``) in ``current`` precision.

    Mixing precisions within a run gives numbers neither precision gives (and an fp16 run's grad
    scaler state cannot be rebuilt from a bf16 one), so the user chooses: keep the recorded
    precision, or start again in the current one.
    """
    if recorded == current:
        return
    raise PrecisionMismatchError(
        f"{path}: checkpoint trained in {recorded}, but this run's "
        f"precision ({setting!r}) resolves to {current} here; to continue it, set `precision: {recorded}` "
        f"in its settings (the family's train block, its variant or classifier block); to train it again in "
        f"{current}, delete {path}"
    )
