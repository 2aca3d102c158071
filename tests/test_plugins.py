"""A model and a dataset kind are each one module plus params: the test-only plugins in
tests/plugins/ register through the params ``plugins:`` list and run like built-in ones, in
process, through Snakemake and through `dvc repro`."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from faceoff.config import ConfigError, load_params, merge, resolve_runs
from faceoff.config.load import read_yaml
from faceoff.config.plugins import PluginError, load_plugins, plugin_files
from faceoff.datasets.prepared import load_split
from faceoff.datasets.registry import get_kind, kind_names
from faceoff.prepare.registry import prepare_item
from faceoff.synth.spec import SynthSpec
from faceoff.train.registry import load_translator, model_names, settings_from_dict, train_model

from .conftest import REPO
from .pipeline import BIN, copy_workflow, run

PLUGINS = ["tests/plugins/toy_kind.py", "tests/plugins/toy_model.py"]
SMOKE = "results/smoke"
# A configuration layer adding a dataset of the toy kind and a family training the toy model on it.
TOY = {
    "plugins": PLUGINS,
    "run_families": ["toy"],
    "datasets": {
        "toys": {
            "kind": "toy_stills",
            "source": f"{SMOKE}/raw/toys",
            "items": ["ann", "bob"],
            "synthetic": {"frames": 8, "size": 64, "seed": 0},
            "prepare": {"size": 40},
        }
    },
    "families": {
        "toy": {
            "dataset": "toys",
            "pairs": ["ann2bob"],
            "run": ["baseline"],
            "seeds": [0],
            "train": {
                "model": "colour_shift",
                "crop_size": 32,
                "steps": 4,
                "steps_decay": 2,
                "log_every": 2,
                "checkpoint_every": 4,
            },
            "variants": {"baseline": {}},
            "evaluate": {"max_frames": 2, "video_frames": 2},
        }
    },
}


def _layer(folder: Path, data: dict, name: str = "toy.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plugin paths are relative to the project root, where the command runs."""
    monkeypatch.chdir(REPO)


def _toy(**family: object) -> dict:
    out = yaml.safe_load(yaml.safe_dump(TOY))
    out["families"]["toy"]["train"].update(family)
    return out


def test_registries_see_the_plugins(in_repo: None) -> None:
    load_plugins({"plugins": PLUGINS})
    assert "colour_shift" in model_names() and "toy_stills" in kind_names()
    kind = get_kind("toy_stills")
    assert kind.preparer().__name__ == "prepare_toy" and kind.synth.__name__ == "write_toy"
    assert plugin_files({"plugins": PLUGINS}) == [Path(p) for p in PLUGINS]
    load_plugins({"plugins": PLUGINS})  # a second load finds the modules: nothing registers twice


def test_params_naming_plugins_validate(in_repo: None, tmp_path: Path) -> None:
    params = load_params([REPO / "params.yaml", REPO / "config/smoke.yaml", _layer(tmp_path, TOY)])
    (run,) = resolve_runs(params)
    assert run.key == "toy/ann2bob-baseline-s0"
    assert settings_from_dict(run.settings).model == "colour_shift"


@pytest.mark.parametrize(
    ("change", "key", "choice"),
    [
        ({"model": "nope"}, "families.toy.train.model", "colour_shift"),
        ({"netG": "nope"}, "families.toy.train.netG", "resnet_6blocks"),
    ],
)
def test_unknown_registry_names_fail_with_the_choices(
    in_repo: None, tmp_path: Path, change: dict, key: str, choice: str
) -> None:
    layer = _layer(tmp_path, _toy(**change))
    with pytest.raises(ConfigError) as err:
        load_params([REPO / "params.yaml", REPO / "config/smoke.yaml", layer])
    assert f"{layer}: {key}: 'nope' is not one of " in str(err.value) and choice in str(err.value)


