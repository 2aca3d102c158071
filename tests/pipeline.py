"""Helpers for the end-to-end tests: a disposable copy of the workflow and command runners."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import yaml

from faceoff.config import load_params

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORKFLOW_FILES = (
    "Snakefile",
    "dvc.yaml",
    "params.yaml",
    "config",
    "workflow",
    "envs",
    "src",
    "slurm",
    ".dvcignore",
)


SMOKE = "config/smoke.yaml"  # the configuration of the session's shared builds
FACEOFF_ONLY = "config/faceoff-only.yaml"  # written by copy_workflow: ONE_STUDY
# The smoke persons at the size of the smoke's other datasets: the smoke renders them at 128 px and
# prepares 96 px faces for its 5-layer discriminators, which these tests' baseline runs lack.
SMALL_PERSONS = {"synthetic": {"size": 64}, "prepare": {"size": 40}}
# The face-off study's reference run on two pairs, on small faces: what tests of the workflow's
# mechanics need (the smoke configuration itself runs every variant on one pair).
ONE_STUDY = {
    "run_families": ["faceoff"],
    "datasets": {"persons": {"items": ["A", "B", "C"], **SMALL_PERSONS}},
    "families": {"faceoff": {"pairs": ["A2B", "A2C"], "run": ["baseline"], "train": {"crop_size": 32}}},
}


def copy_workflow(dst: Path, params_override: str | None = None) -> Path:
    """Copy what the DAG needs into ``dst``; with an override, bake it into params.yaml (for DVC).

    Also writes :data:`FACEOFF_ONLY` (:data:`ONE_STUDY`): tests of the workflow's mechanics
    (SLURM, resuming) need the face-off baseline on two pairs, not every variant of five studies.
    """
    dst.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dst / name)
    # The project's ignore rules (checkpoints and logs stay out of git), less the line that keeps
    # test outputs out of the project's own history: a test project versions its results.
    rules = (REPO / ".gitignore").read_text().splitlines()
    (dst / ".gitignore").write_text("\n".join(r for r in rules if r != "results/smoke/") + "\n")
    (dst / FACEOFF_ONLY).write_text(yaml.safe_dump(ONE_STUDY))
    if params_override:
        merged = load_params([REPO / "params.yaml", REPO / params_override])
        (dst / "params.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
    return dst


def build_once(root: Path, name: str, build: Callable[[Path], None]) -> Path:
    """``root/name``, made by ``build(root/name)`` once for every process that asks for it.

    pytest-xdist runs session fixtures once per worker; the slow builds (the smoke DAG, its
    `dvc repro`) are shared instead: the first worker builds under an exclusive lock, the others
    wait and reuse it. A failed build is recorded, so the waiting workers fail with its message
    rather than each spending minutes repeating it.
    """
    root.mkdir(parents=True, exist_ok=True)
    work, done, failed = root / name, root / f"{name}.done", root / f"{name}.failed"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if failed.exists():
                raise AssertionError(f"building {name} failed in another worker:\n{failed.read_text()}")
            if not done.exists():
                shutil.rmtree(work, ignore_errors=True)
                try:
                    build(work)
                except BaseException as exc:
                    failed.write_text(str(exc))
                    raise
                done.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return work


def clone_build(src: Path, dst: Path) -> Path:
    """A copy of a shared build to run commands in or change: files with their times (which
    Snakemake and DVC compare) and links as links."""
    shutil.copytree(src, dst, symlinks=True)
    return dst


def synthetic_datasets(work: Path) -> list[str]:
    """The datasets of a copied project whose raw data `faceoff synth` renders (all, in the smoke)."""
    datasets = yaml.safe_load((work / "params.yaml").read_text())["datasets"]
    return [name for name, dataset in datasets.items() if dataset.get("synthetic")]


def env(work: Path | None = None) -> dict[str, str]:
    """The test interpreter's bin first on PATH, one torch thread per job, no colour codes.

    With ``work`` (a copied project), its ``src/`` comes first on PYTHONPATH, so the ``faceoff``
    command that DVC stages call runs the copied code, as Snakemake's rules do, not the live
    checkout's (an edit made while a slow test runs would otherwise reach only one of the two).
    """
    out = dict(os.environ)
    out["PATH"] = f"{BIN}{os.pathsep}{out.get('PATH', '')}"
    if work is not None and (work / "src").is_dir():
        out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(work / "src"), out.get("PYTHONPATH")]))
    out.update(OMP_NUM_THREADS="1", MPLBACKEND="Agg", NO_COLOR="1", DVC_NO_ANALYTICS="1")
    return out


def run(cmd: list[str], cwd: Path, timeout: int = 1200) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure show its output (and any rule logs) in the assertion."""
    proc = subprocess.run(cmd, cwd=cwd, env=env(cwd), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        logs = "\n".join(
            f"--- {p}\n{p.read_text()[-3000:]}" for p in sorted(cwd.glob("results/*/logs/**/*.log"))
        )
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}\n{logs}"
        )
    return proc


def files_under(paths: list[Path]) -> set[str]:
    """Every file at or below the given paths, relative to their common root."""
    out: set[str] = set()
    for path in paths:
        if path.is_dir():
            out |= {str(p) for p in path.rglob("*") if p.is_file()}
        elif path.exists():
            out.add(str(path))
    return out


def same_losses(losses_csv: Path) -> pd.DataFrame:
    """A run's losses.csv without its wall-clock column: what two identical runs must share."""
    return pd.read_csv(losses_csv).drop(columns="sec_per_step")


# A face-off run long enough to be killed between two of its checkpoints (on small faces: only
# the resumption is under test); LONGER_STEPS in all.
LONGER_STEPS = 160
LONGER_RUN = {
    "run_families": ["faceoff"],
    "datasets": {"persons": SMALL_PERSONS},
    "families": {
        "faceoff": {
            "pairs": ["A2B"],
            "run": ["baseline"],
            "train": {"crop_size": 32, "steps": 120, "steps_decay": 40, "checkpoint_every": 20},
        }
    },
}


def kill_after_checkpoint(cmd: list[str], cwd: Path, checkpoint: Path, timeout: float = 600) -> None:
    """Start a workflow and SIGKILL it (its whole process group) once ``checkpoint`` exists."""
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env(cwd),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while not checkpoint.exists():
            assert proc.poll() is None, "the workflow ended before training wrote a checkpoint"
            assert time.monotonic() < deadline, f"no checkpoint within {timeout:.0f} s"
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # no clean shutdown: as when a node dies
        proc.wait()
