"""`dvc repro` against Snakemake: two engines, one DAG, the same bytes.

DVC runs its stages one after another, so its build here runs one variant of each model of the
five studies (every stage kind: prepare, train, classifier, evaluate, copy baseline, apply, table,
figure, report) rather than the smoke DAG's 29 runs; that every stage of the whole smoke DAG is
declared is tests/test_pipeline.py::test_dvc_declares_exactly_what_snakemake_builds. The DVC build
starts at once, beside the Snakemake one (conftest.smoke_build) that it is compared with. Both run
their steps warm (faceoff.warmstart), as the README tells users to; that fresh processes compute
the same bytes as warm ones is tests/test_slurm.py's (SLURM jobs run fresh) and
tests/test_plugins.py's (DVC fresh, Snakemake warm, a plugin's model).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from faceoff.config import load_params
from faceoff.config.runs import applied_runs, resolve_runs
from faceoff.warmstart import DIR_ENV

from .pipeline import BIN, build_once, copy_workflow, run, same_losses, synthetic_datasets

pytestmark = pytest.mark.slow
SMOKE = "results/smoke"
BUILD_TIMEOUT = 3600
# One run of each model: CycleGAN (face-off, portrait), style transfer and SA-GAN (expression, with
# its classifier), reenactment pix2pix, autoencoder and progressive CycleGAN (swap).
DVC_RUNS = {
    "faceoff": ["baseline"],
    "portrait": ["baseline"],
    "expression": ["nst", "sagan"],
    "reenact": ["full"],
    "swap": ["autoencoder", "progressive"],
}


def _dvc_project(work: Path) -> None:
    """The smoke parameters, less the variants DVC_RUNS leaves out, in a git + DVC project whose raw
    data `faceoff synth` renders (deterministic: tests/test_synth.py); then `dvc repro`."""
    copy_workflow(work, params_override="config/smoke.yaml")
    (work / "config/dvc-runs.yaml").write_text(
        yaml.safe_dump({"families": {family: {"run": runs} for family, runs in DVC_RUNS.items()}})
    )
    merged = load_params([work / "params.yaml", work / "config/dvc-runs.yaml"])
    (work / "params.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
    run(["git", "init", "-q"], work)
    run([str(BIN / "dvc"), "init", "-q"], work)
    for dataset in synthetic_datasets(work):
        run([str(BIN / "faceoff"), "-c", "params.yaml", "synth", "--dataset", dataset], work)
    # Warm, as the README tells DVC users: each stage forked by a server that imported torch & co.
    # (faceoff.warmstart). Fresh processes are compared with warm ones by tests/test_slurm.py.
    run(["env", "FACEOFF_WARM_START=1", str(BIN / "dvc"), "repro"], work, timeout=BUILD_TIMEOUT)


@pytest.fixture(scope="session")
def dvc_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Session-scoped and requested before ``smoke_build``, so this worker builds it while the
    other builds the Snakemake one."""
    return build_once(tmp_path_factory.mktemp("dvc"), "dvc-repro", _dvc_project)


def test_dvc_repro_matches_snakemake(dvc_build: Path, smoke_build: Path) -> None:
    work, smoke = dvc_build, smoke_build
    raw = sorted(p.relative_to(smoke) for p in (smoke / SMOKE / "raw").rglob("*") if p.is_file())
    raw = [rel for rel in raw if rel.name != ".snakemake_timestamp"]
    assert raw == sorted(p.relative_to(work) for p in (work / SMOKE / "raw").rglob("*") if p.is_file())
    assert [rel for rel in raw if (work / rel).read_bytes() != (smoke / rel).read_bytes()] == []

    params = load_params([work / "params.yaml"])
    runs = resolve_runs(params)
    assert sorted({r.family: None for r in runs}) == sorted(DVC_RUNS)
    assert sorted(r.variant for r in runs) == sorted(v for vs in DVC_RUNS.values() for v in vs)
    metrics = sorted(p.relative_to(work) for p in (work / SMOKE / "evaluate").rglob("metrics.json"))
    expected = {f"{r.family}/{r.id}" for r in runs} | {
        f"{family}/{pair}-copy" for family in DVC_RUNS for pair in params["families"][family]["pairs"]
    }
    assert {str(rel.parent.relative_to(f"{SMOKE}/evaluate")) for rel in metrics} == expected
    applied = sorted(p.relative_to(work) for p in (work / SMOKE / "evaluate").rglob("apply_metrics.json"))
    assert len(applied) == len(applied_runs(params)) == 3  # face-off baseline, two swap runs
    # Two independent runs of the same jobs on CPU (Snakemake's and DVC's): the same metrics, bytes
    # for bytes, and the same losses at every logged step (all but the timing column).
    for rel in metrics + applied:
        assert (work / rel).read_bytes() == (smoke / rel).read_bytes(), rel
    losses = sorted(p.relative_to(work) for p in (work / SMOKE / "train").rglob("losses.csv"))
    assert len(losses) == len(runs) + 1  # and the expression family's classifier
    for rel in losses:
        pd.testing.assert_frame_equal(*(same_losses(root / rel) for root in (work, smoke)))
    for name in DVC_RUNS:  # every study's table and report section were built by DVC too
        assert (work / SMOKE / f"tables/{name}.csv").is_file()
    assert (work / SMOKE / "report.html").is_file()
    status = run([str(BIN / "dvc"), "status"], work)
    assert "up to date" in status.stdout
    # DVC's stages were forked warm (the server's log names each command and its folder).
    logs = "".join(p.read_text() for p in Path(os.environ[DIR_ENV]).glob("*.log"))
    served = re.findall(
        rf"pid \d+: faceoff -c params.yaml train --run (\S+) .*{re.escape(f'(in {work})')}", logs
    )
    assert sorted(served) == sorted(f"{r.family}/{r.id}" for r in runs)
