"""What every preparer receives and raises: one :class:`PrepareJob` in, a :class:`PrepareError` out."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceoff.datasets.prepared import PreparedSplit, save_split
from faceoff.errors import FaceoffError
from faceoff.io.atomic import atomic_dir, write_json
from faceoff.prepare.report import StepTimer


class PrepareError(FaceoffError, RuntimeError):
    """Input that cannot be prepared (missing, empty, undecodable, faceless); the message names the file."""


@dataclass(frozen=True)
class PrepareJob:
    """One item of a dataset to prepare into ``out_dir`` (the prepared format + report.json).

    ``source`` is the dataset's raw folder, ``settings`` its params ``prepare`` block and
    ``groundtruth`` maps other items to the paths the kind's ``DatasetKind.groundtruth`` returned.
    A preparer times its steps with ``timer`` and ends with :meth:`save`, so it leaves ``out_dir``
    as it was when it fails.
    """

    kind: str
    source: Path
    item: str
    out_dir: Path
    settings: Mapping[str, Any]
    groundtruth: Mapping[str, Path]
    progress: bool = True
    timer: StepTimer = field(default_factory=StepTimer)
    start: float = field(default_factory=time.perf_counter)

    def settings_with(
        self, defaults: Mapping[str, Any], required: Sequence[str] = ("size",)
    ) -> dict[str, Any]:
        """The settings over the preparer's ``defaults``; a missing ``required`` key is an error."""
        settings = {**defaults, **self.settings}
        for key in required:
            if key not in settings:
                raise PrepareError(f"{self.kind}/{self.item}: prepare setting {key!r} is missing")
        return settings

    def save(self, splits: Mapping[str, PreparedSplit], report: Mapping[str, Any]) -> dict[str, Any]:
        """Write the splits and report.json (``report`` + the step timings) into ``out_dir`` at once."""
        with atomic_dir(self.out_dir) as tmp:
            for name, data in splits.items():
                save_split(tmp, name, data)
            timing = {**self.timer.summary(), "total": round(time.perf_counter() - self.start, 3)}
            saved = {**report, "timing_s": timing}
            write_json(tmp / "report.json", saved)
        return saved
