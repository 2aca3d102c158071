"""A killed workflow, resubmitted: only unfinished jobs run again and training resumes its checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from .pipeline import BIN, copy_workflow, env, run

pytestmark = pytest.mark.slow
SMOKE = "results/smoke"
RUN = "A2B-baseline-s0"


def test_killed_workflow_reruns_only_what_is_unfinished(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path / "work")
    # One pair, long enough to be killed between two checkpoints.
    longer = {
        "families": {
            "faceoff": {"pairs": ["A2B"], "train": {"steps": 300, "steps_decay": 100, "checkpoint_every": 20}}
        }
    }
    (work / "config/longer.yaml").write_text(yaml.safe_dump(longer))
    cmd = [str(BIN / "snakemake"), "--cores", "1", "--configfile", "config/smoke.yaml", "config/longer.yaml"]
    train_dir = work / SMOKE / "train/faceoff" / RUN
    proc = subprocess.Popen(
        cmd, cwd=work, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 600
        while not (train_dir / "ckpt/last.pt").exists():
            assert proc.poll() is None, "the workflow ended before training wrote a checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 10 minutes"
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # no clean shutdown: as when a node dies
        proc.wait()
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
    assert info["steps"] == 400 and 0 < info["resumed_from"] < 400
    assert (work / SMOKE / "report.html").is_file()
