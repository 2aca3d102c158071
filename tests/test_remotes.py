"""The maintainer's remote over SSH: `dvc push` from one clone through a real sshd with key
authentication, `dvc pull` into another.

A tiny DVC project (one tracked file, one stage) keeps it fast; the reviewer's HTTP pull of the
full smoke project is in test_reviewer.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .pipeline import BIN, run
from .services import ssh_server

pytestmark = pytest.mark.service
STAGE = "count"


def _dvc(*args: str) -> list[str]:
    return [str(BIN / "dvc"), *args]


def _maintainer_project(work: Path, remote_url: str) -> None:
    """Raw data tracked with `dvc add`, one stage that reads it, the SSH remote in the git config."""
    work.mkdir()
    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "ci@faceoff.invalid"]):
        run(cmd, work)
    run(["git", "config", "user.name", "ci"], work)
    run(_dvc("init", "-q"), work)
    run(_dvc("remote", "add", "--default", "cluster", remote_url), work)
    (work / "frames.txt").write_text("".join(f"frame {i}\n" for i in range(1000)))
    run(_dvc("add", "-q", "frames.txt"), work)
    run(
        _dvc(
            "stage",
            "add",
            "-q",
            "-n",
            STAGE,
            "-d",
            "frames.txt",
            "-o",
            "count.txt",
            "wc -l < frames.txt > count.txt",
        ),
        work,
    )
    run(_dvc("repro", "-q"), work)
    run(["git", "add", "-A"], work)
    run(["git", "commit", "-q", "-m", "data and results"], work)


def test_push_and_pull_over_ssh(tmp_path: Path) -> None:
    with ssh_server(tmp_path / "sshd") as login:
        store = tmp_path / "store"
        store.mkdir()
        author = tmp_path / "author"
        _maintainer_project(author, login.url(store))
        # The key is the user's own: it goes in the clone's local config, never in git.
        run(_dvc("remote", "modify", "--local", "cluster", "keyfile", str(login.keyfile)), author)
        assert str(login.keyfile) not in (author / ".dvc/config").read_text()
        pushed = run(_dvc("push"), author).stdout
        assert "2 files pushed" in pushed, pushed
        assert sum(1 for p in store.rglob("*") if p.is_file()) == 2

        clone = tmp_path / "clone"
        run(["git", "clone", "-q", str(author), str(clone)], tmp_path)
        run(_dvc("remote", "modify", "--local", "cluster", "keyfile", str(login.keyfile)), clone)
        pulled = run(_dvc("pull"), clone).stdout
    assert "2 files added" in pulled, pulled
    for name in ("frames.txt", "count.txt"):
        assert (clone / name).read_bytes() == (author / name).read_bytes(), name
    assert (clone / "count.txt").read_text().strip() == "1000"
    assert "Data and pipelines are up to date" in run(_dvc("status"), clone).stdout
    assert "Running stage" not in run(_dvc("repro"), clone).stdout
    assert (tmp_path / "sshd/sshd.log").read_text().count(f"Accepted publickey for {login.user}") >= 2
