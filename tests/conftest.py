"""Shared fixtures; tests run from the repository root so relative params paths resolve."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from .pipeline import BIN, build_once, copy_workflow, run, synthetic_datasets

REPO = Path(__file__).resolve().parents[1]
SMOKE = "config/smoke.yaml"
BUILD_TIMEOUT = 3600  # `dvc repro` runs the smoke DAG's jobs one after another
SHARED_BUILDS = {"smoke_build", "dvc_smoke_build"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files that wait for a shared build first, then the other slow ones, then the rest.

    pytest-xdist (``--dist loadfile``) hands out files in this order, so the long builds start at
    once and the many short tests fill the other core, instead of the builds coming last.
    """

    def rank(item: pytest.Item) -> int:
        if SHARED_BUILDS & set(getattr(item, "fixturenames", ())):
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    file_rank: dict[Path, int] = {}
    for item in items:
        file_rank[item.path] = min(file_rank.get(item.path, 2), rank(item))
    items.sort(key=lambda item: file_rank[item.path])  # stable: each file's own order is kept


@pytest.fixture(autouse=True, scope="session")
def _quiet_single_thread() -> None:
    """Two xdist workers share two cores: one torch thread each keeps them from thrashing."""
    torch.set_num_threads(1)
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def repo() -> Path:
    return REPO


def _shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for every xdist worker of this session (each worker has its own basetemp below
    it); without xdist, this process's basetemp."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared-builds"


def _smoke_project(work: Path) -> Path:
    """A copy of the workflow whose params.yaml holds the smoke parameters (what DVC reads)."""
    return copy_workflow(work, params_override=SMOKE)


def _snakemake_smoke(work: Path) -> None:
    _smoke_project(work)
    run([str(BIN / "snakemake"), "--cores", "2", "--configfile", SMOKE], work, timeout=BUILD_TIMEOUT)


def _dvc_smoke(work: Path) -> None:
    _smoke_project(work)
    run(["git", "init", "-q"], work)
    run([str(BIN / "dvc"), "init", "-q"], work)
    # DVC's flow renders its own raw data (`faceoff synth` is deterministic, tests/test_synth.py).
    for dataset in synthetic_datasets(work):
        run([str(BIN / "faceoff"), "-c", "params.yaml", "synth", "--dataset", dataset], work)
    run([str(BIN / "dvc"), "repro"], work, timeout=BUILD_TIMEOUT)


@pytest.fixture(scope="session")
def smoke_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke DAG built by `snakemake --configfile config/smoke.yaml`, once per session for
    every worker. Read-only: copy it (:func:`tests.pipeline.clone_build`) to run anything in it."""
    return build_once(_shared_root(tmp_path_factory), "smoke-snakemake", _snakemake_smoke)


@pytest.fixture(scope="session")
def dvc_smoke_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke DAG built by `dvc repro` in a git + DVC project (raw data rendered by `faceoff
    synth`, nothing committed), once per session for every worker. Read-only, as smoke_build."""
    return build_once(_shared_root(tmp_path_factory), "smoke-dvc", _dvc_smoke)
