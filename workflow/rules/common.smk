"""Shared setup: validated parameters, the run registry and the output layout."""

from pathlib import Path

from snakemake.exceptions import WorkflowError

from faceoff.config import (
    ConfigError,
    Layout,
    get_run,
    missing_sources,
    resolve_runs,
)
from faceoff.config.load import read_yaml, validate

# params.yaml first, then every --configfile, in the order Snakemake merged them.
CONFIG_FILES = ["params.yaml"] + [str(f) for f in workflow.overwrite_configfiles]
try:
    validate(config, [(Path(f), read_yaml(f)) for f in CONFIG_FILES])
except ConfigError as exc:
    raise WorkflowError(str(exc))
_missing = missing_sources(config)
if _missing:
    raise WorkflowError("raw data missing:\n  " + "\n  ".join(_missing))

CFG = " ".join(f"-c {f}" for f in CONFIG_FILES)
LAYOUT = Layout.of(config)
OUT = str(LAYOUT.root)
RUNS = resolve_runs(config)
LOGS = f"{OUT}/logs"
ENV = "../../envs/faceoff.yaml"


wildcard_constraints:
    dataset=r"[A-Za-z0-9_]+",
    item=r"[A-Za-z0-9_.-]+",
    family=r"[a-z]+",
    run=r"[A-Za-z0-9_.-]+-[A-Za-z0-9_]+-s[0-9]+",
    pair=r"[A-Za-z0-9_.-]+2[A-Za-z0-9_.-]+",


def run_of(wildcards):
    return get_run(config, f"{wildcards.family}/{wildcards.run}")


def family_runs(family):
    return [r for r in RUNS if r.family == family]


def prepared_dir(dataset, item):
    return str(LAYOUT.prepared(dataset, item))


# Rules run the package from this checkout, so a cluster or conda environment needs only the
# dependencies (envs/faceoff.yaml), not an installed faceoff.
FACEOFF = f"PYTHONPATH={workflow.basedir}/src${{PYTHONPATH:+:$PYTHONPATH}} python -m faceoff {CFG}"
