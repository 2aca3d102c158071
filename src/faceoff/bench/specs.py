"""Command-line specs of a named thing with changed keys: ``name[:key=value...]``.

In the bench folder, which no DAG step imports: the bench and the docs probes read it, and a
change here reruns no step (:mod:`faceoff.config.provenance` digests the folders the steps reach).
"""

from __future__ import annotations

from typing import Any

import yaml

from faceoff.config.load import ConfigError


def named_overrides(spec: str) -> tuple[str, dict[str, Any]]:
    """``name[:key=value...]`` -> (name, overrides), the values read as YAML (true, 3, 5.0e-4, null):
    how command lines name a preset, model or setting with changed keys (``faceoff bench``)."""
    name, *items = spec.split(":")
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"{spec!r}: override {item!r} is not key=value")
        overrides[key] = yaml.safe_load(value)
    return name, overrides
