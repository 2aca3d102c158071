"""Portrait sets (Kaggle human faces, WikiArt portrait paintings): one folder of images per domain.

Items are the domains ``photo`` and ``painting``, read from ``<source>/photos/`` (or ``photo/``)
and ``<source>/paintings/`` (or ``painting/``). Folders may be nested and mix image formats and
sizes; byte-identical duplicates (common in scraped sets) are dropped by content hash, so a
picture never lands in both training and test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceoff.datasets.registry import DatasetError, DatasetKind, no_groundtruth, register
from faceoff.datasets.stills import STILL_EXTENSIONS
from faceoff.synth.formats import write_portraits

FOLDERS = {"photo": ("photos", "photo"), "painting": ("paintings", "painting")}
DEFAULT_SPLIT = {"train": 1000, "val": 500, "test": 500}  # the portrait study's sizes


@dataclass(frozen=True)
class PortraitScan:
    files: list[Path]  # unique images, sorted by path
    duplicates: dict[str, str]  # dropped path -> the kept path with the same bytes
    skipped: dict[str, str]  # path -> why (empty files)


def domain_dir(source: Path, item: str) -> Path:
    """The existing folder of a domain, else the preferred name (for messages)."""
    if item not in FOLDERS:
        raise DatasetError(f"portrait item {item!r} is not one of {', '.join(FOLDERS)}")
    names = [Path(source) / name for name in FOLDERS[item]]
    return next((p for p in names if p.is_dir()), names[0])


def scan(folder: Path) -> PortraitScan:
    """Every image under ``folder`` (recursively, any common extension, hidden files ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: portrait folder not found")
    candidates = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in STILL_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    seen: dict[str, Path] = {}
    files, duplicates, skipped = [], {}, {}
    for path in candidates:
        if path.stat().st_size == 0:
            skipped[str(path)] = "empty file (0 bytes)"
            continue
        digest = _sha256(path)
        if digest in seen:
            duplicates[str(path)] = str(seen[digest])
        else:
            seen[digest] = path
            files.append(path)
    return PortraitScan(files, duplicates, skipped)


def split_files(
    files: Sequence[Path], sizes: Mapping[str, int] = DEFAULT_SPLIT, seed: int = 0
) -> tuple[dict[str, list[Path]], dict[str, Any]]:
    """A seeded random train/val/test draw; fewer images than asked shrink all splits proportionally."""
    order = np.random.default_rng(seed).permutation(len(files))
    wanted = {name: int(sizes.get(name, 0)) for name in ("train", "val", "test")}
    total = sum(wanted.values())
    info: dict[str, Any] = {"requested": wanted, "available": len(files), "shrunk": False}
    counts = dict(wanted)
    if len(files) < total:
        counts = {name: len(files) * n // total for name, n in wanted.items()}
        counts["train"] += len(files) - sum(counts.values())
        info.update(
            shrunk=True, note=f"only {len(files)} images for {total} requested: splits shrunk to {counts}"
        )
    out, start = {}, 0
    for name, n in counts.items():
        if n:
            out[name] = [files[i] for i in sorted(order[start : start + n])]
        start += n
    return out, info


def item_inputs(source: Path, item: str, settings: Mapping[str, Any] | None = None) -> list[Path]:
    return [domain_dir(source, item)]


def missing(source: Path, items: Sequence[str], settings: Mapping[str, Any] | None = None) -> list[str]:
    source = Path(source)
    if not source.is_dir():
        return [f"{source}: portrait folder not found (put photos/ and paintings/ there)"]
    messages = []
    for item in items:
        if item not in FOLDERS:
            messages.append(f"portrait item {item!r} is not one of {', '.join(FOLDERS)}")
        elif not domain_dir(source, item).is_dir():
            names = " or ".join(f"{source / name}/" for name in FOLDERS[item])
            messages.append(f"portrait domain {item!r}: folder {names} not found")
    return messages


def validate(source: Path) -> dict[str, Any]:
    problems = missing(source, list(FOLDERS))
    if problems:
        raise DatasetError("incomplete portrait layout:\n  " + "\n  ".join(problems))
    summary = {}
    for item in FOLDERS:
        result = scan(domain_dir(source, item))
        if not result.files:
            raise DatasetError(f"{domain_dir(source, item)}: no {'/'.join(STILL_EXTENSIONS)} image")
        summary[item] = {"images": len(result.files), "duplicates": len(result.duplicates)}
    return summary


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


register(
    DatasetKind(
        name="portraits",
        item_inputs=item_inputs,
        missing=missing,
        validate=validate,
        groundtruth=no_groundtruth,
        prepare="faceoff.prepare.portraits:prepare_portraits",
        synth=write_portraits,
        readers={"scan": scan, "split_files": split_files, "domain_dir": domain_dir},
    )
)
