"""DVCLive logs of training runs: what they hold, resuming, and what `dvc plots` / `dvc exp show` read."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from faceoff.train import get_model, train_model
from faceoff.train.classifier import ClassifierSettings, ClassifierStepper
from faceoff.train.cyclegan import LOSSES

from .pipeline import BIN, REPO, run
from .test_expression import BLUE, CLASSIFIER, RED, colours
from .test_train import make_split, settings, train_cyclegan

TIMING = {"sec_per_step", "wall_time_s", "sec_per_step_median"}


@pytest.fixture(scope="module")
def pair() -> tuple:
    return make_split(hue=0, seed=1), make_split(hue=160, seed=2)


def tsv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(), delimiter="\t"))


def live_files(run_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(run_dir)) for p in (run_dir / "dvclive").rglob("*") if p.is_file())


def test_a_run_logs_its_rows_samples_and_final_figures(tmp_path: Path, pair: tuple) -> None:
    """In a git repository without DVC too: DVCLive must not `dvc init` it (nor need a DVC repo)."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    out = tmp_path / "run"
    result = train_cyclegan(settings(sample_every=4), *pair, out, seed=0, progress=False)
    assert not (tmp_path / ".dvc").exists() and not (out / "dvclive" / "dvc.yaml").exists()
    rows = list(csv.DictReader((out / "losses.csv").open()))
    assert [int(r["step"]) for r in rows] == [3, 6, 9, 12]
    live = out / "dvclive"
    for name in LOSSES:  # the same numbers as losses.csv, from the same logger
        assert tsv(live / "plots/metrics/loss" / f"{name}.tsv") == [
            {"step": r["step"], name: r[name]} for r in rows
        ]
    assert [r["lr"] for r in tsv(live / "plots/metrics/lr.tsv")] == [r["lr"] for r in rows]
    assert sorted(p.name for p in (live / "plots/images/samples").iterdir()) == ["12.png", "4.png", "8.png"]
    assert (live / "plots/images/samples.png").read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads((live / "metrics.json").read_text())
    assert metrics["step"] == 12 and metrics["steps"] == result["steps"] == 12
    assert metrics["diverged"] is False and metrics["wall_time_s"] > 0
    assert metrics["loss"]["G_total"] == float(rows[-1]["G_total"])


def test_every_model_logs_through_the_shared_logger(tmp_path: Path) -> None:
    """Another model than the CycleGAN (the expression classifier: whole-dataset data, other loss
    columns) writes the same DVCLive files from the same training loop."""
    s = ClassifierSettings.from_dict({**CLASSIFIER, "steps": 4, "steps_decay": 2, "log_every": 2})
    data = {"red": colours(RED, 6), "blue": colours(BLUE, 6, seed=1)}
    train_model(s, data, None, tmp_path, seed=0, progress=False)
    rows = list(csv.DictReader((tmp_path / "losses.csv").open()))
    for name in ClassifierStepper.losses:
        expected = [{"step": r["step"], name: r[name]} for r in rows]
        assert tsv(tmp_path / "dvclive/plots/metrics/loss" / f"{name}.tsv") == expected
    assert json.loads((tmp_path / "dvclive/metrics.json").read_text())["steps"] == 6


@pytest.mark.parametrize("outputs", ["kept", "deleted"])
def test_a_resumed_run_continues_its_logs(tmp_path: Path, pair: tuple, outputs: str) -> None:
    """Killed after its step-5 checkpoint with rows (6) and samples (6) logged past it, the run
    resumes at 5 and ends with the logs of an uninterrupted run: no step restarted or repeated,
    whether the killed run's outputs were kept or deleted (as Snakemake and `dvc repro` do)."""
    s = settings(sample_every=2)
    train_cyclegan(s, *pair, tmp_path / "whole", seed=3, progress=False)
    split = tmp_path / "split"
    assert train_cyclegan(s, *pair, split, seed=3, progress=False, stop_after=7)["stopped"]
    assert [r["step"] for r in tsv(split / "dvclive/plots/metrics/loss/D.tsv")] == ["3", "6"]
    if outputs == "deleted":
        shutil.rmtree(split / "dvclive")
    assert train_cyclegan(s, *pair, split, seed=3, progress=False)["resumed_from"] == 5

    assert live_files(split) == live_files(tmp_path / "whole")
    for rel in live_files(split):
        whole, resumed = tmp_path / "whole" / rel, split / rel
        if rel.endswith(".tsv"):
            assert [int(r["step"]) for r in tsv(resumed)] == [3, 6, 9, 12], rel
            assert Path(rel).stem in TIMING or tsv(resumed) == tsv(whole), rel
        elif rel.endswith(".png"):
            assert resumed.read_bytes() == whole.read_bytes(), rel
    whole_metrics, resumed_metrics = (
        {k: v for k, v in json.loads((d / "dvclive/metrics.json").read_text()).items() if k not in TIMING}
        for d in (tmp_path / "whole", split)
    )
    assert resumed_metrics == whole_metrics and resumed_metrics["step"] == 12


