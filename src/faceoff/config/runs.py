"""The run registry: one run = family x pair x variant x seed, with its resolved settings."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from faceoff.config.load import ConfigError, merge

# The training fast path's switches (resolved per device by faceoff.train.runtime); all of them off
# (and precision fp32) is the reference implementation's computation. They change how fast a step
# runs, not what it computes (up to float rounding).
FAST_PATH = (
    "channels_last",
    "batch_passes",
    "data_on_device",
    "fused_optimizer",
    "cudnn_benchmark",
    "compile",
    "parallel_sides",
)
SPEED_KEYS = (*FAST_PATH, "deterministic", "threads")
# Training keys that do not change what is computed: a checkpoint stays valid when only these differ.
OPERATIONAL_KEYS = ("log_every", "checkpoint_every", "sample_every", *SPEED_KEYS)
# Training keys a variant of another model still takes from its family's train block: the data
# and bookkeeping every model shares (faceoff.train.settings.BaseSettings has them all). The
# optimiser and schedule (lr, beta1, batch_size, steps) stay the model's own: the CycleGAN's
# learning rate would freeze a style transfer's pixel updates.
SHARED_TRAIN_KEYS = ("crop_size", "flip", "precision", *OPERATIONAL_KEYS)


def variant_settings(train: Mapping[str, Any], variant: Mapping[str, Any] | None) -> dict[str, Any]:
    """The family's train block with a variant applied.

    A variant of the family's own model overrides single keys; a variant naming another model
    (``model: nst`` in a CycleGAN family) keeps only the :data:`SHARED_TRAIN_KEYS` (crop,
    logging, speed) of the family block, since the rest belongs to the family's model.
    """
    variant = variant or {}
    model = variant.get("model", train.get("model", "cyclegan"))
    if model != train.get("model", "cyclegan"):
        train = {k: v for k, v in train.items() if k in SHARED_TRAIN_KEYS}
    return merge(train, variant)


@dataclass(frozen=True)
class Run:
    """A training run; ``settings`` are the family's train settings with the variant applied."""

    family: str
    pair: str
    variant: str
    seed: int
    dataset: str
    settings: Mapping[str, Any] = field(compare=False, hash=False)
    items: tuple[str, str]  # (source, target) items of the dataset

    @property
    def id(self) -> str:
        return f"{self.pair}-{self.variant}-s{self.seed}"

    @property
    def key(self) -> str:
        """``family/id``: how the command line and the DAG name a run."""
        return f"{self.family}/{self.id}"


def split_pair(pair: str, items: Iterable[str] | None = None) -> tuple[str, str]:
    """``"A2B"`` -> ``("A", "B")``; with the dataset's items, ids may contain a 2 themselves.

    ``"0712054"`` with items 071 and 054 splits at the one "2" that leaves two known items.
    """
    known = set(items) if items is not None else None
    cuts = [(pair[:i], pair[i + 1 :]) for i, char in enumerate(pair) if char == "2" and 0 < i < len(pair) - 1]
    if known is not None:
        cuts = [(a, b) for a, b in cuts if a in known and b in known]
    elif len(cuts) > 1:
        cuts = []
    if len(cuts) != 1:
        hint = f" with items {', '.join(sorted(known))}" if known is not None else ""
        raise ConfigError(f"pair {pair!r} must read <source>2<target>{hint} (found {len(cuts)} readings)")
    return cuts[0]


def active_families(params: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The families this configuration runs: ``run_families`` when set, else every family."""
    chosen = params.get("run_families")
    return {name: fam for name, fam in params["families"].items() if chosen is None or name in chosen}


def resolve_runs(params: Mapping[str, Any], family: str | None = None) -> list[Run]:
    """Every run the parameters ask for, in a stable order."""
    runs = []
    for name, fam in active_families(params).items():
        if family is not None and name != family:
            continue
        for pair in fam["pairs"]:
            for variant in fam["run"]:
                settings = variant_settings(fam["train"], fam["variants"].get(variant))
                items = split_pair(pair, params["datasets"][fam["dataset"]]["items"])
                for seed in fam["seeds"]:
                    runs.append(Run(name, pair, variant, int(seed), fam["dataset"], settings, items))
    return runs


# Dataset kinds whose items are whole videos of a person: the DAG applies their runs to the held-out
# segment of the source's raw video (`faceoff apply-eval`).
VIDEO_KINDS = ("person_videos", "ffpp")


def applied_runs(params: Mapping[str, Any], family: str | None = None) -> list[Run]:
    """The runs the DAG pastes back into whole frames: those trained on a video dataset."""
    return [r for r in resolve_runs(params, family) if params["datasets"][r.dataset]["kind"] in VIDEO_KINDS]


def get_run(params: Mapping[str, Any], key: str) -> Run:
    """Look a run up by ``family/pair-variant-sSEED``."""
    for run in resolve_runs(params):
        if run.key == key:
            return run
    known = [r.key for r in resolve_runs(params)]
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ConfigError(
        f"unknown run {key!r}: {hint}`faceoff config runs` lists the {len(known)} runs of these parameters"
    )


def groundtruth_pairs(params: Mapping[str, Any], dataset: str) -> list[tuple[str, str]]:
    """(source, target) renderings a synthetic dataset must provide for the families using it."""
    pairs: set[tuple[str, str]] = set()
    for fam in active_families(params).values():
        if fam["dataset"] == dataset:
            for pair in fam["pairs"]:
                a, b = split_pair(pair, params["datasets"][dataset]["items"])
                pairs |= {(a, b), (b, a)}
    return sorted(pairs)