def test_unknown_dataset_kind_and_family_fail_with_the_choices(in_repo: None, tmp_path: Path) -> None:
    data = _toy()
    data["datasets"]["toys"]["kind"] = "toys"
    data["run_families"] = ["toy", "ghost"]
    layer = _layer(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_params([REPO / "params.yaml", REPO / "config/smoke.yaml", layer])
    assert f"{layer}: datasets.toys.kind: 'toys' is not one of " in str(err.value)
    assert "toy_stills" in str(err.value) and "person_videos" in str(err.value)
    assert f"{layer}: run_families.1: 'ghost' is not one of " in str(err.value)


def test_a_missing_or_broken_plugin_is_one_line(in_repo: None, tmp_path: Path) -> None:
    with pytest.raises(
        PluginError, match=r"^plugin 'tests/plugins/nope\.py': file not found in .* project root\)$"
    ):
        load_plugins({"plugins": ["tests/plugins/nope.py"]})
    broken = tmp_path / "broken.py"
    broken.write_text("import faceoff.no_such_module\n")
    with pytest.raises(PluginError, match=r"failed to import: ModuleNotFoundError") as err:
        load_plugins({"plugins": [str(broken)]})
    assert "\n" not in str(err.value)
    with pytest.raises(PluginError, match="no such module"):
        plugin_files({"plugins": ["faceoff_no_such_plugin"]})


def test_toy_kind_and_model_run_in_process(in_repo: None, tmp_path: Path) -> None:
    """The toy kind renders, validates and prepares; the toy model trains and translates."""
    load_plugins({"plugins": PLUGINS})
    kind = get_kind("toy_stills")
    kind.synth(tmp_path / "raw", SynthSpec(items=["ann", "bob"], n_frames=8, size=64, seed=0))
    assert kind.validate(tmp_path / "raw") == {"items": {"ann": 8, "bob": 8}}
    assert kind.missing(tmp_path / "raw", ["ann", "cid"]) == [f"{tmp_path / 'raw' / 'cid'}: no <k>.png image"]
    data = {}
    for item in ("ann", "bob"):
        report = prepare_item(
            "toy_stills", tmp_path / "raw", item, tmp_path / item, {"size": 40}, progress=False
        )
        assert report["split"] == {"train": 6, "test": 2}
        data[item] = load_split(tmp_path / item, "train")
    settings = settings_from_dict(
        {"model": "colour_shift", "crop_size": 32, "steps": 3, "steps_decay": 0, "lr": 0.05}
    )
    info = train_model(settings, data, ("ann", "bob"), tmp_path / "run", seed=0, progress=False)
    assert info["steps"] == 3
    translator = load_translator(tmp_path / "run" / "model.pt")
    frames = data["ann"].frames[:2, :32, :32]
    out = translator.translate("AB", frames)
    assert out.shape == frames.shape and out.dtype == np.uint8 and not np.array_equal(out, frames)


@pytest.mark.slow
def test_plugins_run_through_snakemake_and_dvc(tmp_path: Path) -> None:
    """The toy family's table through Snakemake, then through `dvc repro` of the dvc.yaml that
    `faceoff dvc-yaml` writes: the same metrics, byte for byte."""
    snake = copy_workflow(tmp_path / "snakemake")
    shutil.copytree(REPO / "tests" / "plugins", snake / "tests" / "plugins")
    layer = _layer(snake / "config", TOY)
    table = f"{SMOKE}/tables/toy.csv"
    run(
        [
            str(BIN / "snakemake"),
            "--cores",
            "2",
            "--configfile",
            "config/smoke.yaml",
            str(layer),
            "--",
            table,
        ],
        snake,
    )
    metrics = sorted(p.relative_to(snake) for p in (snake / SMOKE / "evaluate" / "toy").rglob("metrics.json"))
    assert [p.parent.name for p in metrics] == ["ann2bob-baseline-s0", "ann2bob-copy"]
    assert (snake / SMOKE / "train" / "toy" / "ann2bob-baseline-s0" / "model.pt").is_file()

    dvc = copy_workflow(tmp_path / "dvc")
    shutil.copytree(REPO / "tests" / "plugins", dvc / "tests" / "plugins")
    # Merged without loading: this process has the repository's copies of the plugins already.
    merged = merge(merge(read_yaml(dvc / "params.yaml"), read_yaml(dvc / "config/smoke.yaml")), TOY)
    (dvc / "params.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
    run(["git", "init", "-q"], dvc)
    run([str(BIN / "dvc"), "init", "-q"], dvc)
    run([str(BIN / "faceoff"), "-c", "params.yaml", "dvc-yaml", "-o", "dvc.yaml"], dvc)
    run([str(BIN / "faceoff"), "-c", "params.yaml", "synth", "--dataset", "toys"], dvc)
    run([str(BIN / "dvc"), "repro", "table_toy"], dvc)  # the table and what it reads, as above
    assert (dvc / table).is_file()
    for rel in metrics:
        assert (dvc / rel).read_bytes() == (snake / rel).read_bytes(), rel
