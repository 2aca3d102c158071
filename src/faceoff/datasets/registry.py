"""Dataset kinds by their params ``kind`` string: the readers, preparer and synthetic writer of a format.

A kind is one module that calls :func:`register` on import: a module of this package (found by
scanning it, so nothing lists them) or a plugin the params name. Snakemake asks
:attr:`DatasetKind.item_inputs` for a rule's inputs and :attr:`DatasetKind.missing` for the
message to print when the data is not there; ``faceoff synth`` runs :attr:`DatasetKind.synth`,
``faceoff prepare`` the kind's preparer, ``faceoff ingest`` its :attr:`DatasetKind.validate`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceoff.config.plugins import import_submodules
from faceoff.errors import FaceoffError

_KINDS: dict[str, DatasetKind] = {}


class DatasetError(FaceoffError, FileNotFoundError):
    """Raw data that is missing, malformed or unusable; the message names the path."""


@dataclass(frozen=True)
class DatasetKind:
    """One raw dataset format.

    Every reader takes the dataset's ``prepare`` settings as an optional last argument
    (FaceForensics++ reads its ``quality`` from them).

    ``item_inputs(source, item, settings=None)``: the raw files or folders one item reads.
    ``missing(source, items, settings=None)``: one message per absent piece, naming its path.
    ``validate(source)``: a summary of a complete layout (counts per item/split) or a DatasetError;
    ``ingest`` runs it on freshly extracted archives.
    ``groundtruth(source, item, others, settings=None)``: other item -> ground-truth path of
    synthetic data, for the preparer (only the ones present).
    ``prepare(job)``: prepares one item (:class:`faceoff.prepare.job.PrepareJob`) and returns
    its report; a kind of this package, which may not import the prepare layer, names it as
    ``"module:function"``, imported when first used.
    ``synth(out_dir, items, n_frames, size, fps, seed, ground_truth_pairs)``: renders a synthetic
    dataset in the kind's layout (:data:`faceoff.synth.formats.SynthWriter`).
    ``readers``: the kind's reader functions by name, for callers that need more than the above.
    """

    name: str
    item_inputs: Callable[..., list[Path]]
    missing: Callable[..., list[str]]
    validate: Callable[[Path], dict[str, Any]]
    groundtruth: Callable[..., dict[str, Path]]
    prepare: Callable[..., dict[str, Any]] | str
    synth: Callable[..., None]
    readers: Mapping[str, Callable[..., Any]] = field(default_factory=dict)

    def preparer(self) -> Callable[..., dict[str, Any]]:
        """The ``prepare`` function (imported when named by a string)."""
        if callable(self.prepare):
            return self.prepare
        module, _, function = self.prepare.partition(":")
        return getattr(importlib.import_module(module), function)


def register(kind: DatasetKind) -> DatasetKind:
    if kind.name in _KINDS:
        raise ValueError(f"dataset kind {kind.name!r} registered twice")
    _KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> DatasetKind:
    """The registered kind called ``name`` (the params ``datasets.<name>.kind``)."""
    kinds = all_kinds()
    if name not in kinds:
        raise DatasetError(f"unknown dataset kind {name!r} (choose from {', '.join(sorted(kinds))})")
    return kinds[name]


def all_kinds() -> dict[str, DatasetKind]:
    """Every kind: this package's modules are imported on first use, plugins when they load."""
    import_submodules("faceoff.datasets")
    return dict(_KINDS)


def kind_names() -> list[str]:
    return sorted(all_kinds())


def no_groundtruth(
    source: Path, item: str, others: Sequence[str], settings: Mapping[str, Any] | None = None
) -> dict[str, Path]:
    """For kinds whose synthetic writer renders no ground truth."""
    return {}
