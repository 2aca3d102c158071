"""`snakemake --profile slurm` against a live one-node SLURM cluster started by the test."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from faceoff.warmstart import DIR_ENV

from .pipeline import (
    BIN,
    FACEOFF_ONLY,
    LONGER_RUN,
    LONGER_STEPS,
    copy_workflow,
    env,
    kill_after_checkpoint,
    run,
    same_losses,
)
from .services import slurm_cluster

pytestmark = [pytest.mark.slow, pytest.mark.service]
SMOKE = "results/smoke"


@pytest.fixture(scope="module")
def partition(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The cluster's partition, chosen the way the README tells users: ``SBATCH_PARTITION``."""
    with slurm_cluster(tmp_path_factory.mktemp("slurm-state")) as name:
        before = os.environ.get("SBATCH_PARTITION")
        os.environ["SBATCH_PARTITION"] = name
        try:
            yield name
        finally:
            if before is None:
                del os.environ["SBATCH_PARTITION"]
            else:
                os.environ["SBATCH_PARTITION"] = before


def _profile_cmd(*extra: str) -> list[str]:
    """The literal `snakemake --profile slurm`, plus the local cluster's overrides.

    The test node has 2 CPUs, so the profile's multi-core jobs get one thread each (threads
    set --cpus-per-task) and a group job at most 2; accounting is off here, so job states come
    from squeue. The profile's resources (the training rule's GPU) and groups are left as they are.
    """
    return [
        str(BIN / "snakemake"),
        "--profile",
        "slurm",
        "--configfile",
        "config/smoke.yaml",
        FACEOFF_ONLY,
        *extra,
        "--set-threads",
        "train=1",
        "evaluate=1",
        "--cores",
        "2",
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "2",
    ]


def _job_ids(output: str) -> list[str]:
    return re.findall(r"submitted with SLURM jobid (\d+)", output)


def _submitted(output: str) -> list[str]:
    """What each submission ran, from its SLURM log folder: ``rule_<rule>/`` or
    ``group_<group>_<its rules>/``, read as ``rule_<rule>`` or ``group_<group>``."""
    return re.findall(
        r"submitted with SLURM jobid \d+ \(log: \S*slurm_logs/(rule_\w+(?=/)|group_[^_/]+)", output
    )


def _ungrouped_profile(work: Path) -> str:
    """The profile without its groups: one submission per job, as before grouping."""
    profile = yaml.safe_load((work / "slurm/config.yaml").read_text())
    del profile["groups"]
    (work / "slurm-ungrouped").mkdir()
    (work / "slurm-ungrouped/config.yaml").write_text(yaml.safe_dump(profile))
    return "slurm-ungrouped"


