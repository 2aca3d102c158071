"""Bring a real dataset in: copy or safely extract it, check its layout, read every file, register it.

The data lands in ``dest`` only once its layout validates and every file reads (images decode,
videos decode to their end, annotations parse, splits name videos that exist), so a wrong
archive or a broken download never leaves a half-usable folder where the pipeline looks for
data, and nothing unreadable is first met by prepare inside a cluster job. Registration is
``dvc add`` plus ``git add`` of the ``.dvc`` file and DVC's ``.gitignore``, ready to commit.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faceoff.datasets.archive import is_archive, safe_extract
from faceoff.datasets.check import ContentError, check_contents
from faceoff.datasets.registry import DatasetError, get_kind

log = logging.getLogger(__name__)
_IGNORED_TOP = {"__MACOSX"}  # macOS zip resource forks


def ingest(
    kind: str, path: str | os.PathLike[str], dest: str | os.PathLike[str], dvc: bool = True
) -> dict[str, Any]:
    """Put the dataset at ``path`` (folder or zip/tar archive) into ``dest`` and ``dvc add`` it.

    ``path == dest`` checks and registers a folder already in place. An existing, different
    ``dest`` is refused rather than overwritten. Any unreadable file raises :class:`ContentError`
    (naming each file and its problem) before anything is moved or registered. Returns a
    report: layout summary, files read per type, DVC registration.
    """
    checker = get_kind(kind)
    path, dest = Path(path), Path(dest)
    if not path.exists():
        raise DatasetError(f"{path}: dataset folder or archive not found")
    in_place = path.is_dir() and dest.exists() and path.resolve() == dest.resolve()
    if dest.exists() and not in_place:
        raise DatasetError(f"{dest}: already exists; remove it or choose another destination")
    report: dict[str, Any] = {"kind": kind, "from": str(path), "dest": str(dest), "archive": is_archive(path)}
    if in_place:
        report["layout"] = checker.validate(dest)
        report["content"] = _check(kind, dest, str(path))
    else:
        if not (path.is_dir() or report["archive"]):
            raise DatasetError(f"{path}: neither a folder nor a .zip/.tar/.tar.gz archive")
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.ingest."))
        try:
            unpacked = staging / "data"
            if report["archive"]:
                safe_extract(path, unpacked)
            else:
                shutil.copytree(path, unpacked)
            root, report["layout"] = _dataset_root(checker.validate, unpacked, path)
            origin = str(path) if root == unpacked else f"{path} (inside {root.name}/)"
            report["content"] = _check(kind, root, origin)
            os.replace(root, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    report["files"] = sum(1 for p in dest.rglob("*") if p.is_file())
    report["dvc"] = dvc_add(dest) if dvc else {"added": False, "reason": "DVC registration switched off"}
    staged = " ".join(report["dvc"].get("staged", []))
    registered = report["dvc"].get("reason") or ("dvc add done" + (f"; commit {staged}" if staged else ""))
    log.info("ingested %s dataset into %s (%s)", kind, dest, registered)
    return report


def _check(kind: str, root: Path, origin: str) -> dict[str, Any]:
    """Read every file; any problem stops the ingest with the full list."""
    content = check_contents(kind, root)
    if content.problems:
        raise ContentError(content.message(origin), content)
    log.info("%s: every file reads (%s)", origin, content.summary())
    return content.summary()


def _dataset_root(
    validate: Callable[[Path], dict[str, Any]], unpacked: Path, origin: Path
) -> tuple[Path, dict[str, Any]]:
    """The folder holding the layout: the unpacked one, or its single top-level folder (``jaffe/``)."""
    try:
        return unpacked, validate(unpacked)
    except DatasetError as exc:
        tops = [p for p in unpacked.iterdir() if p.name not in _IGNORED_TOP and not p.name.startswith(".")]
        if len(tops) != 1 or not tops[0].is_dir():
            raise DatasetError(f"{origin}: {exc}") from exc
        try:
            return tops[0], validate(tops[0])
        except DatasetError as inner:
            raise DatasetError(f"{origin} (inside {tops[0].name}/): {inner}") from inner


def dvc_root(path: Path) -> Path | None:
    """The nearest folder above ``path`` holding a ``.dvc/`` directory (a DVC repository)."""
    for folder in Path(path).resolve().parents:
        if (folder / ".dvc").is_dir():
            return folder
    return None


def dvc_add(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``dvc add <path>`` run in its repository, then ``git add`` of what DVC wrote for git.

    Without a DVC repository or the dvc command, say so instead of failing.
    """
    path = Path(path)
    root = dvc_root(path)
    if root is None:
        return {
            "added": False,
            "reason": f"no DVC repository above {path}: run `dvc init` there, then `dvc add`",
        }
    sibling = Path(sys.executable).with_name("dvc")  # the dvc of faceoff's own environment first
    exe = str(sibling) if sibling.is_file() else shutil.which("dvc")
    if exe is None:
        return {"added": False, "reason": "the dvc command is not installed: run `dvc add` yourself"}
    relative = path.resolve().relative_to(root)
    result = subprocess.run(
        [exe, "add", str(relative)], cwd=root, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise DatasetError(
            f"`dvc add {relative}` failed in {root}: {result.stderr.strip() or result.stdout.strip()}"
        )
    for_git = [f"{relative}.dvc", (relative.parent / ".gitignore").as_posix()]
    staged = _git_add(root, [name for name in for_git if (root / name).is_file()])
    return {"added": True, "repo": str(root), "dvc_file": str(root / f"{relative}.dvc"), "staged": staged}


def _git_add(root: Path, names: list[str]) -> list[str]:
    """Stage ``names`` when ``root`` is in a git work tree (DVC may run without git); the staged names."""
    git = shutil.which("git")
    if git is None or not names:
        return []
    inside = subprocess.run(
        [git, "rev-parse", "--is-inside-work-tree"], cwd=root, capture_output=True, text=True, check=False
    )
    if inside.returncode != 0:
        return []
    result = subprocess.run([git, "add", "--", *names], cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DatasetError(f"`git add {' '.join(names)}` failed in {root}: {result.stderr.strip()}")
    return names
