"""Every step reruns exactly when what it reads changes, in Snakemake and in DVC alike.

What a step reads is declared once, in faceoff.config.provenance (its code derived from the
steps' imports). The fast tests check that derivation and dvc.yaml's stages against it; the slow
test edits one key of every parameter block (and one source file) of a built smoke project and
asks both tools what they would rerun.
"""

from __future__ import annotations

import argparse
import compileall
import copy
import fnmatch
import hashlib
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import networkx as nx
import pytest
import yaml

from faceoff.cli import _parser
from faceoff.config import Run, load_params, provenance, resolve_runs

from .pipeline import BIN, SMOKE, clone_build, env, run

PACKAGE = Path(provenance.__file__).resolve().parents[1]


# --- the code of a step is what its command imports ------------------------------------------

# A package laid out like faceoff: what each file imports, and how.
FAKE = {
    "__init__.py": "",
    "__main__.py": "from faceoff.cli import main\n",
    # Options described for `faceoff bench` only: never a step's code.
    "cli.py": "from faceoff.errors import E\n\ndef _parser():\n    from faceoff import bench\n",
    "errors.py": "",
    "steps.py": (
        "from typing import TYPE_CHECKING\n"
        "from faceoff.io import atomic\n"
        "if TYPE_CHECKING:\n"
        "    from faceoff.report import Page  # annotations only: never run\n"
        "def prepare():\n    from faceoff.prepare import item\n"
        "def train():\n    _load()\n"
        "def _load():\n    from faceoff.train import model\n"
        "def evaluate():\n    _load()\n    from faceoff.evaluate import score\n"
        "def report():\n    from faceoff.report import html\n"
    ),
    "io/__init__.py": "",
    "prepare/__init__.py": "from faceoff.io import atomic\n",
    "train/__init__.py": 'MODELS = {"unet": "faceoff.nets.unet:UNet"}  # loaded by name\n',
    "nets/unet.py": "",
    "evaluate/__init__.py": "from faceoff.plots import grid\n",
    "plots/__init__.py": "",
    "report/__init__.py": "",
    "bench/__init__.py": "",
}
ENTRY = {"__init__.py", "__main__.py", "cli.py", "errors.py", "steps.py", "io"}


def _fake_package(root: Path) -> Path:
    package = root / "faceoff"
    for name, text in FAKE.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    return package


def test_code_follows_the_handler_its_helpers_and_each_folders_imports(tmp_path: Path) -> None:
    package = _fake_package(tmp_path)
    code = {step: set(provenance.code(step, package=package)) for step in ("prepare", "train", "evaluate")}
    assert code["prepare"] == ENTRY | {"prepare"}
    assert code["train"] == ENTRY | {"train", "nets"}  # through _load, and a registry's string
    assert code["evaluate"] == ENTRY | {"train", "nets", "evaluate", "plots"}
    plugin = tmp_path / "plugin.py"
    plugin.write_text("from faceoff.report import html\n")  # imported by every command
    assert set(provenance.code("prepare", (plugin,), package)) == code["prepare"] | {"report"}


def test_the_package_code_of_every_step() -> None:
    """On faceoff itself: every step runs the command line and the data layers, only its own
    top layer, and nothing of `faceoff bench`."""
    code = {step: set(provenance.code(step)) for step in provenance.STEPS}
    base = {"__init__.py", "__main__.py", "cli.py", "steps.py", "errors.py", "io", "config", "datasets"}
    assert all(base <= units and "bench" not in units for units in code.values())
    assert all((PACKAGE / unit).exists() for units in code.values() for unit in units)
    assert code["prepare"] == code["synth"] and "train" not in code["prepare"]
    assert code["train"] == code["train_classifier"] and code["train"] > code["prepare"]
    assert code["evaluate"] == code["evaluate_copy"] and code["evaluate"] > code["train"] | {"evaluate"}
    assert {step for step, units in code.items() if "apply" in units} == {"apply"}
    assert {step for step, units in code.items() if "report" in units} == {"report"}
    assert "train" not in code["table"]  # a table reads metrics and train.json, no model


