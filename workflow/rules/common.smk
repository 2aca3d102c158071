"""Shared setup: validated parameters, the run registry and the output layout."""

import os
import sys
from functools import cache
from pathlib import Path

from snakemake.exceptions import WorkflowError

# The package is imported from this checkout, installed or not.
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from faceoff.config import (
    active_families,
    applied_runs,
    Layout,
    get_run,
    resolve_runs,
    split_pair,
)
from faceoff.config import provenance
from faceoff.config.load import read_yaml, validate
from faceoff.config.registry_cache import registry_facts
from faceoff.config.resources import train_mem_mb, train_runtime_minutes
from faceoff.datasets.check import item_inputs, missing_sources
from faceoff.errors import FaceoffError

# params.yaml first, then every --configfile, in the order Snakemake merged them. Validation
# imports the `plugins` they name first, so the models and dataset kinds those register are
# known to the checks and to every input function below.
CONFIG_FILES = ["params.yaml"] + [os.path.relpath(f) for f in workflow.overwrite_configfiles]
try:
    validate(config, [(Path(f), read_yaml(f)) for f in CONFIG_FILES])
except FaceoffError as exc:  # ConfigError, or a PluginError naming a plugin that fails to load
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
# Per model: its data and evaluation kind, cached per digest of the package's sources (as are the
# runs' resolved settings below), so parsing the Snakefile (every SLURM job does) imports no torch.
MODELS = registry_facts("faceoff.train.registry:model_facts")
# Trainings are the DAG's long jobs (a minute or more each in the demo, its evaluations seconds):
# the rules on the way to them and the trainings themselves run first, so that no training starts
# late and leaves a core idle at the end while the short jobs are long done.
TRAINING_FIRST = 1


wildcard_constraints:
    dataset=r"[A-Za-z0-9_]+",
    item=r"[A-Za-z0-9_.-]+",
    family=r"[a-z]+",
    run=r"[A-Za-z0-9_.-]+-[A-Za-z0-9_]+-s[0-9]+",
    pair=r"[A-Za-z0-9_.-]+2[A-Za-z0-9_.-]+",


def run_of(wildcards):
    return get_run(config, f"{wildcards.family}/{wildcards.run}")


def model_of(settings):
    return MODELS[str(settings.get("model", "cyclegan"))]


def family_runs(family):
    return [r for r in RUNS if r.family == family]


def prepared_dir(dataset, item):
    return str(LAYOUT.prepared(dataset, item))


# Rules run the package from this checkout, so a cluster or conda environment needs only the
# dependencies (envs/faceoff.yaml), not an installed faceoff.
FACEOFF = f"PYTHONPATH={os.path.relpath(workflow.basedir)}/src${{PYTHONPATH:+:$PYTHONPATH}} python -m faceoff {CFG}"


# Rerun triggers: every rule's `settings` and `code` params hash what its job reads
# (faceoff.config.provenance, from which dvc.yaml is generated), so Snakemake's params trigger reruns a job
# exactly when one of its parameter blocks or the package code it runs changed.


def settings_of(step, **job):
    """Params function: the digest of the parameter blocks one job of `step` reads."""

    def digest(wildcards):
        wc = dict(wildcards.items())
        found = {key: wc[key] for key in ("dataset", "family") if key in wc}
        if "run" in wc:
            found["variant"] = run_of(wildcards).variant
        return provenance.params_digest(config, step, **job, **found)

    return digest


def code_of(step):
    """The digest of the package files `step` runs and of the parameters' plugin files."""
    from faceoff.config.plugins import plugin_files

    return provenance.code_digest(step, tuple(plugin_files(config)))


# Input functions of the rules (kept here so rule files hold only rules).


def prepare_input(wildcards):
    """The item's raw files; for synthetic data, the rendered folder."""
    return item_inputs(config, wildcards.dataset, wildcards.item)


def dataset_items(dataset):
    return [prepared_dir(dataset, item) for item in config["datasets"][dataset]["items"]]


def train_input(wildcards):
    """The pair's two items, or every item of the dataset for models trained on all of it."""
    run = run_of(wildcards)
    if model_of(run.settings)["data"] == "dataset":
        return dataset_items(run.dataset)
    return [prepared_dir(run.dataset, item) for item in run.items]


def classifier_input(wildcards):
    return dataset_items(config["families"][wildcards.family]["dataset"])


