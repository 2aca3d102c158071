"""Is the raw data where the parameters say, and is every file of it readable?

:func:`missing_sources` gives one message per absent dataset, saying where to put it;
:func:`check_contents` reads every file ``faceoff ingest`` takes in, as prepare will, so that a
zero-byte image, a truncated video or a malformed ``.pts`` file is named at ingest time rather
than found hours later inside a cluster job.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceoff.config.runs import active_families
from faceoff.datasets.registry import DatasetError, get_kind
from faceoff.datasets.stills import STILL_EXTENSIONS, read_still
from faceoff.datasets.vw300 import read_pts
from faceoff.io.progress import progress_bar
from faceoff.io.video import VIDEO_EXTENSIONS, VideoError, decode_to_end


def missing_sources(params: Mapping[str, Any], root: str | Path = ".") -> list[str]:
    """Messages for every real (non-synthetic) dataset a running family uses whose raw data is absent."""
    used = {fam["dataset"] for fam in active_families(params).values()}
    messages = []
    for name in sorted(used):
        ds = params["datasets"][name]
        if ds.get("synthetic"):
            continue
        problems = get_kind(ds["kind"]).missing(Path(root) / ds["source"], ds["items"], ds.get("prepare"))
        if problems:
            messages.append(
                f"dataset {name!r} ({ds['kind']}) is not at {ds['source']}: " + "; ".join(problems) + ". "
                f"Put it there (README, 'Plugging in real datasets') or set datasets.{name}.source."
            )
    return messages


def item_inputs(params: Mapping[str, Any], dataset: str, item: str) -> list[str]:
    """The raw files one prepare job reads (the whole rendered folder for synthetic data)."""
    ds = params["datasets"][dataset]
    if ds.get("synthetic"):
        return [ds["source"]]
    paths = get_kind(ds["kind"]).item_inputs(Path(ds["source"]), item, ds.get("prepare"))
    return [str(p) for p in paths]


# --- Content: every file ingest takes in is read once, the way prepare will read it. ---

EMPTY = "empty file"
BAD_IMAGE = "undecodable image"
BAD_VIDEO = "undecodable video"
TRUNCATED = "truncated video"
BAD_PTS = "malformed annotation"
BAD_JSON = "malformed JSON"
DANGLING = "names a missing item"

_READ = {
    **dict.fromkeys(STILL_EXTENSIONS, "image"),
    **dict.fromkeys(VIDEO_EXTENSIONS, "video"),
    ".pts": "annotation",
    ".json": "json",
}
_DEBRIS = ("__MACOSX",)  # macOS archive forks; hidden files (.DS_Store, ._x) are skipped too


class ContentError(DatasetError):
    """Files of a dataset that do not read; ``report`` lists each with its kind of problem."""

    def __init__(self, message: str, report: ContentReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class Problem:
    """One unusable file: its path relative to the dataset root, the kind of problem, the details."""

    path: str
    kind: str
    detail: str


@dataclass
class ContentReport:
    """Files read per type, files not read (not data: READMEs, .npy), and the problems found."""

    read: Counter[str] = field(default_factory=Counter)
    not_read: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(p.kind for p in self.problems).items()))

    def summary(self) -> dict[str, Any]:
        return {
            "read": dict(sorted(self.read.items())),
            "not_read": self.not_read,
            "problems": self.counts(),
            "seconds": round(self.seconds, 2),
        }

    def message(self, origin: str) -> str:
        """Counts per kind of problem first, then one line per file."""
        counts = ", ".join(f"{kind}: {n}" for kind, n in self.counts().items())
        lines = [f"  {p.path}: {p.kind} ({p.detail})" for p in self.problems]
        n = len(self.problems)
        return (
            f"{origin}: {n} unusable file{'s' if n > 1 else ''} ({counts}); nothing was ingested. "
            "Replace or delete them, then run ingest again:\n" + "\n".join(lines)
        )


def data_files(root: Path) -> list[Path]:
    """Every file under ``root`` but hidden files and macOS debris, which no reader takes in."""
    return sorted(
        p
        for p in Path(root).rglob("*")
        if p.is_file()
        and not any(part.startswith(".") or part in _DEBRIS for part in p.relative_to(root).parts)
    )


def check_contents(kind: str, root: str | os.PathLike[str], progress: bool = True) -> ContentReport:
    """Read every data file under ``root`` (images, videos to their end, ``.pts``, JSON); collect what fails.

    A kind whose files name other files (FaceForensics++ splits name videos) lists the dangling
    names through its ``readers["references"]`` (source -> [(file, what is missing)]).
    """
    root = Path(root)
    start = time.perf_counter()
    report = ContentReport()
    files = data_files(root)
    bar = progress_bar(files, desc=f"checking {kind}", unit="file", enabled=progress)
    for path in bar:
        what = _READ.get(path.suffix.lower())
        if what is None:
            report.not_read += 1
            continue
        report.read[what] += 1
        found = _problem(what, path)
        if found is not None:
            problem_kind, detail = found
            detail = _strip(detail.removeprefix(f"{path}: "), root)
            report.problems.append(Problem(_relative(path, root), problem_kind, detail))
    references = get_kind(kind).readers.get("references")
    for path, detail in references(root) if references else []:
        detail = _strip(detail, root)
        report.problems.append(Problem(_relative(path, root), DANGLING, detail))
    report.seconds = time.perf_counter() - start
    return report


def _problem(what: str, path: Path) -> tuple[str, str] | None:
    """(kind of problem, details) for an unusable file, None for a good one."""
    if path.stat().st_size == 0:
        return EMPTY, "0 bytes"
    if what == "video":
        return _video_problem(path)
    try:
        if what == "image":
            read_still(path)
        elif what == "annotation":
            read_pts(path)
        else:
            json.loads(path.read_bytes())
    except DatasetError as exc:
        return (BAD_PTS if what == "annotation" else BAD_IMAGE), str(exc)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return BAD_JSON, str(exc)
    return None


def _video_problem(path: Path) -> tuple[str, str] | None:
    """A video must open and decode to its end; a few frames short of the declared count are
    tolerated (containers round, edit lists trim), a cut-off download is not."""
    try:
        frames, declared, error = decode_to_end(path)
    except VideoError as exc:
        return BAD_VIDEO, str(exc)
    if frames == 0:
        return BAD_VIDEO, f"no frame decodes ({error or 'empty stream'})"
    if error is not None:
        return TRUNCATED, f"decoding fails after {frames} of {declared or '?'} frames ({error})"
    if frames < declared - max(2, declared // 50):
        return TRUNCATED, f"{frames} of the {declared} frames it declares decode"
    return None


def _relative(path: Path, root: Path) -> str:
    return Path(path).relative_to(root).as_posix()


def _strip(detail: str, root: Path) -> str:
    """Details name files relative to the dataset root (the root may be a staging folder)."""
    return detail.replace(f"{root}{os.sep}", "").replace(str(root), ".")