def test_code_digest_changes_with_a_file_of_the_step_only(tmp_path: Path) -> None:
    package = _fake_package(tmp_path)
    plugin = tmp_path / "plugin.py"
    plugin.write_text("")
    steps = ("prepare", "train", "evaluate", "report")

    def digests(plugins: tuple[Path, ...] = ()) -> dict[str, str]:
        provenance.code_digest.cache_clear()
        return {step: provenance.code_digest(step, plugins, package) for step in steps}

    before = digests()
    (package / "evaluate" / "__pycache__").mkdir()
    (package / "evaluate" / "__pycache__" / "x.pyc").write_bytes(b"\0")  # byte code: not code
    assert digests() == before
    (package / "evaluate" / "metrics.py").write_text("# new\n")
    after = digests()
    assert {step for step in steps if after[step] != before[step]} == {"evaluate"}
    with_plugin = digests((plugin,))
    plugin.write_text("# changed\n")
    changed = digests((plugin,))
    provenance.code_digest.cache_clear()
    assert all(changed[step] != with_plugin[step] != after[step] for step in steps)


# --- dvc.yaml says what the provenance says --------------------------------------------------


def _job(cmd: str, runs: Mapping[str, Run]) -> tuple[str, dict[str, str]]:
    """A DVC stage's command as ``"<step> <target>"`` and the job's provenance arguments
    (``runs``: the configuration's runs by key)."""
    args, _ = _cli().parse_known_args(shlex.split(cmd)[1:])
    if args.command == "prepare":
        return f"prepare {args.dataset}/{args.item}", {"dataset": args.dataset}
    if args.command in ("train", "evaluate") and args.run:
        return f"{args.command} {args.run}", {
            "family": runs[args.run].family,
            "variant": runs[args.run].variant,
        }
    if args.command == "apply-eval":
        return f"apply {args.run}", {"family": runs[args.run].family, "variant": runs[args.run].variant}
    if args.command == "train":
        return f"train_classifier {args.classifier}", {"family": args.classifier}
    if args.command == "evaluate":
        return f"evaluate_copy {args.copy}", {"family": args.copy.split("/")[0]}
    if args.command in ("table", "figure"):
        return f"{args.command} {args.family}", {"family": args.family}
    return args.command, {}


@cache
def _cli() -> argparse.ArgumentParser:
    return _parser()


def _runs(params: Mapping[str, Any]) -> dict[str, Run]:
    return {run.key: run for run in resolve_runs(params)}


def _dvc_project(root: Path, params: Mapping[str, Any]) -> Path:
    from dvc.repo import Repo

    root.mkdir(parents=True, exist_ok=True)
    (root / "dvc.yaml").write_text((PACKAGE.parents[1] / "dvc.yaml").read_text())
    (root / "params.yaml").write_text(yaml.safe_dump(dict(params), sort_keys=False))
    Repo.init(str(root), no_scm=True)
    return root


@pytest.mark.parametrize("override", [None, "config/smoke.yaml", "config/demo.yaml"])
def test_dvc_stages_read_what_provenance_says(override: str | None, tmp_path: Path) -> None:
    from dvc.repo import Repo

    repo_root = PACKAGE.parents[1]
    params = load_params([repo_root / "params.yaml", *([repo_root / override] if override else [])])
    steps, runs = set(), _runs(params)
    with Repo(str(_dvc_project(tmp_path, params))) as repo:
        for stage in repo.index.stages:
            name, job = _job(stage.cmd, runs)
            step = name.split()[0]
            steps.add(step)
            code = sorted(d.def_path for d in stage.deps if d.def_path.startswith("src/faceoff"))
            assert code == sorted(f"src/faceoff/{unit}" for unit in provenance.code(step)), stage.addressing
            keys = [key for d in stage.deps for key in getattr(d, "params", None) or []]
            assert keys == provenance.param_keys(params, step, **job), stage.addressing
    assert steps == set(provenance.STEPS) - {"synth"}  # raw data is an input of DVC's DAG


# --- both tools plan exactly the stale jobs ---------------------------------------------------

