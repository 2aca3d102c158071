"""Shared fixtures; tests run from the repository root so relative params paths resolve."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _quiet_single_thread() -> None:
    """Two xdist workers share two cores: one torch thread each keeps them from thrashing."""
    torch.set_num_threads(1)
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def repo() -> Path:
    return REPO
