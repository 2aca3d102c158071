"""Shared fixtures; tests run from the repository root so relative params paths resolve."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from faceoff.warmstart import DIR_ENV

from .pipeline import BIN, SMOKE, build_once, copy_workflow, run

REPO = Path(__file__).resolve().parents[1]
BUILD_TIMEOUT = 3600
# The files that take longest, longest first (measured with `make test`'s --durations): xdist
# (``--dist loadfile --no-loadscope-reorder``; without the flag it sorts files by their number of
# tests) hands files out in collection order, each worker taking the next when it finishes one, so
# the two long builds (DVC's, Snakemake's) and the SLURM tests start at once on the Makefile's three
# workers and the short files fill in at the end. Only an order: a file missing here still runs.
LONGEST_FIRST = (
    "test_dvc_repro.py",
    "test_pipeline.py",
    "test_slurm.py",
    "test_reviewer.py",
    "test_rerun.py",
    "test_plugins.py",
    "test_resume_dag.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files of :data:`LONGEST_FIRST` in its order, then the other slow ones, then the rest."""

    def rank(item: pytest.Item) -> int:
        if item.path.name in LONGEST_FIRST:
            return LONGEST_FIRST.index(item.path.name)
        return len(LONGEST_FIRST) + (0 if item.get_closest_marker("slow") else 1)

    items.sort(key=rank)  # stable: each file's own order is kept


@pytest.fixture
def keep_threads() -> Iterator[None]:
    """Trainers with ``threads=2`` set torch's thread count: give the next tests theirs back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="session")
def _quiet_single_thread() -> None:
    """xdist workers share two cores: one torch thread each keeps them from thrashing."""
    torch.set_num_threads(1)
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True, scope="session")
def _dvc_logs_to_the_session_stream() -> None:
    """Importing dvc attaches its log handler to the sys.stdout of that moment. Imported first
    inside a test with ``capsys`` (training imports it through DVCLive), the handler would keep
    that test's stream, closed when the test ends, and a later in-process DVC call that logs
    (``Repo.init``) would fail with "I/O operation on closed file"; imported here, it keeps the
    session's."""
    import dvc  # noqa: F401


@pytest.fixture(autouse=True, scope="session")
def _registry_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The registry-name cache of every process the tests start, shared by the workers, instead
    of the user's own (faceoff.config.registry_cache)."""
    os.environ["FACEOFF_CACHE_DIR"] = str(_shared_root(tmp_path_factory) / "cache")


@pytest.fixture(autouse=True, scope="session")
def _warm_start_servers(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The sockets and logs of the warm-start servers the tests' Snakemake runs start
    (faceoff.warmstart), in the session's folder rather than the machine's temporary one."""
    os.environ[DIR_ENV] = str(_shared_root(tmp_path_factory) / "warm")


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


@pytest.fixture(scope="session")
def smoke_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke DAG built by `snakemake --configfile config/smoke.yaml`, once per session for
    every worker. Read-only: copy it (:func:`tests.pipeline.clone_build`) to run anything in it."""
    return build_once(_shared_root(tmp_path_factory), "smoke-snakemake", _snakemake_smoke)
