"""Safe extraction of dataset archives (zip, tar, tar.gz/bz2/xz).

Every member is checked before anything is written: absolute names, ``..`` components, names
that resolve outside the target, links pointing outside it, and device or FIFO entries reject
the whole archive with a message naming the member. Archives come from anywhere; a dataset
must never be able to write over ``~/.bashrc``.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
import tarfile
import zipfile
from pathlib import Path

from faceoff.datasets.registry import DatasetError

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafeArchiveError(DatasetError):
    """An archive member that would land outside the extraction folder; the message names it."""


def is_archive(path: str | os.PathLike[str]) -> bool:
    return Path(path).is_file() and Path(path).name.lower().endswith(ARCHIVE_SUFFIXES)


def safe_extract(archive: str | os.PathLike[str], target: str | os.PathLike[str]) -> int:
    """Extract ``archive`` into ``target`` (created) after vetting every member; returns the file count."""
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            return _extract_zip(archive, target)
        if tarfile.is_tarfile(archive):
            return _extract_tar(archive, target)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, UnsafeArchiveError):
            raise
        raise DatasetError(f"{archive}: corrupt or truncated archive ({exc})") from exc
    raise DatasetError(f"{archive}: not a zip or tar archive")


def _check_name(archive: Path, target: Path, name: str) -> None:
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path")
    if ".." in re.split(r"[/\\]", name):
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains '..'")
    _check_inside(archive, target, name, target / name)


def _check_inside(archive: Path, target: Path, name: str, path: Path) -> None:
    root = target.resolve()
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise UnsafeArchiveError(f"{archive}: member {name!r} resolves outside the extraction folder")


def _check_link(archive: Path, target: Path, name: str, link: str, relative_to_member: bool) -> None:
    """A link must point inside ``target``: symlinks relative to their folder, hard links to the root."""
    if link.startswith(("/", "\\")) or _DRIVE.match(link):
        raise UnsafeArchiveError(f"{archive}: link {name!r} points to the absolute path {link!r}")
    base = posixpath.dirname(name) if relative_to_member else ""
    joined = posixpath.normpath(posixpath.join(base, link))
    if joined == ".." or joined.startswith("../"):
        raise UnsafeArchiveError(f"{archive}: link {name!r} -> {link!r} points outside the extraction folder")
    _check_inside(archive, target, name, target / joined)


def _extract_zip(archive: Path, target: Path) -> int:
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        for info in members:
            _check_name(archive, target, info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                _check_link(archive, target, info.filename, zf.read(info).decode(errors="replace"), True)
        for info in members:
            zf.extract(info, target)
        return sum(not info.is_dir() for info in members)


def _extract_tar(archive: Path, target: Path) -> int:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        for member in members:
            _check_name(archive, target, member.name)
            if member.issym():
                _check_link(archive, target, member.name, member.linkname, True)
            elif member.islnk():
                _check_link(archive, target, member.name, member.linkname, False)
            elif not (member.isfile() or member.isdir()):
                raise UnsafeArchiveError(f"{archive}: member {member.name!r} is a device or FIFO")
        # The "data" filter repeats these checks inside tarfile and drops unsafe permission bits.
        tf.extractall(target, members=members, filter="data")
        return sum(m.isfile() for m in members)