def family_plot_sources() -> dict[str, dict[str, str]]:
    """What dvc.yaml's top-level plots must list: per family, every variant of params.yaml's
    `run` on its first pair and seed, with its generator total and its discriminator loss."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    expected: dict[str, dict[str, str]] = {}
    for family, fam in params["families"].items():
        for title, columns in (("generator loss", ("G_total", "total", "G")), ("discriminator loss", ("D",))):
            sources = {}
            for variant in fam["run"]:
                model = (fam["variants"].get(variant) or {}).get(
                    "model", fam["train"].get("model", "cyclegan")
                )
                column = next((c for c in columns if c in get_model(model).stepper.losses), None)
                if column:
                    run_dir = f"${{families.{family}.pairs[0]}}-{variant}-s${{families.{family}.seeds[0]}}"
                    path = f"${{output_dir}}/train/{family}/{run_dir}/dvclive/plots/metrics/loss/{column}.tsv"
                    sources[path] = column
            if sources:
                expected[f"{family} {title}"] = sources
    return expected


def test_dvc_yaml_plots_every_variant_of_each_family() -> None:
    declared = yaml.safe_load((REPO / "dvc.yaml").read_text())["plots"]
    plots = {name: props for entry in declared for name, props in entry.items()}
    assert {name: props["y"] for name, props in plots.items()} == family_plot_sources()
    assert all(props["x"] == "step" for props in plots.values())


def dvc_json(work: Path, *args: str) -> object:
    return json.loads(run([str(BIN / "dvc"), *args, "--json"], work).stdout)


@pytest.mark.slow  # DVC commands on a project with every stage of dvc.yaml: 15-50 s
def test_dvc_plots_diff_and_exp_show_compare_variants(tmp_path: Path, pair: tuple) -> None:
    """Two portrait variants in a git+DVC project with the project's dvc.yaml: `dvc plots diff`
    draws both in the family plot, for the committed and the retrained revision, and `dvc exp
    show` lists their DVCLive metrics."""
    work = tmp_path / "project"
    work.mkdir()
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy2(REPO / name, work / name)
    output_dir = yaml.safe_load((work / "params.yaml").read_text())["output_dir"]
    runs = {v: work / output_dir / "train/portrait" / f"photo2painting-{v}-s0" for v in ("baseline", "lp5")}
    for variant, lr in (("baseline", 2e-4), ("lp5", 1e-3)):
        train_cyclegan(settings(lr=lr), *pair, runs[variant], seed=0, progress=False)
    run(["git", "init", "-q"], work)
    run([str(BIN / "dvc"), "init", "-q"], work)
    run(["git", "add", "-A"], work)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "two variants"], work)
    shutil.rmtree(runs["lp5"])
    train_cyclegan(settings(lr=1e-3, lambda_cycle=5.0), *pair, runs["lp5"], seed=1, progress=False)

    diff = dvc_json(work, "plots", "diff", "HEAD", "--targets", "portrait generator loss")
    (plot,) = diff["data"]["portrait generator loss"]
    values = plot["content"]["data"]["values"]
    drawn = {(v["rev"], v["filename"].split("/")[0]) for v in values}
    assert drawn == {(rev, f"photo2painting-{v}-s0") for rev in ("HEAD", "workspace") for v in runs}
    for rev in ("HEAD", "workspace"):
        lp5 = [v for v in values if v["rev"] == rev and v["filename"].startswith("photo2painting-lp5")]
        assert [int(v["step"]) for v in lp5] == [3, 6, 9, 12]
    head, now = (
        [float(v["G_total"]) for v in values if v["rev"] == r and "lp5" in v["filename"]]
        for r in ("HEAD", "workspace")
    )
    assert head != now  # the retrained variant's curve differs between the revisions
    missing = {e["source"].split("/")[-6] for e in diff.get("errors", [])}
    assert missing == {"photo2painting-lp1_200-s0", "photo2painting-lp5_200-s0", "photo2painting-lp10_200-s0"}

    exp = dvc_json(work, "exp", "show")
    workspace = next(row for row in exp if row["rev"] == "workspace")["data"]["metrics"]
    for variant, run_dir in runs.items():
        metrics = workspace[str((run_dir / "dvclive/metrics.json").relative_to(work))]["data"]
        assert metrics["steps"] == 12 and metrics["loss"]["G_total"] > 0, variant
