"""Loss bookkeeping without a host sync per step, and the run's DVCLive logs.

Per-step losses are summed on the device; the sums are read once per ``log_every`` window and
become one row of losses.csv and one step of the run's DVCLive folder (:class:`LiveLog`). The
first step with a non-finite loss is tracked on the device too.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceoff.io.atomic import write_text


class LossLog:
    def __init__(self, names: list[str], device: torch.device | str) -> None:
        self.names = names
        self.total = torch.zeros(len(names), dtype=torch.float64, device=device)
        self.count = 0
        self.first_bad = torch.full((), -1, dtype=torch.int64, device=device)
        self.rows: list[dict[str, float]] = []
        self.live: LiveLog | None = None

    def open_live(
        self, folder: str | os.PathLike[str], samples: str | os.PathLike[str], step: int
    ) -> LiveLog:
        """Log every row from now on to DVCLive in ``folder`` too, starting with the rows so far
        (a resumed run's, from its checkpoint at ``step``) and the periodic ``samples/step_*.png``
        up to ``step``."""
        self.live = LiveLog(folder, self.names, self.rows, samples, step)
        return self.live

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
        if self.live is not None:
            self.live.log_row(row)
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


SAMPLE_FILE = re.compile(r"step_(\d+)\.png")


class LiveLog:
    """A run's DVCLive folder: what ``dvc plots show/diff`` and ``dvc exp show`` read.

    ``plots/metrics/loss/<name>.tsv`` (and ``lr.tsv``, ``sec_per_step.tsv``) hold one row per
    logged step, ``plots/images/`` the samples (``samples/<step>.png`` and the final
    ``samples.png``), ``metrics.json`` the last row and the run's final figures.

    The folder is a view of the loss log, rewritten from it when a run starts: a resumed run
    replays its checkpoint's rows, so rows that a killed process logged after its last checkpoint
    are dropped rather than repeated, and the step axis goes on from the checkpoint whatever
    Snakemake or DVC deleted of the run's outputs before restarting it. DVCLive saves no DVC
    experiment, writes no dvc.yaml (dvc.yaml declares these files), opens no DVC repository and
    posts nothing to DVC Studio, inside a DVC project or outside one.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        losses: list[str],
        rows: list[dict[str, float]],
        samples: str | os.PathLike[str],
        step: int,
    ) -> None:
        os.environ["DVC_STUDIO_OFFLINE"] = "true"  # dvc-studio-client's switch: never post to Studio
        self.losses = set(losses)
        self.live = _offline_live(os.fspath(folder))
        for row in rows:
            self.log_row(row)
        for path in sorted(Path(samples).glob("step_*.png")):
            match = SAMPLE_FILE.fullmatch(path.name)
            if match and int(match[1]) <= step:
                self.log_image(path, int(match[1]))

    def log_row(self, row: Mapping[str, float]) -> None:
        """One step of every column (losses under ``loss/``), and metrics.json."""
        self.live.step = int(row["step"])
        for key, value in row.items():
            if key != "step":
                self.live.log_metric(f"loss/{key}" if key in self.losses else key, float(value))
        self.live.make_summary()

    def log_image(self, image: np.ndarray | str | os.PathLike[str], step: int) -> None:
        """A periodic sample, in the folder DVC's image slider reads (``samples/<step>.png``)."""
        self.live.step = step
        self.live.log_image(f"samples/{step}.png", image)

    def close(self, result: Mapping[str, Any], samples: np.ndarray) -> None:
        """The final sample grid and the run's final figures (from train.json) into metrics.json."""
        self.live.log_image("samples.png", samples)
        for key in ("steps", "diverged", "wall_time_s", "sec_per_step_median"):
            if result.get(key) is not None:
                self.live.log_metric(key, result[key], plot=False)
        self.live.end()


def _offline_live(folder: str) -> Any:
    """A fresh DVCLive logger in ``folder`` (dvclive is imported here: it costs the steps that only
    read trained models more than half a second)."""
    from dvclive import Live

    class OfflineLive(Live):
        """DVCLive without its DVC-repository set-up, which this logger needs none of (no
        experiment saved, no dvc.yaml written) and which, in a git repository without DVC, would
        run ``dvc init`` there (dvclive.dvc.get_dvc_repo)."""

        def _init_dvc(self) -> None:
            self._dvc_repo = None

    return OfflineLive(folder, resume=False, save_dvc_exp=False, dvcyaml=None)