# One key of every block a step reads: the key, its new value, the jobs that read it.
ROWS = [
    *(
        (f"datasets.{d}.synthetic.seed", 1, (f"synth {d}", f"prepare {d}/*"))
        for d in ("persons", "portraits", "jaffe", "vw300", "ffpp")
    ),
    ("datasets.persons.prepare.smooth", 3, ("prepare persons/*",)),
    ("datasets.portraits.prepare.seed", 1, ("prepare portraits/*",)),
    ("datasets.jaffe.prepare.margin", 0.35, ("prepare jaffe/*",)),
    ("datasets.vw300.prepare.crop_scale", 1.2, ("prepare vw300/*",)),
    ("datasets.ffpp.prepare.margin", 0.35, ("prepare ffpp/*",)),
    (
        "families.faceoff.train.lr",
        0.0003,
        ("train faceoff/*", "evaluate faceoff/*", "evaluate_copy faceoff/*", "apply faceoff/*"),
    ),
    ("families.portrait.variants.lp5_200.train_limit", 5, ("* portrait/*-lp5_200-s0",)),
    ("families.swap.evaluate.fps", 10, ("evaluate swap/*", "evaluate_copy swap/*", "apply swap/*")),
    ("families.portrait.tables.final", ["baseline", "lp5_200"], ("table portrait",)),
    ("families.portrait.figure_variants", ["lp5_200"], ("figure portrait",)),
    ("families.reenact.loss_figure", ["full"], ("figure reenact",)),
    ("families.expression.classifier.steps", 7, ("train_classifier expression",)),
]


