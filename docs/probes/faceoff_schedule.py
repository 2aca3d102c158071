"""What the face-off baseline's budget buys at demo scale: learning rate and schedule length over
seeds (README, *Demo numbers*; issue 17, item 4).

Trains the demo's face-off baseline (A2B) once per setting and seed with ``faceoff train``, scores
it with ``faceoff evaluate`` exactly as the DAG does, and prints each setting's metrics per seed
and their mean. A setting is ``NAME:key=value:...``, overrides of ``families.faceoff.train`` on top
of params.yaml and config/demo.yaml, as ``faceoff bench`` writes them
(``--setting "lr 5e-4, 240 steps:lr=5.0e-4:steps=160:steps_decay=80"``);
without ``--setting`` the grid the README quotes runs. Every run reads the prepared persons of a
built demo and writes only under ``--work`` (a temporary folder by default), ``--jobs`` at a time
with one torch thread each. Run it after `make demo` (the default grid: 18 trainings, about 14
minutes on 2 cores):

    .venv/bin/python docs/probes/faceoff_schedule.py results/demo --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import yaml

from faceoff.bench.specs import named_overrides

ROOT = Path(__file__).resolve().parents[2]  # the repository: params.yaml, config/demo.yaml
METRICS = ("l1_gt", "ssim_gt", "identity_sim", "kid")
DEFAULT_GRID = (  # each names lr, steps and steps_decay, so that config/demo.yaml's choice does not leak in
    "lr 2e-4, 360 steps (the demo until 2026-12-04):lr=2.0e-4:steps=240:steps_decay=120",
    "lr 2e-4, 240 steps:lr=2.0e-4:steps=160:steps_decay=80",
    "lr 5e-4, 240 steps (the demo since):lr=5.0e-4:steps=160:steps_decay=80",
    "lr 5e-4, 360 steps:lr=5.0e-4:steps=240:steps_decay=120",
    "lr 1e-3, 360 steps:lr=1.0e-3:steps=240:steps_decay=120",
    "lr 5e-4, 720 steps:lr=5.0e-4:steps=480:steps_decay=240",
)


def setting_folder(
    demo: Path, work: Path, index: int, overrides: dict[str, object], seeds: list[int]
) -> Path:
    """The output folder of one setting: the demo's data linked in, its parameter file written."""
    out = work / f"setting{index}"
    out.mkdir(parents=True, exist_ok=True)
    for part in ("prepared", "raw"):
        if not (out / part).exists():
            (out / part).symlink_to((demo / part).resolve())
    family = {"seeds": seeds, "train": overrides}
    (out / "probe.yaml").write_text(yaml.safe_dump({"output_dir": str(out), "families": {"faceoff": family}}))
    return out


def run_one(out: Path, name: str, seed: int) -> dict:
    """Train and evaluate the baseline of the setting in ``out`` with ``seed``; its metrics and train time."""
    run = f"faceoff/A2B-baseline-s{seed}"
    config = [
        "-c",
        str(ROOT / "params.yaml"),
        "-c",
        str(ROOT / "config/demo.yaml"),
        "-c",
        str(out / "probe.yaml"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    seconds = {}
    for step in ("train", "evaluate"):
        started = time.monotonic()
        log_path = out / f"{step}-s{seed}.log"
        with open(log_path, "w") as log:
            command = [sys.executable, "-m", "faceoff", *config, step, "--run", run, "--threads", "1"]
            if subprocess.run(command, stdout=log, stderr=log, env=env, cwd=ROOT).returncode:
                raise SystemExit(f"{name!r}, seed {seed}: faceoff {step} failed, see {log_path}")
        seconds[step] = time.monotonic() - started
    metrics = json.loads((out / "evaluate" / run.replace("/", os.sep) / "metrics.json").read_text())
    return {"setting": name, "seed": seed, "train_s": seconds["train"], **{k: metrics[k] for k in METRICS}}


def _per_seed(rows: list[dict], metric: str) -> str:
    return " / ".join(f"{r[metric]:.3f}" for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("demo", type=Path, help="a built demo's output folder (results/demo)")
    parser.add_argument(
        "--setting", action="append", help="NAME:key=value:... (repeat; default: the README's grid)"
    )
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each (default 2)")
    parser.add_argument("--work", type=Path, help="where the runs go (default: a temporary folder)")
    args = parser.parse_args()
    if not (args.demo / "prepared" / "persons").is_dir():
        raise SystemExit(f"{args.demo}/prepared/persons not found: run `make demo` first")
    settings = [named_overrides(text) for text in (args.setting or DEFAULT_GRID)]
    seeds = [int(s) for s in args.seeds.split(",")]
    work = (args.work or Path(tempfile.mkdtemp(prefix="faceoff-schedule-"))).resolve()
    folders = [setting_folder(args.demo, work, i, over, seeds) for i, (_, over) in enumerate(settings)]
    tasks = [(out, name, seed) for out, (name, _) in zip(folders, settings, strict=True) for seed in seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda task: run_one(*task), tasks))
    print(f"runs in {work}; each metric: mean over seeds {seeds} (per seed)")
    print("| setting | train s | " + " | ".join(METRICS) + " |")
    print("|:--|--:|" + "--:|" * len(METRICS))
    for name, _ in settings:
        mine = [r for r in rows if r["setting"] == name]
        cells = [f"{np.mean([r[m] for r in mine]):.3f} ({_per_seed(mine, m)})" for m in METRICS]
        print(f"| {name} | {np.mean([r['train_s'] for r in mine]):.0f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