def family_classifier(wildcards):
    """The family's expression classifier, which scores its translations (when it has one)."""
    if "classifier" in config["families"][wildcards.family]:
        return [str(LAYOUT.classifier(wildcards.family) / "model.pt")]
    return []


def resolved_settings(wildcards):
    """The run's settings, validated, with its model's defaults filled in (what the job trains with)."""
    return _resolved_settings(f"{wildcards.family}/{wildcards.run}")


@cache  # asked for each resource of each training job
def _resolved_settings(run_id):
    return registry_facts("faceoff.train.registry:resolved_settings", get_run(config, run_id).settings)


def train_runtime(wildcards, attempt):
    return train_runtime_minutes(resolved_settings(wildcards), attempt)


def train_mem(wildcards, attempt):
    return train_mem_mb(resolved_settings(wildcards), attempt)


def test_items(wildcards):
    run = run_of(wildcards)
    return [prepared_dir(run.dataset, item) for item in run.items] + family_classifier(wildcards)


def copy_items(wildcards):
    dataset = config["families"][wildcards.family]["dataset"]
    items = split_pair(wildcards.pair, config["datasets"][dataset]["items"])
    return [prepared_dir(dataset, item) for item in items] + family_classifier(wildcards)


def apply_inputs(wildcards):
    """The run's model, its source's prepared item (report.json: the held-out segment, the crop
    settings) and raw video (for synthetic data the rendered folder, ground truth included)."""
    run = run_of(wildcards)
    source = run.items[0]
    return item_inputs(config, run.dataset, source) + [
        prepared_dir(run.dataset, source),
        f"{OUT}/train/{run.family}/{run.id}/model.pt",
    ]


def family_metrics(wildcards):
    runs = family_runs(wildcards.family)
    pairs = sorted({r.pair for r in runs})
    files = [f"{OUT}/evaluate/{r.family}/{r.id}/{name}" for r in runs for name in ("metrics.json",)]
    files += [f"{OUT}/train/{r.family}/{r.id}/train.json" for r in runs]
    files += [f"{OUT}/evaluate/{wildcards.family}/{p}-copy/metrics.json" for p in pairs]
    applied = applied_runs(config, wildcards.family)
    files += [f"{OUT}/evaluate/{r.family}/{r.id}/apply_metrics.json" for r in applied]
    return files


def family_figure_inputs(wildcards):
    runs = family_runs(wildcards.family)
    return [f"{OUT}/train/{r.family}/{r.id}/losses.csv" for r in runs] + [
        f"{OUT}/evaluate/{r.family}/{r.id}/metrics.json" for r in runs
    ]


def claims_inputs(wildcards):
    """The per-sample files (and metrics.json, train.json) of every run the claims compare; a bad
    claim (a metric its family's evaluation does not score, say) stops the DAG before any job."""
    from faceoff.evaluate.claims import ClaimError, claim_inputs

    kinds = {family: model_of(fam["train"])["evaluation"] for family, fam in active_families(config).items()}
    try:
        return [str(p) for p in claim_inputs(config, kinds)]
    except ClaimError as exc:
        raise WorkflowError(str(exc))


def report_inputs(wildcards):
    files = [str(p) for p in (*LAYOUT.claims_tables(), LAYOUT.claims_figure)]  # its first section
    for family in active_families(config):
        files += [str(p) for p in LAYOUT.tables(family)]
        files += [str(LAYOUT.table_folder(family)), str(LAYOUT.figures(family))]
        runs = family_runs(family)
        files += [f"{OUT}/evaluate/{r.family}/{r.id}/faceoff.mp4" for r in runs]
        files += [
            f"{OUT}/evaluate/{r.family}/{r.id}/{name}"
            for r in applied_runs(config, family)
            for name in ("apply.mp4", "apply_side_by_side.mp4")
        ]
    return files


# Snakemake's report (`snakemake --report report.zip`): a category per study, a subcategory per
# variant; captions are workflow/report/captions/*.rst (written by faceoff.report.captions).
def report_study(wildcards):
    from faceoff.report.studies import study

    return study(wildcards.family).label


def report_variant(wildcards):
    return run_of(wildcards).variant


onstart:
    # Local jobs fork from a process that has imported torch & co. (faceoff.warmstart: seconds
    # less per job, the same results). Set here, not at parse time: only now is the executor known,
    # and SLURM jobs (which inherit this environment) run in fresh processes. FACEOFF_WARM_START=0
    # turns it off.
    if workflow.local_exec:
        os.environ.setdefault("FACEOFF_WARM_START", "1")
