"""Loss bookkeeping without a host sync per step.

Per-step losses are summed on the device; the sums are read once per ``log_every`` window and
become one row of losses.csv. The first step with a non-finite loss is tracked on the device too.
"""

from __future__ import annotations

import csv
import io
import math
import os
from typing import Any

import torch

from faceoff.io.atomic import write_text


class LossLog:
    def __init__(self, names: list[str], device: torch.device | str) -> None:
        self.names = names
        self.total = torch.zeros(len(names), dtype=torch.float64, device=device)
        self.count = 0
        self.first_bad = torch.full((), -1, dtype=torch.int64, device=device)
        self.rows: list[dict[str, float]] = []

    def add(self, step: int, losses: torch.Tensor) -> None:
        """Add one step's losses (a vector in ``names`` order), all still on the device."""
        losses = losses.detach().to(self.total.dtype)
        self.total += losses
        self.count += 1
        bad = ~torch.isfinite(losses).all() & (self.first_bad < 0)
        self.first_bad = torch.where(bad, torch.full_like(self.first_bad, step), self.first_bad)

    def diverged_at(self) -> int | None:
        """The first step with a NaN or infinite loss so far (one host sync)."""
        step = int(self.first_bad)
        return None if step < 0 else step

    def flush(self, step: int, extra: dict[str, float]) -> dict[str, float] | None:
        """Close the window: append and return its row of mean losses (None when empty)."""
        if not self.count:
            return None
        means = (self.total / self.count).tolist()
        row = {"step": step, **extra, **dict(zip(self.names, means, strict=True))}
        self.rows.append(row)
        self.total.zero_()
        self.count = 0
        return row

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        if not self.rows:
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(self.rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text(path, buffer.getvalue())

    def state_dict(self) -> dict[str, Any]:
        return {
            "total": self.total.cpu(),
            "count": self.count,
            "first_bad": self.first_bad.cpu(),
            "rows": self.rows,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.total = state["total"].to(self.total.device)
        self.count = state["count"]
        self.first_bad = state["first_bad"].to(self.first_bad.device)
        self.rows = list(state["rows"])


def finite_or_none(row: dict[str, float] | None) -> dict[str, float | None] | None:
    """A row safe for strict JSON: NaN and infinities become null."""
    if row is None:
        return None
    return {k: (v if math.isfinite(v) else None) for k, v in row.items()}
