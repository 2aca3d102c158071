"""A killed workflow, resubmitted: only unfinished jobs run again and training resumes its checkpoint.

The same on SLURM: tests/test_slurm.py::test_killed_workflow_resumes_on_resubmission.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from .pipeline import BIN, LONGER_RUN, LONGER_STEPS, copy_workflow, kill_after_checkpoint, run

pytestmark = pytest.mark.slow
SMOKE = "results/smoke"
RUN = "A2B-baseline-s0"


def test_killed_workflow_reruns_only_what_is_unfinished(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path / "work")
    (work / "config/longer.yaml").write_text(yaml.safe_dump(LONGER_RUN))
    cmd = [str(BIN / "snakemake"), "--cores", "1", "--configfile", "config/smoke.yaml", "config/longer.yaml"]
    train_dir = work / SMOKE / "train/faceoff" / RUN
    kill_after_checkpoint(cmd, work, train_dir / "ckpt/last.pt")
    assert not (train_dir / "model.pt").exists()
    prepared = sorted((work / SMOKE / "prepared").rglob("*.npy"))
    stamps = {p: p.stat().st_mtime_ns for p in prepared}

    run([*cmd, "--unlock"], work)  # the killed Snakemake could not release its lock
    again = run([*cmd, "--rerun-incomplete"], work)
    log = again.stdout + again.stderr
    assert "rule synth" not in log and "rule prepare" not in log, "finished jobs ran again"
    assert "rule train" in log
    assert all(p.stat().st_mtime_ns == stamps[p] for p in prepared)
    info = json.loads((train_dir / "train.json").read_text())
    assert info["steps"] == LONGER_STEPS and 0 < info["resumed_from"] < LONGER_STEPS
    assert (work / SMOKE / "report.html").is_file()