@pytest.fixture(scope="module")
def built(smoke_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's smoke build (conftest.smoke_build, copied), recorded by `dvc commit`."""
    work = clone_build(smoke_build, tmp_path_factory.mktemp("rerun") / "work")
    # Its params.yaml holds the smoke parameters already; the overlay that every built command
    # names (`-c config/smoke.yaml`) is emptied, so an edit of params.yaml is what both tools read.
    (work / SMOKE).write_text("{}\n")
    run([str(BIN / "dvc"), "init", "--no-scm", "-q"], work)
    # DVC records the built state as it is: no copying back from its cache, which would make the
    # outputs newer than Snakemake's record of them.
    run([str(BIN / "dvc"), "commit", "--force", "--no-relink", "-q"], work)
    return work


def _planned(dry_run: str) -> set[str]:
    """``"<step> <target>"`` of each job of a dry run (the same names :func:`_job` gives DVC's)."""
    jobs: list[tuple[str, dict[str, str]]] = []
    for line in dry_run.splitlines():
        if m := re.match(r"(?:local)?rule (\w+):$", line):
            jobs.append((m.group(1), {}))
        elif (m := re.match(r"\s+wildcards: (.*)$", line)) and jobs:
            jobs[-1][1].update(pair.split("=", 1) for pair in m.group(1).split(", "))
    names = set()
    for rule, wildcards in jobs:
        step = f"synth {rule.removeprefix('synth_')}" if rule.startswith("synth_") else rule
        target = "/".join(
            wildcards[k] for k in ("dataset", "item", "family", "run", "pair") if k in wildcards
        )
        names.add(f"{step} {target}".strip())
    return names - {"all"}


@contextmanager
def _each_params_file_parsed_once() -> Iterator[None]:
    """DVC parses params.yaml again for every stage that reads a key of it: three quarters of a
    `dvc status` of the smoke's hundred stages. Within this block a file is parsed once per content
    (each caller gets its own copy); what DVC compares is unchanged."""
    from dvc.dependency import param

    parsed: dict[tuple[str, bytes], Any] = {}
    load_path = param.load_path

    def load_once(path: str, fs: Any, **kwargs: Any) -> Any:
        key = (path, hashlib.sha256(fs.read_bytes(path)).digest())
        if key not in parsed:
            parsed[key] = load_path(path, fs, **kwargs)
        return copy.deepcopy(parsed[key])

    with mock.patch.object(param, "load_path", load_once):
        yield


def _dvc_view(work: Path) -> tuple[set[str], nx.DiGraph]:
    """The stages `dvc status` names, and DVC's DAG (job -> the jobs it reads), as job names."""
    from dvc.repo import Repo, lock_repo

    runs = _runs(yaml.safe_load((work / "params.yaml").read_text()))
    # Under one lock, DVC reads its index once: each locked call (`status`) otherwise drops it and
    # reads the project's dvc.yaml and dvc.lock again.
    with Repo(str(work)) as repo, lock_repo(repo), _each_params_file_parsed_once():
        index = repo.index
        names = {stage.addressing: _job(stage.cmd, runs)[0] for stage in index.stages}
        graph = nx.relabel_nodes(index.graph, {s: names[s.addressing] for s in index.graph.nodes})
        stale = {names[addressing] for addressing in repo.status()}
    return stale, graph


def _plans(work: Path) -> tuple[set[str], set[str], nx.DiGraph]:
    """Snakemake's planned jobs (`snakemake -n`, run meanwhile), DVC's stale stages and DAG."""
    proc = subprocess.Popen(
        [str(BIN / "snakemake"), "-n", "--configfile", SMOKE],
        cwd=work,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        stale, graph = _dvc_view(work)
    finally:
        out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    return _planned(out), stale, graph


def _set(params_text: str, key: str, value: Any) -> str:
    data = yaml.safe_load(params_text)
    *path, last = key.split(".")
    node = data
    for part in path:
        node = node[part]
    assert node.get(last) != value, f"{key} is already {value!r}: the row changes nothing"
    node[last] = value
    return yaml.safe_dump(data, sort_keys=False)


def _expected(
    reads: Callable[[str], bool], graph: nx.DiGraph, params: Mapping[str, Any]
) -> tuple[set[str], set[str]]:
    """(Snakemake's plan, DVC's stale stages) when the jobs for which ``reads`` holds read a
    change: those jobs and every job downstream of them in DVC's DAG; DVC, which takes raw data
    as an input, has no synth stages."""
    universe = set(graph.nodes) | {
        f"synth {d}" for d, ds in params["datasets"].items() if ds.get("synthetic")
    }
    readers = {job for job in universe if reads(job)}
    assert readers, "no job reads the change"
    stale = readers & set(graph.nodes)
    downstream = set().union(*(nx.ancestors(graph, job) for job in stale))
    return readers | downstream, stale


@pytest.mark.slow
def test_nothing_changed_plans_nothing(built: Path) -> None:
    """Not even once Python has written byte code beside every source (as it does wherever
    PYTHONDONTWRITEBYTECODE is unset) in the folders the steps depend on."""
    assert compileall.compile_dir(built / "src", quiet=1)
    try:
        planned, stale, _ = _plans(built)
    finally:
        for cache in list((built / "src").rglob("__pycache__")):
            shutil.rmtree(cache)
    assert planned == set() and stale == set()


@pytest.mark.slow
@pytest.mark.parametrize(("key", "value", "direct"), ROWS, ids=[row[0] for row in ROWS])
def test_a_changed_key_reruns_its_readers_and_downstream(
    built: Path, key: str, value: Any, direct: tuple[str, ...]
) -> None:
    params_file = built / "params.yaml"
    original = params_file.read_text()
    params_file.write_text(_set(original, key, value))
    try:
        planned, stale, graph = _plans(built)
    finally:
        params_file.write_text(original)
    matches = lambda job: any(fnmatch.fnmatchcase(job, pattern) for pattern in direct)  # noqa: E731
    want_planned, want_stale = _expected(matches, graph, yaml.safe_load(original))
    assert stale == want_stale
    assert planned == want_planned


@pytest.mark.slow
def test_a_changed_source_file_reruns_the_steps_importing_it(built: Path) -> None:
    source = built / "src/faceoff/evaluate/table.py"
    original = source.read_bytes()
    source.write_bytes(original + b"\n# an edit: the code of every step importing faceoff.evaluate\n")
    try:
        planned, stale, graph = _plans(built)
    finally:
        source.write_bytes(original)
    importers = {step for step in provenance.STEPS if "evaluate" in provenance.code(step)}
    params = yaml.safe_load((built / "params.yaml").read_text())
    want_planned, want_stale = _expected(lambda job: job.split()[0] in importers, graph, params)
    assert stale == want_stale
    assert planned == want_planned
