"""End to end: the smoke configuration through Snakemake and through `dvc repro`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from faceoff.evaluate.glossary import get_glossary
from faceoff.io.video import read_frames

from .pipeline import BIN, copy_workflow, files_under, run, same_losses

pytestmark = pytest.mark.slow
SMOKE = "results/smoke"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = copy_workflow(tmp_path_factory.mktemp("snakemake"))
    run([str(BIN / "snakemake"), "--cores", "2", "--configfile", "config/smoke.yaml"], work)
    return work


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
    for pair in ("A2B", "A2C"):
        metrics = json.loads((out / f"evaluate/faceoff/{pair}-baseline-s0/metrics.json").read_text())
        for key in ("l1_gt", "psnr_gt", "ssim_gt", "ssim_input", "cycle_l1", "identity_sim", "flicker"):
            assert np.isfinite(metrics[key]), key
        frames = list(read_frames(out / f"evaluate/faceoff/{pair}-baseline-s0/faceoff.mp4"))
        assert len(frames) == 10
        train = json.loads((out / f"train/faceoff/{pair}-baseline-s0/train.json").read_text())
        assert train["steps"] == 10 and train["diverged"] is False
    table = pd.read_csv(out / "tables/faceoff.csv")
    assert len(table) == 4 and (table["variant"] == "copy input").sum() == 2
    summary = pd.read_csv(out / "tables/faceoff/summary.csv")
    assert sorted(summary["variant"]) == ["baseline", "copy input"] and summary["pairs"].tolist() == [2, 2]
    assert not (out / "tables/faceoff/ssim_w.csv").exists()  # none of the sweep's variants is run
    figures = sorted(p.name for p in (out / "figures/faceoff").glob("*.png"))
    assert figures == ["comparison-A2B.png", "comparison-A2C.png", "losses.png"]
    for rule in ("prepare", "train", "evaluate", "table", "figure"):
        assert list((out / "logs" / rule).rglob("*.log")), f"no log for rule {rule}"


def test_every_study_builds_its_tables_figures_and_report_section(smoke: Path) -> None:
    out = smoke / SMOKE
    expected = {
        "portrait": ["baseline", "copy input", "lp5_200"],
        "expression": ["copy input", "cyclegan", "nst", "sagan", "sagan_wgan"],
        "reenact": ["copy input", "full", "no_consistency", "no_perceptual_identity", "no_pixel"],
        "swap": ["autoencoder", "copy input", "cyclegan", "cyclegan_idt_plateau", "progressive"],
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
    assert sweep["lambda_p"].tolist() == [5.0] and np.isfinite(sweep["val_ssim_input"]).all()
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


def test_dvc_repro_matches_snakemake(smoke: Path, tmp_path: Path) -> None:
    work = copy_workflow(tmp_path / "repro", params_override="config/smoke.yaml")
    run(["git", "init", "-q"], work)
    run([str(BIN / "dvc"), "init", "-q"], work)
    # DVC's flow renders its own raw data (`faceoff synth` is deterministic, tests/test_synth.py).
    for dataset in ("persons", "portraits", "jaffe", "vw300", "ffpp"):
        run([str(BIN / "faceoff"), "-c", "params.yaml", "synth", "--dataset", dataset], work)
    raw = sorted(p.relative_to(smoke) for p in (smoke / SMOKE / "raw").rglob("*") if p.is_file())
    raw = [rel for rel in raw if rel.name != ".snakemake_timestamp"]
    assert raw == sorted(p.relative_to(work) for p in (work / SMOKE / "raw").rglob("*") if p.is_file())
    assert [rel for rel in raw if (work / rel).read_bytes() != (smoke / rel).read_bytes()] == []
    run([str(BIN / "dvc"), "repro"], work)
    # Two independent runs of the DAG on CPU (Snakemake's and DVC's): the same metrics, bytes
    # for bytes, and the same losses at every logged step (all but the timing column).
    metrics = sorted(p.relative_to(smoke) for p in (smoke / SMOKE / "evaluate").rglob("metrics.json"))
    assert len(metrics) == 4 + 3 + 5 + 5 + 5  # runs and copy baselines of the five studies
    for rel in metrics:
        assert (work / rel).read_bytes() == (smoke / rel).read_bytes(), rel
    for rel in sorted(p.relative_to(smoke) for p in (smoke / SMOKE / "train").rglob("losses.csv")):
        pd.testing.assert_frame_equal(*(same_losses(root / rel) for root in (work, smoke)))
    status = run([str(BIN / "dvc"), "status"], work)
    assert "up to date" in status.stdout
