"""Bring a real dataset in: copy or safely extract it, check its layout, register it with DVC.

The data lands in ``dest`` only once its layout validates, so a wrong archive never leaves a
half-usable folder where the pipeline looks for data.
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
from faceoff.datasets.registry import DatasetError, get_kind

log = logging.getLogger(__name__)
_IGNORED_TOP = {"__MACOSX"}  # macOS zip resource forks


def ingest(
    kind: str, path: str | os.PathLike[str], dest: str | os.PathLike[str], dvc: bool = True
) -> dict[str, Any]:
    """Put the dataset at ``path`` (folder or zip/tar archive) into ``dest`` and ``dvc add`` it.

    ``path == dest`` validates and registers a folder already in place. An existing, different
    ``dest`` is refused rather than overwritten. Returns a report: layout summary, files, DVC.
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
            os.replace(root, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    report["files"] = sum(1 for p in dest.rglob("*") if p.is_file())
    report["dvc"] = dvc_add(dest) if dvc else {"added": False, "reason": "DVC registration switched off"}
    log.info("ingested %s dataset into %s (%s)", kind, dest, report["dvc"].get("reason") or "dvc add done")
    return report


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
    """``dvc add <path>`` run in its repository; without one, say so instead of failing."""
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
    return {"added": True, "repo": str(root), "dvc_file": str(root / f"{relative}.dvc")}
