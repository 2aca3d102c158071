"""Registry names and facts cached per digest of the package's sources: a step validates its
parameters, and Snakemake parses the Snakefile, without importing torch and the model zoo; the
cache is never trusted past a change."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from faceoff.config import registry_cache
from faceoff.config.registry_cache import CACHE_FILE, PACKAGE, registry_facts, source_digest
from faceoff.config.resources import train_mem_mb, train_runtime_minutes
from faceoff.evaluate.kinds import all_evaluations
from faceoff.train.registry import get_model, model_names, settings_from_dict
from faceoff.train.settings import SettingsError

from .conftest import REPO
from .pipeline import BIN, SMOKE, copy_workflow, env

MODELS = "faceoff.train.registry:model_names"
RESOLVE = "faceoff.train.registry:resolved_settings"
CONFIGS = [str(REPO / "params.yaml"), str(REPO / "config/smoke.yaml")]
# Validate in a fresh process, then report what validation imported and whether it rejected the layer.
PROBE = """
import sys
from faceoff.config import ConfigError, load_params
try:
    load_params(sys.argv[1:])
    verdict = "valid"
except ConfigError as exc:
    verdict = str(exc)
print({"torch": "torch" in sys.modules, "verdict": verdict})
"""


def _probe(cache: Path, *extra: Path) -> dict:
    env = {**os.environ, "FACEOFF_CACHE_DIR": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *CONFIGS, *map(str, extra)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return ast.literal_eval(out.stdout)


def _model_layer(tmp_path: Path, model: str) -> Path:
    path = tmp_path / f"{model}.yaml"
    path.write_text(yaml.safe_dump({"families": {"portrait": {"train": {"model": model}}}}))
    return path


def test_a_second_process_validates_from_the_cache_without_torch(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _probe(cache)
    assert first == {"torch": True, "verdict": "valid"}  # the names were imported, then stored
    stored = json.loads((cache / CACHE_FILE).read_text())
    assert stored["digest"] == source_digest()
    # What a fresh process imports (this one may have loaded the test plugins' models).
    fresh = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import faceoff.config.registry_cache as c; print(c.registry_names({MODELS!r}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert stored["names"][MODELS] == ast.literal_eval(fresh.stdout)
    assert "cyclegan" in stored["names"][MODELS] and "colour_shift" not in stored["names"][MODELS]
    assert _probe(cache) == {"torch": False, "verdict": "valid"}
    # A wrong name fails from the cache with the message the imported registry gives.
    bad = _model_layer(tmp_path, "nope")
    cached = _probe(cache, bad)
    assert cached["torch"] is False
    assert (
        f"{bad}: families.portrait.train.model: 'nope' is not one of autoencoder, cyclegan"
        in cached["verdict"]
    )
    assert cached["verdict"] == _probe(tmp_path / "empty", bad)["verdict"]


def test_names_stored_for_other_sources_are_not_trusted(tmp_path: Path) -> None:
    """A cache written for other sources (a model since added or removed) is read again."""
    cache = tmp_path / "cache"
    cache.mkdir()
    stale = {"digest": "0" * 64, "names": {MODELS: ["ghost"]}}
    (cache / CACHE_FILE).write_text(json.dumps(stale))
    verdict = _probe(cache, _model_layer(tmp_path, "ghost"))
    assert verdict["torch"] is True
    assert "'ghost' is not one of autoencoder, cyclegan" in verdict["verdict"]
    assert json.loads((cache / CACHE_FILE).read_text())["digest"] == source_digest()


def test_the_digest_follows_every_module(tmp_path: Path) -> None:
    package = tmp_path / "faceoff"
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    assert source_digest(package) == source_digest()
    module = package / "train" / "registry.py"
    module.write_text(module.read_text() + "\n# an edit\n")
    assert source_digest(package) != source_digest()
    (package / "nets" / "extra_generator.py").write_text("")
    module.write_text((PACKAGE / "train" / "registry.py").read_text())
    assert source_digest(package) != source_digest()  # a new module, even an empty one


def test_names_with_plugins_never_enter_the_cache(tmp_path: Path) -> None:
    """A process that loaded a plugin validates from the registries themselves and stores nothing,
    so a plugin's model never validates in a project that does not name the plugin."""
    cache = tmp_path / "cache"
    layer = _model_layer(tmp_path, "colour_shift")
    plugin = tmp_path / "plugin.yaml"
    plugin.write_text(yaml.safe_dump({"plugins": ["tests/plugins/toy_model.py"]}))
    assert _probe(cache, plugin, layer)["verdict"] == "valid"
    assert not (cache / CACHE_FILE).exists()
    # Nor when the process validates other parameters after loading a plugin.
    later = "from faceoff.config import load_params; from faceoff.config.plugins import load_plugins; "
    later += f"load_plugins({{'plugins': ['tests/plugins/toy_model.py']}}); load_params({CONFIGS!r})"
    env = {**os.environ, "FACEOFF_CACHE_DIR": str(cache)}
    subprocess.run([sys.executable, "-c", later], env=env, cwd=REPO, check=True)
    assert not (cache / CACHE_FILE).exists()
    without = _probe(cache, layer)
    assert "'colour_shift' is not one of" in without["verdict"]


