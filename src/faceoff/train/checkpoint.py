"""Atomic checkpoint files: a job killed while saving leaves the previous checkpoint intact."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from faceoff.io.atomic import atomic_path


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
    return torch.load(path, map_location=device, weights_only=True)
