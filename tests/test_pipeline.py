"""End to end: the smoke configuration through Snakemake (`dvc repro`: tests/test_dvc_repro.py)."""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from faceoff.evaluate.glossary import get_glossary
from faceoff.io.video import read_frames
from faceoff.report.studies import CLAIMS_STUDY, study
from faceoff.warmstart import DIR_ENV

from .pipeline import BIN, REPO, clone_build, copy_workflow, files_under, run

pytestmark = pytest.mark.slow
SMOKE = "results/smoke"
SIZES = {"faceoff": 128, "swap": 64}  # the raw frames of config/smoke.yaml's persons and ffpp
# Every family runs every variant of params.yaml's `run` in the smoke configuration too.
RUN = {
    name: family["run"]
    for name, family in yaml.safe_load((REPO / "params.yaml").read_text())["families"].items()
}
FACEOFF_RUNS = [f"A2B-{variant}-s0" for variant in RUN["faceoff"]]  # the smoke's one pair


@pytest.fixture(scope="module")
def smoke(smoke_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's smoke build, copied: tests here run Snakemake and DVC in it."""
    return clone_build(smoke_build, tmp_path_factory.mktemp("snakemake") / "work")


def test_smoke_runs_every_variant_of_every_family() -> None:
    """config/smoke.yaml shrinks steps and frames, never the variants a family runs."""
    from faceoff.config import load_params

    smoke = load_params([REPO / "params.yaml", REPO / "config/smoke.yaml"])
    assert {name: family["run"] for name, family in smoke["families"].items()} == RUN
    assert "run_families" not in smoke
    for family in smoke["families"].values():
        assert set(family["variants"]) <= set(family["run"])


def test_smoke_jobs_ran_warm(smoke_build: Path) -> None:
    """Snakemake's local jobs were forked by warm-start servers (faceoff.warmstart); all but the
    first few, which ran in their own processes while the server imported torch & co."""
    logs = "".join(p.read_text() for p in Path(os.environ[DIR_ENV]).glob("*.log"))
    here = re.escape(f"(in {smoke_build})")
    served = re.findall(rf"pid \d+: faceoff .* (train|evaluate) --run \S+ .*{here}", logs)
    runs = sum(len(variants) for variants in RUN.values())
    assert len(served) >= runs, f"{len(served)} of {2 * runs} training and evaluation jobs ran warm"


def _ran_first(rule: str) -> bool:
    """The rules the workflow gives priority (TRAINING_FIRST): the trainings and what they wait on."""
    return rule.startswith("synth_") or rule in {"prepare", "train", "train_classifier"}


def _passed_over(log: str) -> list[str]:
    """Jobs a Snakemake log shows started while a job of a :func:`_ran_first` rule, its inputs all
    made, was left waiting: one "<rule> <jobid> before <rule> <jobid>" per case. A scheduling round
    is an "Execute N jobs" line; the jobs it starts are the job blocks after it, each a rule line,
    its input and output lines and its jobid; an input is made by the job with an output at or above it."""
    rules: dict[int, str] = {}
    inputs: dict[int, list[str]] = {}
    outputs: dict[int, list[str]] = {}
    rounds: list[tuple[set[int], list[int]]] = []  # (jobs finished when selected, jobs started)
    done: set[int] = set()
    block: dict[str, Any] = {}
    for line in log.splitlines():
        if re.match(r"Execute \d+ jobs", line):
            rounds.append((set(done), []))
        elif m := re.match(r"(?:local)?rule (\w+):$", line):
            block = {"rule": m.group(1), "input": [], "output": []}
        elif block and (m := re.match(r"\s+(input|output): (.*)", line)):
            block[m.group(1)] = m.group(2).split(", ")
        elif block and (m := re.match(r"\s+jobid: (\d+)", line)):
            job = int(m.group(1))
            rules[job], inputs[job], outputs[job] = block["rule"], block["input"], block["output"]
            rounds[-1][1].append(job)
            block = {}
        elif m := re.match(r"Finished jobid: (\d+)", line):
            done.add(int(m.group(1)))

    def makers(paths: list[str]) -> set[int]:
        return {j for p in paths for j, outs in outputs.items() for o in outs if f"{p}/".startswith(f"{o}/")}

    needs = {job: makers(paths) for job, paths in inputs.items()}
    started: set[int] = set()
    passed = []
    for finished, chosen in rounds:
        started |= set(chosen)
        ready = [j for j in rules if _ran_first(rules[j]) and j not in started and needs[j] <= finished]
        late = [c for c in chosen if not _ran_first(rules[c])]
        passed += [f"{rules[c]} {c} before {rules[w]} {w}" for c in late for w in ready]
    return passed


def test_smoke_ran_trainings_first(smoke_build: Path) -> None:
    """Trainings, the long jobs, and the synthesis and preprocessing they wait on start before any
    ready evaluation, apply, table or figure (workflow/rules/common.smk, TRAINING_FIRST): no
    training is left to start late while the short jobs run out."""
    (log,) = (smoke_build / ".snakemake" / "log").glob("*.snakemake.log")
    text = log.read_text()
    assert len(re.findall(r"^(?:local)?rule train:", text, re.M)) == sum(len(v) for v in RUN.values())
    assert _passed_over(text) == []


def _snakemake_outputs(work: Path) -> set[str]:
    proc = run([str(BIN / "snakemake"), "--summary", "--configfile", "config/smoke.yaml"], work)
    lines = [line.split("\t") for line in proc.stdout.splitlines() if "\t" in line]
    header, rows = lines[0], lines[1:]
    assert header[0] == "output_file"
    outputs = [work / row[0] for row in rows if not row[0].startswith(f"{SMOKE}/raw")]
    return {str(Path(p).relative_to(work)) for p in files_under(outputs)}


def _dvc_outputs(work: Path) -> set[str]:
    from dvc.repo import Repo

    with Repo(str(work)) as repo:
        outs = [
            work / str(out.fs_path).removeprefix(str(work) + "/")
            for stage in repo.index.stages
            for out in stage.outs
        ]
    return {str(Path(p).relative_to(work)) for p in files_under(outs)}


def test_smoke_dag_builds_everything(smoke: Path) -> None:
    out = smoke / SMOKE
    assert (out / "report.html").stat().st_size > 0
    for run_id in FACEOFF_RUNS:  # every variant trained, evaluated and filmed
        metrics = json.loads((out / f"evaluate/faceoff/{run_id}/metrics.json").read_text())
        for key in ("l1_gt", "psnr_gt", "ssim_gt", "ssim_input", "cycle_l1", "identity_sim", "flicker"):
            assert np.isfinite(metrics[key]), (run_id, key)
        frames = list(read_frames(out / f"evaluate/faceoff/{run_id}/faceoff.mp4"))
        assert len(frames) == 10, run_id
        train = json.loads((out / f"train/faceoff/{run_id}/train.json").read_text())
        assert train["steps"] == 10 and train["diverged"] is False, run_id
    table = pd.read_csv(out / "tables/faceoff.csv")
    assert sorted(table["run"]) == sorted([*FACEOFF_RUNS, "A2B-copy", "A2B-groundtruth-paste"])
    assert len(table) == 12 + 2 and (table["variant"] == "copy input").sum() == 1
    assert (table["variant"] == "ground-truth paste").sum() == 1 and table["apply_l1_gt"].notna().all()
    summary = pd.read_csv(out / "tables/faceoff/summary.csv")
    assert sorted(summary["variant"]) == sorted([*RUN["faceoff"], "copy input", "ground-truth paste"])
    assert summary["pairs"].tolist() == [1] * 14  # two pairs: tests/test_slurm.py
    sweep = pd.read_csv(out / "tables/faceoff/ssim_w.csv")  # the SSIM weight sweep, in its order
    assert sweep["variant"].drop_duplicates().tolist() == ["ssim_w1e4", "ssim_w1e3", "ssim", "ssim_w1e1"]
    figures = sorted(p.name for p in (out / "figures/faceoff").glob("*.png"))
    assert figures == ["comparison-A2B.png", "losses.png"]
    for rule in ("prepare", "train", "evaluate", "apply", "table", "figure"):
        assert list((out / "logs" / rule).rglob("*.log")), f"no log for rule {rule}"


def test_every_study_builds_its_tables_figures_and_report_section(smoke: Path) -> None:
    out = smoke / SMOKE
    expected = {
        "portrait": ["baseline", "copy input", "lp10_200", "lp1_200", "lp5", "lp5_200"],
        "expression": ["copy input", "cyclegan", "nst", "sagan", "sagan_wgan"],
        "reenact": ["copy input", "full", "no_consistency", "no_perceptual_identity", "no_pixel"],
        "swap": [
            "autoencoder",
            "copy input",
            "cyclegan",
            "cyclegan_idt_plateau",
            "ground-truth paste",
            "progressive",
        ],
    }
    report = (out / "report.html").read_text()
    for family, variants in expected.items():
        summary = pd.read_csv(out / f"tables/{family}/summary.csv")
        assert sorted(summary["variant"]) == variants, family
        assert f"tables/{family}" in report or family in report
        assert (out / f"figures/{family}/losses.png").stat().st_size > 0
    kinds = {"faceoff": "translate", **dict.fromkeys(expected, "translate"), "reenact": "reenact"}
    for family, kind in kinds.items():  # every column of every table is in its own kind's glossary
        undefined = set(pd.read_csv(out / f"tables/{family}.csv").columns) - set(get_glossary(kind).columns())
        assert not undefined, (family, undefined)
    assert "(translate evaluation)" in report and "(reenact evaluation)" in report
    # The portrait sweep is judged on the validation split, the final table on the test split.
    sweep = pd.read_csv(out / "tables/portrait/lambda_p.csv")
    assert sweep["lambda_p"].tolist() == [1.0, 5.0, 10.0] and np.isfinite(sweep["val_ssim_input"]).all()
    assert np.isfinite(pd.read_csv(out / "tables/portrait/final.csv")["identity_input"]).all()
    # The expression classifier scores every translation, the copy baseline included.
    expression = pd.read_csv(out / "tables/expression.csv")
    assert expression["expression_success"].between(0, 1).all() and len(expression) == 5
    assert json.loads((out / "train/expression/classifier/train.json").read_text())["steps"] == 8
    # Reenactment: ground truth is the real target frame; the feature network is recorded.
    reenact = pd.read_csv(out / "tables/reenact.csv")
    assert {"l1_gt", "ssim_input_excess", "cross_identity_sim_source"} <= set(reenact.columns)
    full = json.loads((out / "train/reenact/1142124-full-s0/train.json").read_text())
    assert full["feature_net"] == "dlib_resnet" and full["identity_net"] == "dlib_resnet"
    reenact_figures = sorted(p.name for p in (out / "figures/reenact").glob("*.png"))
    assert {"errors-1142124.png", "loss-terms.png", "samples-1142124-full.png"} <= set(reenact_figures)
    # Swap: the background leak is a column, the plateau run logged its validations.
    swap = pd.read_csv(out / "tables/swap.csv")
    assert (swap.loc[swap["variant"] == "copy input", "background_l1"] == 0).all()
    plateau = json.loads((out / "train/swap/0712054-cyclegan_idt_plateau-s0/train.json").read_text())
    assert [v["step"] for v in plateau["validation"]] == [2, 4]
    figures = sorted(p.name for p in (out / "figures/swap").glob("*.png"))
    assert figures == ["comparison-0712054.png", "losses.png"]


def test_apply_scores_every_faceoff_and_swap_run_between_its_references(smoke: Path) -> None:
    """Each run pasted back into the whole frames of its source's held-out segment: nothing changes
    outside the blend region, and the ground-truth crop pasted back by the same code is the best
    of the three (far better than the copied input inside the face). Whether the run beats the
    copy is the model's business: the smoke's few training steps do not."""
    out = smoke / SMOKE
    # config/smoke.yaml's test splits start there; swap's evaluate.max_frames keeps 4 of its 8 frames.
    held_out = {"faceoff": (30, 39), "swap": (22, 25)}
    runs = {"faceoff": FACEOFF_RUNS, "swap": [f"0712054-{v}-s0" for v in RUN["swap"]]}
    for family, ids in runs.items():
        for run_id in ids:
            folder = out / f"evaluate/{family}/{run_id}"
            scores = json.loads((folder / "apply_metrics.json").read_text())
            first, last = held_out[family]
            assert scores["segment"] == {"first": first, "last": last, "frames": last - first + 1}
            run, best, copy = scores["run"], scores["groundtruth_paste"], scores["copy_input"]
            for block in (run, best, copy):
                assert block["apply_face_found"] == 1 and block["apply_background_l1"] == 0, run_id
                assert all(np.isfinite(v) for v in block.values()), run_id
            assert best["apply_l1_gt"] <= run["apply_l1_gt"] and best["apply_l1_gt"] < copy["apply_l1_gt"]
            assert best["apply_l1_gt_face"] < 0.6 * copy["apply_l1_gt_face"], run_id
            assert best["apply_ssim_gt_face"] > copy["apply_ssim_gt_face"], run_id
            frames = list(read_frames(folder / "apply.mp4"))
            assert len(frames) == last - first + 1 and frames[0].shape == (SIZES[family], SIZES[family], 3)
            panels = next(read_frames(folder / "apply_side_by_side.mp4"))
            assert panels.shape == (SIZES[family], 4 * SIZES[family], 3)
        table = pd.read_csv(out / f"tables/{family}.csv").set_index("run")
        for pair in {run_id.split("-")[0] for run_id in ids}:
            best, copy = table.loc[f"{pair}-groundtruth-paste"], table.loc[f"{pair}-copy"]
            assert best["apply_l1_gt_face"] < 0.6 * copy["apply_l1_gt_face"]
    report = (out / "report.html").read_text()
    assert "faceoff/A2B-baseline-s0/apply_side_by_side.mp4" in report


def test_dvc_declares_exactly_what_snakemake_builds(smoke: Path, tmp_path: Path) -> None:
    snakemake_files = _snakemake_outputs(smoke)
    dvc_view = copy_workflow(tmp_path / "dvc", params_override="config/smoke.yaml")
    run(["git", "init", "-q"], dvc_view)
    run([str(BIN / "dvc"), "init", "-q"], dvc_view)
    declared = {p.replace(str(dvc_view), str(smoke)) for p in _dvc_paths(dvc_view)}
    dvc_files = {str(Path(p).relative_to(smoke)) for p in files_under([Path(p) for p in declared])}
    assert dvc_files == snakemake_files


def _dvc_paths(work: Path) -> list[str]:
    from dvc.repo import Repo

    with Repo(str(work)) as repo:
        return [str(out.fs_path) for stage in repo.index.stages for out in stage.outs]


def test_snakemake_report_holds_every_table_figure_and_video(smoke: Path) -> None:
    """`snakemake --report`, run where the DAG ran (it reads .snakemake/'s records): every table,
    figure and video of the smoke run is in the zip, filed under its study, with a caption."""
    run([str(BIN / "snakemake"), "--configfile", "config/smoke.yaml", "--report", "report.zip"], smoke)
    patterns = (
        "tables/**/*.csv",
        "figures/*.png",
        "figures/*/*.png",
        "evaluate/*/*/*.mp4",
        "*/*/*/samples.png",
    )
    made = {str(p.relative_to(smoke)) for pattern in patterns for p in (smoke / SMOKE).glob(pattern)}
    with zipfile.ZipFile(smoke / "report.zip") as archive:
        packed = [name for name in archive.namelist() if name.startswith("report/data/raw/")]
        page = archive.read("report/report.html").decode()

    def data(name: str) -> dict:
        return json.JSONDecoder().raw_decode(page, re.search(rf"var {name} = (?=\{{)", page).end())[0]

    categories, results = data("categories"), data("results")
    filed = {path: cat for cat, subs in categories.items() for paths in subs.values() for path in paths}
    assert set(filed) == made and len(packed) == len(made)
    assert sorted(name.rsplit("/", 1)[1] for name in packed) == sorted(Path(p).name for p in made)
    for path, category in filed.items():
        family = Path(Path(path).parts[3]).stem  # tables/<family>.csv or <step>/<family>/...
        assert category == (CLAIMS_STUDY if family == "claims" else study(family).label), path  # the ledger
        assert "How to read it" in results[path]["caption"], path
    assert set(categories["000 CycleGAN Face-off"]) == {"tables", "figures", "copy input", *RUN["faceoff"]}
