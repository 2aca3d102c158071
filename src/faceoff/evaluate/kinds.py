"""Evaluation kinds: how a model's runs are scored, what their metrics mean and which figures show them.

A model names its kind (:attr:`faceoff.train.registry.ModelSpec.evaluation`); the module that
scores that kind registers one :class:`EvaluationKind` on import (``translate`` in
:mod:`faceoff.evaluate.run`, ``reenact`` in :mod:`faceoff.evaluate.reenact`; a plug-in model's
module may register its own). The steps resolve paths and parameters into an
:class:`EvaluationJob` or a :class:`FigureJob` and hand it to the kind :func:`get_evaluation`
returns, so they never branch on a kind's name.

One metric name means one thing in every kind: :func:`register_evaluation` refuses a glossary
whose metric another kind (or a table column) already defines differently, so a metric that
measures something else must be given another name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceoff.config import Run
from faceoff.datasets.prepared import PreparedSplit
from faceoff.errors import FaceoffError
from faceoff.evaluate.glossary import Glossary, clashes

# The modules that register the built-in kinds, imported on first use.
_MODULES = ("faceoff.evaluate.run", "faceoff.evaluate.reenact")

Embed = Callable[[np.ndarray, np.ndarray], np.ndarray]
Landmarks = Callable[[np.ndarray], np.ndarray | None]
TargetShare = Callable[[np.ndarray, str], float]


class EvaluationError(FaceoffError, ValueError):
    """A model names an evaluation kind that no module registered."""


@dataclass(frozen=True)
class EvaluationJob:
    """One evaluation of a pair, resolved by the step: a kind scores ``model`` (None: the
    copy-input baseline) on the pair's test splits and writes metrics.json (last), faceoff.mp4
    and samples.png into ``out_dir``."""

    model: Any | None  # the run's loaded model (faceoff.train.load_translator)
    pair: tuple[str, str]  # (source, target) items
    tests: Mapping[str, PreparedSplit]  # item -> its test split (uncropped)
    out_dir: Path
    embed: Embed  # identity descriptors (families.<family>.evaluate.identity_net)
    landmarks: Landmarks  # landmarks found on an output
    crop_size: int
    max_frames: int | None
    video_frames: int
    fps: float
    options: Mapping[str, Any]  # families.<family>.evaluate
    split: Callable[[str, str], PreparedSplit]  # (item, split name) -> another split, e.g. "val"
    classifier: Callable[[], TargetShare | None]  # the family's expression classifier, if it has one

    def scoring(self) -> dict[str, Any]:
        """The keyword arguments every kind's scoring takes alike."""
        return {
            "out_dir": self.out_dir,
            "embed": self.embed,
            "landmarks": self.landmarks,
            "crop_size": self.crop_size,
            "max_frames": self.max_frames,
            "video_frames": self.video_frames,
            "fps": self.fps,
        }


@dataclass(frozen=True)
class FigureJob:
    """A kind's figures of one pair of a family, written into ``folder``: ``runs`` are the pair's
    runs of this kind that the family's figures show, in the family's order."""

    family: str
    pair: str
    runs: Sequence[Run]
    folder: Path
    test_split: Callable[[Run], PreparedSplit]  # the test split of a run's source item (uncropped)
    model: Callable[[Run], Any]  # a run's trained model on the CPU (figures score a few frames)
    losses: Callable[[Run], Path]  # a run's losses.csv


@dataclass(frozen=True, eq=False)
class EvaluationKind:
    """``evaluate`` scores a job and returns metrics.json's content; ``figures`` (optional) writes
    the kind's figures of a pair; ``glossary`` defines the metrics it writes."""

    name: str
    glossary: Glossary
    evaluate: Callable[[EvaluationJob], dict[str, Any]]
    figures: Callable[[FigureJob], None] | None = None


KINDS: dict[str, EvaluationKind] = {}


def register_evaluation(kind: EvaluationKind) -> EvaluationKind:
    """Register ``kind`` under its name, refusing a second kind of that name and a metric name that
    means something else elsewhere."""
    if kind.glossary.kind != kind.name:
        raise ValueError(f"evaluation kind {kind.name!r} has the glossary of {kind.glossary.kind!r}")
    if kind.name in KINDS and KINDS[kind.name] is not kind:
        raise ValueError(f"evaluation kind {kind.name!r} registered twice")
    found = clashes(kind.glossary, [k.glossary for k in KINDS.values() if k.name != kind.name])
    if found:
        raise ValueError(f"{kind.name} metrics {', '.join(found)} already mean something else: rename them")
    KINDS[kind.name] = kind
    return kind


def all_evaluations() -> dict[str, EvaluationKind]:
    """Every registered kind (the built-in ones imported first)."""
    for module in _MODULES:
        importlib.import_module(module)
    return dict(KINDS)


def kind_metrics() -> dict[str, list[str]]:
    """Each kind's metric names, as JSON: the claims check their metrics while the Snakefile parses,
    through :func:`faceoff.config.registry_cache.registry_facts` (no torch to import)."""
    return {name: list(kind.glossary.metrics) for name, kind in sorted(all_evaluations().items())}


def get_evaluation(name: str) -> EvaluationKind:
    kinds = all_evaluations()
    if name not in kinds:
        raise EvaluationError(
            f"unknown evaluation kind {name!r} (registered: {', '.join(sorted(kinds))}): the module of "
            "the model that names it registers it with faceoff.evaluate.kinds.register_evaluation"
        )
    return kinds[name]
