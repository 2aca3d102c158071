"""Dataset kinds by their params ``kind`` string: what an item reads, what is missing, how to check a layout.

Each kind lives in one module that calls :func:`register` on import; :func:`get_kind` imports
them on first use, so adding a kind means adding its module to ``_MODULES`` and nothing else.
Snakemake asks :attr:`DatasetKind.item_inputs` for a rule's inputs and :attr:`DatasetKind.missing`
for the message to print when the data is not there.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceoff.errors import FaceoffError

_MODULES = ("person_videos", "jaffe", "vw300", "portraits", "ffpp")
_KINDS: dict[str, DatasetKind] = {}


class DatasetError(FaceoffError, FileNotFoundError):
    """Raw data that is missing, malformed or unusable; the message names the path."""


@dataclass(frozen=True)
class DatasetKind:
    """One raw dataset format.

    Every function takes the dataset's ``prepare`` settings as an optional last argument
    (FaceForensics++ reads its ``quality`` from them).

    ``item_inputs(source, item, settings=None)``: the raw files or folders one item reads.
    ``missing(source, items, settings=None)``: one message per absent piece, naming its path.
    ``validate(source)``: a summary of a complete layout (counts per item/split) or a DatasetError;
    ``ingest`` runs it on freshly extracted archives.
    ``groundtruth(source, item, others, settings=None)``: other item -> ground-truth path of
    synthetic data, for the preparer (only the ones present).
    ``readers``: the kind's reader functions by name, for callers that need more than the above.
    """

    name: str
    item_inputs: Callable[..., list[Path]]
    missing: Callable[..., list[str]]
    validate: Callable[[Path], dict[str, Any]]
    groundtruth: Callable[..., dict[str, Path]]
    readers: Mapping[str, Callable[..., Any]] = field(default_factory=dict)


def register(kind: DatasetKind) -> DatasetKind:
    if kind.name in _KINDS:
        raise ValueError(f"dataset kind {kind.name!r} registered twice")
    _KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> DatasetKind:
    """The registered kind called ``name`` (the params ``datasets.<name>.kind``)."""
    kinds = all_kinds()
    if name not in kinds:
        raise ValueError(f"unknown dataset kind {name!r} (choose from {', '.join(sorted(kinds))})")
    return kinds[name]


def all_kinds() -> dict[str, DatasetKind]:
    for module in _MODULES:
        importlib.import_module(f"faceoff.datasets.{module}")
    return dict(_KINDS)


def no_groundtruth(
    source: Path, item: str, others: Sequence[str], settings: Mapping[str, Any] | None = None
) -> dict[str, Path]:
    """For kinds whose synthetic writer renders no ground truth."""
    return {}
