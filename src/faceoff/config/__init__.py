"""Parameters: load and validate params.yaml (+ overrides), resolve runs, name output paths.

This is the single registry both the Snakefile and the ``faceoff`` command read, so a run's
identity and its files are defined in one place.
"""

from faceoff.config.layout import Layout
from faceoff.config.load import ConfigError, load_params, merge
from faceoff.config.runs import (
    Run,
    active_families,
    applied_runs,
    get_run,
    groundtruth_pairs,
    resolve_runs,
    split_pair,
)

__all__ = [
    "ConfigError",
    "Layout",
    "Run",
    "active_families",
    "applied_runs",
    "get_run",
    "groundtruth_pairs",
    "load_params",
    "merge",
    "resolve_runs",
    "split_pair",
]