def test_an_unwritable_cache_only_costs_the_imports(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert _probe(blocker / "cache") == {"torch": True, "verdict": "valid"}
    assert _probe(blocker / "cache") == {"torch": True, "verdict": "valid"}


def test_model_facts_are_the_registry_s(tmp_path: Path, monkeypatch) -> None:
    """What the Snakefile plans with (cached facts) is what the registry says: each model's data
    and evaluation kind, the metrics of each kind, and each run's resolved, validated settings."""
    monkeypatch.setenv("FACEOFF_CACHE_DIR", str(tmp_path / "cache"))
    # The cached path, even where an earlier test of this worker loaded the test plugins (whose
    # models then answer here too: the registry is this process's).
    monkeypatch.setattr(registry_cache, "plugins_loaded", lambda: False)
    facts = registry_facts("faceoff.train.registry:model_facts")
    assert sorted(facts) == model_names() and "reenact" in facts
    for name, fact in facts.items():
        spec = get_model(name)
        assert fact == {"data": spec.data, "evaluation": spec.evaluation}
    metrics = registry_facts("faceoff.evaluate.kinds:kind_metrics")
    assert metrics == {name: list(kind.glossary.metrics) for name, kind in all_evaluations().items()}
    # The Snakefile's resources: the run's settings as the job resolves them, defaults filled in.
    run = {"model": "reenact", "steps": 40, "batch_size": 2}
    planned = registry_facts(RESOLVE, run)
    resolved = settings_from_dict(run).to_dict()
    assert planned == resolved and resolved["crop_size"] != 256  # reenact's own default, not the base's
    assert train_runtime_minutes(planned, 2) == train_runtime_minutes(resolved, 2)
    assert train_mem_mb(planned) == train_mem_mb(resolved)
    stored = json.loads((tmp_path / "cache" / CACHE_FILE).read_text())["facts"]
    assert stored[RESOLVE + '[{"batch_size": 2, "model": "reenact", "steps": 40}]'] == resolved
    # Invalid settings raise the settings' own error, and are not stored.
    with pytest.raises(SettingsError, match="crop_size 34 is not a multiple of 4"):
        registry_facts(RESOLVE, {"netG": "resnet_6blocks", "crop_size": 34})
    assert len(json.loads((tmp_path / "cache" / CACHE_FILE).read_text())["facts"]) == len(stored)


def test_the_snakefile_is_parsed_without_torch(tmp_path: Path) -> None:
    """Every SLURM job and every `snakemake` call parses the Snakefile: from a warm cache, planning
    the whole smoke DAG imports no torch, and plans what the first (importing) parse planned; invalid
    settings stop it as before."""
    work = copy_workflow(tmp_path / "wf")
    cache = tmp_path / "cache"
    plan = [sys.executable, "-X", "importtime", str(BIN / "snakemake"), "-n", "--configfile", SMOKE]

    def parse() -> tuple[bool, list[tuple[str, ...]]]:
        proc = subprocess.run(
            plan, cwd=work, env={**env(work), "FACEOFF_CACHE_DIR": str(cache)}, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        torch = re.search(r"^import time:.*\|\s+torch$", proc.stderr, re.M) is not None
        # Each job's rule, output, wildcards and resources (its reason lists files in any order).
        wanted = ("rule ", "output:", "wildcards:", "resources:")
        jobs = {
            tuple(line.strip() for line in block.splitlines() if line.strip().startswith(wanted))
            for block in re.split(r"^\[.*\d\d:\d\d:\d\d.*\]$", proc.stdout, flags=re.M)  # timestamps
        }
        return torch, sorted(job for job in jobs if job)

    first_torch, first_plan = parse()
    assert first_torch  # an empty cache: the registries were imported, then stored
    torch, second_plan = parse()
    assert not torch
    assert second_plan == first_plan
    trains = [job for job in first_plan if job[0] == "rule train:"]
    assert len(trains) > 20 and all("runtime=" in job[-1] and "mem_mb=" in job[-1] for job in trains)
    assert any(job[0] == "rule claims:" for job in first_plan)
    # A run's invalid settings still stop the plan, with the settings' own message.
    (work / "bad.yaml").write_text(
        yaml.safe_dump({"families": {"faceoff": {"variants": {"baseline": {"crop_size": 34}}}}})
    )
    bad = subprocess.run(
        [*plan[3:], "bad.yaml"],
        cwd=work,
        env={**env(work), "FACEOFF_CACHE_DIR": str(cache)},
        capture_output=True,
        text=True,
    )
    assert (
        bad.returncode != 0
        and "SettingsError: crop_size 34 is not a multiple of 4" in bad.stdout + bad.stderr
    )
