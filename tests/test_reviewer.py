"""How results travel: the cluster's Snakemake outputs recorded by `dvc commit`, pushed, and the
reviewer's `dvc pull` (that `dvc repro` itself builds the same files: tests/test_dvc_repro.py).

The reviewer pulls from the author's remote as a folder and, as from a published remote, through
a read-only HTTP server without credentials. Every way ends in a fresh clone where `dvc status`
is clean (every pulled file is the one DVC recorded) and the tables and figures are
byte-identical; in the first, `dvc repro` runs nothing and Snakemake (after `snakemake --touch`,
which puts the pulled files' times back in DAG order) plans no job.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from .pipeline import BIN, clone_build, run, synthetic_datasets
from .services import http_server

pytestmark = pytest.mark.slow
SMOKE = "results/smoke"
SHARED = ("tables/faceoff.csv", "tables/faceoff.md", "tables/faceoff.tex", "figures/faceoff/losses.png")


def _dvc(*args: str) -> list[str]:
    return [str(BIN / "dvc"), *args]


def _project(work: Path, remote: Path) -> Path:
    """A built git + DVC smoke project given a local-directory remote and its raw data versioned."""
    run(["git", "config", "user.email", "ci@faceoff.invalid"], work)
    run(["git", "config", "user.name", "ci"], work)
    run(_dvc("remote", "add", "-d", "store", str(remote)), work)
    for dataset in synthetic_datasets(work):  # the raw data every study reads, versioned like real data
        run(_dvc("add", "-q", f"{SMOKE}/raw/{dataset}"), work)
    return work


def _publish(work: Path) -> None:
    run(["git", "add", "-A"], work)
    run(["git", "commit", "-q", "-m", "results"], work)
    run(_dvc("push", "-q"), work)


def _pull_clone(work: Path, clone_dir: Path, remote_url: str | None = None) -> None:
    """Clone and pull (from the project's remote, or from ``remote_url`` configured the way a
    reviewer does: in the clone's local config, no credentials); check what came is what DVC
    recorded (`dvc status`) and the author's bytes."""
    run(["git", "clone", "-q", str(work), str(clone_dir)], clone_dir.parent)
    if remote_url:
        run(_dvc("remote", "add", "--local", "--default", "public", remote_url), clone_dir)
    run(_dvc("pull", "-q"), clone_dir)
    status = run(_dvc("status"), clone_dir).stdout
    assert "Data and pipelines are up to date" in status, status
    for rel in SHARED:
        assert (clone_dir / SMOKE / rel).read_bytes() == (work / SMOKE / rel).read_bytes(), rel
    assert (clone_dir / SMOKE / "train/faceoff/A2B-baseline-s0/model.pt").stat().st_size > 0


def _nothing_reruns(clone_dir: Path) -> None:
    """The README's reviewer steps after the pull: `dvc repro` runs no stage, and Snakemake, once
    `snakemake --touch` has put the pulled files' times back in DAG order, plans no job."""
    repro = run(_dvc("repro"), clone_dir).stdout
    assert "Running stage" not in repro, repro
    run([str(BIN / "snakemake"), "--touch", "--cores", "1"], clone_dir)
    plan = run([str(BIN / "snakemake"), "-n", "--cores", "1"], clone_dir)
    assert "Nothing to be done" in plan.stdout + plan.stderr, plan.stdout[-3000:]


@dataclass(frozen=True)
class Author:
    """The author's project and what `dvc status` said before `dvc commit` recorded its outputs."""

    work: Path
    status_before_commit: str


@pytest.fixture(scope="module")
def author(smoke_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Author:
    """Snakemake produced the outputs (as on a cluster: the session's smoke build, copied) in a
    project that then became a git + DVC one; `dvc commit` records them, push shares them."""
    root = tmp_path_factory.mktemp("author")
    work = clone_build(smoke_build, root / "work")
    run(["git", "init", "-q"], work)
    run(_dvc("init", "-q"), work)
    _project(work, root / "remote")
    before = run(_dvc("status"), work).stdout
    run(_dvc("commit", "-f", "-q"), work)
    _publish(work)
    return Author(work, before)


def test_cluster_results_are_committed_then_pulled_not_retrained(author: Author, tmp_path: Path) -> None:
    assert any(word in author.status_before_commit for word in ("changed", "new", "modified"))
    assert "Data and pipelines are up to date" in run(_dvc("status"), author.work).stdout
    _pull_clone(author.work, tmp_path / "reviewer")
    _nothing_reruns(tmp_path / "reviewer")


@pytest.mark.service
def test_reviewer_pulls_over_read_only_http(author: Author, tmp_path: Path) -> None:
    """The author's remote published by a web server (GET and HEAD only): a clone pulls through it.
    What the pull brought is what DVC recorded, so the steps after it behave as in the test above."""
    log = tmp_path / "http.log"
    with http_server(author.work.parent / "remote", log) as url:
        _pull_clone(author.work, tmp_path / "reviewer", remote_url=url)
    requests = re.findall(r'"(\w+) (\S+) HTTP/[\d.]+" (\d+)', log.read_text())
    assert {method for method, _, _ in requests} <= {"GET", "HEAD"}, requests
    fetched = {path for method, path, status in requests if method == "GET" and status == "200"}
    cached = {p for p in (author.work.parent / "remote").rglob("*") if p.is_file()}
    # Every object of the remote came over HTTP (the clone's own default remote was not used).
    assert {"/" + str(p.relative_to(author.work.parent / "remote")) for p in cached} <= fetched


def test_experiment_reruns_only_what_a_parameter_touches(author: Author) -> None:
    lambda_cycle = "+families.faceoff.variants.baseline.lambda_cycle=5"
    # Warm (faceoff.warmstart), as the README tells DVC users: the rerun stages are forked, not started.
    out = run(["env", "FACEOFF_WARM_START=1", *_dvc("exp", "run", "-S", lambda_cycle)], author.work).stdout
    assert "Running stage 'train_faceoff@A2B-baseline-0'" in out
    assert "Running stage 'prepare_persons" not in out and "Running stage 'evaluate_copy" not in out
    diff = json.loads(run(_dvc("metrics", "diff", "--json"), author.work).stdout)
    changed = diff[f"{SMOKE}/evaluate/faceoff/A2B-baseline-s0/metrics.json"]["l1_gt"]
    assert changed["old"] != changed["new"]  # the experiment's effect on the run it touched
    assert not any(path.startswith(f"{SMOKE}/evaluate/faceoff/A2B-copy") for path in diff)
    plots = run(_dvc("plots", "diff", "-o", "plots-diff"), author.work)
    assert (author.work / "plots-diff" / "index.html").is_file(), plots.stdout
