"""What each step of the DAG reads, so that both workflow tools rerun it exactly when that changes.

One table per kind of input: :func:`param_keys` names the parameter blocks a step reads,
:data:`CODE` the parts of this package its command runs. Snakemake turns them into rule
``params`` (:func:`params_digest`, :func:`code_digest`), which its params rerun trigger compares
with the last run; dvc.yaml lists the same keys under ``params`` and the same paths under
``deps``. tests/test_rerun.py keeps dvc.yaml equal to this module, and :data:`CODE` equal to
the package's imports, so neither can drift.

Blocks are whole: any key a later change adds inside ``families.<f>.train`` (or any other
block) reruns its readers without touching this file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from faceoff.config.runs import active_families

PACKAGE = Path(__file__).resolve().parents[1]  # src/faceoff

# Every step runs the command line and the step dispatcher, which import these at module
# level (the data and preprocessing layers, for their error types); they sit upstream of all
# results, so counting them for every step costs no extra rerun.
_COMMAND = ("__init__.py", "__main__.py", "cli.py", "steps.py", "errors.py")
_DATA = ("io", "config", "synth", "datasets", "faces", "prepare")
_MODELS = ("nets", "losses", "train")
_SCORES = ("plots", "evaluate")

# Step kind -> files and folders of src/faceoff its command imports (transitively).
CODE: dict[str, tuple[str, ...]] = {
    "synth": _COMMAND + _DATA,
    "prepare": _COMMAND + _DATA,
    "train": _COMMAND + _DATA + _MODELS,
    "train_classifier": _COMMAND + _DATA + _MODELS,
    "evaluate": _COMMAND + _DATA + _MODELS + _SCORES,
    "evaluate_copy": _COMMAND + _DATA + _MODELS + _SCORES,
    # The run pasted back into whole frames: `faceoff apply`'s engine, scored by evaluate/.
    "apply": _COMMAND + _DATA + _MODELS + ("apply",) + _SCORES,
    "table": _COMMAND + _DATA + ("losses",) + _SCORES,
    "figure": _COMMAND + _DATA + _MODELS + _SCORES,
    "report": _COMMAND + _DATA + _MODELS + _SCORES + ("report",),
}
STEPS = tuple(CODE)


def param_keys(
    params: Mapping[str, Any],
    step: str,
    *,
    dataset: str | None = None,
    family: str | None = None,
    variant: str | None = None,
) -> list[str]:
    """Dotted keys of the parameter blocks one job of ``step`` reads (those present in ``params``).

    ``dataset`` names the dataset of synth and prepare jobs, ``family`` the family of the others,
    ``variant`` the variant of a train or evaluate job. Keys that only choose which jobs exist
    (items, pairs, run, seeds) are not listed: those jobs are new or gone, not stale. What a step
    reads through another step's files (a table reads train.json) reruns it through that file.
    """
    if step not in CODE:
        raise ValueError(f"unknown step {step!r}; steps: {', '.join(STEPS)}")
    fam = f"families.{family}"
    keys = {
        # The renderer also draws each family's pairs as ground truth (config.groundtruth_pairs).
        "synth": [f"datasets.{dataset}.{key}" for key in ("kind", "items", "synthetic")]
        + [
            f"families.{f}.pairs" for f, spec in active_families(params).items() if spec["dataset"] == dataset
        ],
        # The whole dataset block: kind, source and items locate the raw data, `synthetic` is what
        # it was rendered from (DVC has no synth stage: prepare is what reruns there).
        "prepare": [f"datasets.{dataset}"],
        "train": ["device", f"{fam}.train", f"{fam}.variants.{variant}"],
        "train_classifier": ["device", f"{fam}.classifier"],
        # The crop size and model kind come from the run's settings; the copy baseline's from `train`.
        "evaluate": ["device", f"{fam}.train", f"{fam}.variants.{variant}", f"{fam}.evaluate"],
        "evaluate_copy": ["device", f"{fam}.train", f"{fam}.evaluate"],
        # How many held-out frames to apply (evaluate.max_frames); the crop comes from the run.
        "apply": ["device", f"{fam}.train", f"{fam}.variants.{variant}", f"{fam}.evaluate"],
        "table": [f"{fam}.tables"],
        "figure": [f"{fam}.loss_figure", f"{fam}.figure_variants"],
        "report": [],
    }[step]
    return [key for key in keys if _lookup(params, key) is not _MISSING]


def params_digest(params: Mapping[str, Any], step: str, **job: str | None) -> str:
    """Hash of the blocks :func:`param_keys` names: equal exactly when none of them changed."""
    blob = json.dumps({key: _lookup(params, key) for key in param_keys(params, step, **job)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@cache
def code_digest(step: str, package: Path = PACKAGE) -> str:
    """Hash of the contents of every file of ``CODE[step]``: equal exactly when none changed
    (computed once per process: a Snakemake invocation)."""
    digest = hashlib.sha256()
    for part in CODE[step]:
        root = package / part
        for path in sorted(root.rglob("*")) if root.is_dir() else [root]:
            # Byte code is not code (.dvcignore keeps __pycache__/ out of DVC's hashes too).
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(f"{path.relative_to(package)}\0".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


_MISSING = object()


def _lookup(params: Mapping[str, Any], key: str) -> Any:
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node
