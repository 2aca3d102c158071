"""Is the raw data where the parameters say? One message per dataset, saying where to put it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from faceoff.config.runs import active_families
from faceoff.datasets.registry import get_kind


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