def test_smoke_dag_runs_as_slurm_jobs(partition: str, tmp_path: Path) -> None:
    work = copy_workflow(tmp_path / "slurm")
    proc = run(_profile_cmd(), work)
    ids = _job_ids(proc.stdout + proc.stderr)
    # synth 1 + prepare 3 + train 2 + one group job for the 2 evaluations, the 2 copy baselines,
    # the 2 applied videos, the table and the figure + the claims ledger (its own job: it reads
    # every family, so grouping it would merge the families' groups); the report is local
    assert sorted(_submitted(proc.stdout + proc.stderr)) == sorted(
        ["rule_synth_persons", *["rule_prepare"] * 3, *["rule_train"] * 2, "group_short", "rule_claims"]
    ), proc.stderr[-3000:]
    assert len(ids) == 8
    states = {}
    for job_id in ids:
        info = subprocess.run(
            ["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True
        ).stdout
        states[job_id] = re.search(r"JobState=(\S+)", info)[1]
        if "rule_train" in info:
            assert "gpu" in info, f"training job {job_id} did not request a GPU:\n{info}"
    assert set(states.values()) == {"COMPLETED"}, states
    # Jobs on cluster nodes run in fresh processes: none started a warm-start server (local runs do).
    servers = "".join(p.read_text() for p in Path(os.environ[DIR_ENV]).glob("*.log"))
    assert f"started in {work}" not in servers

    local = copy_workflow(tmp_path / "local")
    run([str(BIN / "snakemake"), "--cores", "2", "--configfile", "config/smoke.yaml", FACEOFF_ONLY], local)
    metrics = sorted((local / SMOKE / "evaluate").rglob("metrics.json"))
    losses = sorted((local / SMOKE / "train").rglob("losses.csv"))
    assert (len(metrics), len(losses)) == (4, 2)
    for path in metrics:
        assert (work / path.relative_to(local)).read_bytes() == path.read_bytes(), path
    for path in losses:
        pd.testing.assert_frame_equal(same_losses(work / path.relative_to(local)), same_losses(path))
    # Two pairs (the smoke configuration runs one): the table has each pair's run and references,
    # the summary averages over both, each pair has its comparison figure.
    table = pd.read_csv(work / SMOKE / "tables/faceoff.csv")
    assert len(table) == 6 and (table["variant"] == "copy input").sum() == 2
    assert (table["variant"] == "ground-truth paste").sum() == 2 and table["apply_l1_gt"].notna().all()
    summary = pd.read_csv(work / SMOKE / "tables/faceoff/summary.csv")
    assert sorted(summary["variant"]) == ["baseline", "copy input", "ground-truth paste"]
    assert summary["pairs"].tolist() == [2, 2, 2]
    figures = sorted(p.name for p in (work / SMOKE / "figures/faceoff").glob("*.png"))
    assert figures == ["comparison-A2B.png", "comparison-A2C.png", "losses.png"]

    # Before grouping: short steps of the group (the evaluations and what reads them), rerun with
    # the profile less its groups, take one submission each (the ledger reads none of them: no
    # claim compares variants this configuration runs); the results do not depend on how they
    # were submitted. (The group's copy baselines and applied videos would be four more fresh
    # jobs showing the same.)
    grouped_table = (work / SMOKE / "tables/faceoff.csv").read_bytes()
    cmd = _profile_cmd("--forcerun", "evaluate", "table", "figure")
    ungrouped = run([*cmd[:2], _ungrouped_profile(work), *cmd[3:]], work)
    submitted = _submitted(ungrouped.stdout + ungrouped.stderr)
    assert sorted(submitted) == sorted(["rule_evaluate"] * 2 + ["rule_table", "rule_figure"])
    assert (work / SMOKE / "tables/faceoff.csv").read_bytes() == grouped_table


def test_failed_job_is_retried_reported_and_the_rest_continues(partition: str, tmp_path: Path) -> None:
    work = copy_workflow(tmp_path / "failing")
    broken = {
        "families": {
            "faceoff": {
                "pairs": ["A2B"],
                "run": ["baseline", "broken"],
                # A crop larger than the prepared frames: the training job fails on purpose.
                "variants": {"broken": {"crop_size": 128}},
            }
        }
    }
    (work / "config/broken.yaml").write_text(yaml.safe_dump(broken))
    cmd = _profile_cmd("config/broken.yaml")
    proc = subprocess.run(cmd, cwd=work, env=env(), capture_output=True, text=True, timeout=1200)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert re.search(r"Error in rule train:.*?A2B-broken-s0", out, re.S)
    assert re.search(r"slurm_logs/rule_train/faceoff_A2B-broken-s0/\d+\.log", out)
    assert out.count("rule_train/faceoff_A2B-broken-s0") >= 2 and "Trying to restart job" in out  # retries: 1
    train_log = (work / SMOKE / "logs/train/faceoff/A2B-broken-s0.log").read_text()
    assert "families.faceoff.variants.broken.crop_size = 128 is larger than the frames in" in train_log
    # --keep-going (from the profile): the healthy run was still trained. Its evaluation waits
    # with the rest of the family's short steps in their group job, which needs every run.
    assert (work / SMOKE / "train/faceoff/A2B-baseline-s0/model.pt").is_file()
    assert "group_short" not in out


def test_killed_workflow_resumes_on_resubmission(partition: str, tmp_path: Path) -> None:
    """Snakemake and its running job die; the same command again resubmits only the unfinished
    jobs, and the training job continues from its checkpoint."""
    work = copy_workflow(tmp_path / "killed")
    (work / "config/longer.yaml").write_text(yaml.safe_dump(LONGER_RUN))
    train_dir = work / SMOKE / "train/faceoff/A2B-baseline-s0"
    # Up to the trained model: what resubmission must resume (the local test runs on to the report).
    cmd = [*_profile_cmd("config/longer.yaml"), str((train_dir / "model.pt").relative_to(work))]
    kill_after_checkpoint(cmd, work, train_dir / "ckpt/last.pt")
    subprocess.run(["scancel", "--partition", partition], check=True)  # the job dies with it
    deadline = time.monotonic() + 120
    while subprocess.run(["squeue", "-h", "-p", partition], capture_output=True, text=True).stdout.strip():
        assert time.monotonic() < deadline, "cancelled jobs did not leave the queue"
        time.sleep(1)
    assert not (train_dir / "model.pt").exists()

    run([*cmd, "--unlock"], work)
    again = run(cmd, work)  # the profile reruns incomplete jobs
    out = again.stdout + again.stderr
    resubmitted = re.findall(r"Job \d+ has been submitted with SLURM jobid \d+ \(log: \S*rule_(\w+)/", out)
    assert resubmitted and "train" in resubmitted, out[-3000:]
    assert not {"synth_persons", "prepare"} & set(resubmitted), resubmitted
    info = json.loads((train_dir / "train.json").read_text())
    assert info["steps"] == LONGER_STEPS and 0 < info["resumed_from"] < LONGER_STEPS
