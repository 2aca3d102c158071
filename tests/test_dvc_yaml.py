"""dvc.yaml is generated from the parameters (`faceoff dvc-yaml`), never edited by hand.

The committed file is what params.yaml gives; a family added to the parameters is its stages
with no code edit; plugin files are code of every stage; `--check` catches a stale file.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from faceoff.cli import main
from faceoff.config import load_params, provenance
from faceoff.config.dvc import render
from faceoff.train import get_model

REPO = Path(__file__).resolve().parents[1]
REGENERATE = "faceoff -c params.yaml dvc-yaml"


def _render(params: Mapping[str, Any]) -> str:
    return render(params, lambda model: get_model(model).stepper.losses)


def _stages(root: Path, text: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """DVC's resolved stages of ``text`` on ``params``: name -> (cmd, deps, params keys, outs)."""
    from dvc.repo import Repo

    root.mkdir(parents=True, exist_ok=True)
    (root / "dvc.yaml").write_text(text)
    (root / "params.yaml").write_text(yaml.safe_dump(dict(params), sort_keys=False))
    Repo.init(str(root), no_scm=True)
    with Repo(str(root)) as repo:
        return {
            stage.addressing.rsplit(":", 1)[-1]: (
                stage.cmd,
                [d.def_path for d in stage.deps if not getattr(d, "params", None)],
                [key for d in stage.deps for key in getattr(d, "params", None) or []],
                [(o.def_path, o.use_cache) for o in stage.outs],
            )
            for stage in repo.index.stages
        }


def test_committed_dvc_yaml_is_what_params_yaml_gives() -> None:
    params = load_params([REPO / "params.yaml"])
    assert (REPO / "dvc.yaml").read_text() == _render(params), f"dvc.yaml is stale: run `{REGENERATE}`"


def test_a_family_added_to_the_parameters_is_its_stages(tmp_path: Path) -> None:
    """A copy of the expression study under a new name (the classifier included) gets the same
    stages, plots and provenance, renamed; the other studies' stages do not change."""
    params = load_params([REPO / "params.yaml"])
    grown = copy.deepcopy(params)
    grown["families"]["mood"] = copy.deepcopy(params["families"]["expression"])
    before, after = (
        _stages(tmp_path / "before", _render(params), params),
        _stages(tmp_path / "after", _render(grown), grown),
    )
    added = {name: stage for name, stage in after.items() if name not in before}
    renamed = {
        name.replace("expression", "mood"): yaml.safe_load(
            yaml.safe_dump(stage).replace("expression", "mood")
        )
        for name, stage in before.items()
        if "_expression" in name
    }
    runs = 4 * 3  # variants x seeds
    assert set(added) == set(renamed) and len(added) == runs + 1 + runs + 1 + 2  # train, classifier, ...
    assert {name: json.loads(json.dumps(stage)) for name, stage in added.items()} == renamed
    # The claims ledger's stage is every family's: it reads the new family's claims too.
    assert after.pop("claims")[2] == [*before.pop("claims")[2], "families.mood.claims"]
    assert {name: after[name] for name in before} == before
    plots = {name for entry in yaml.safe_load(_render(grown))["plots"] for name in entry}
    assert {"mood generator loss", "mood discriminator loss"} <= plots


def test_run_families_and_video_datasets_decide_the_stages() -> None:
    """Only the active families (and the datasets they use) have stages; only a family trained on
    videos is pasted back into whole frames (apply)."""
    params = load_params([REPO / "params.yaml"])
    params["run_families"] = ["swap", "portrait"]
    stages = set(yaml.safe_load(_render(params))["stages"])
    assert {name for name in stages if name.startswith("prepare_")} == {"prepare_portraits", "prepare_ffpp"}
    assert {name for name in stages if name.startswith("apply_")} == {"apply_swap"}
    assert not any("faceoff" in name or "expression" in name for name in stages)


def test_plugin_files_are_code_of_every_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plugins").mkdir()
    # A plugin registering, say, a model imports the package's code: it becomes every step's code.
    (tmp_path / "plugins/toy.py").write_text("from faceoff.report import html\n")
    params = load_params([REPO / "params.yaml"])
    params["plugins"] = ["plugins/toy.py"]
    stages = yaml.safe_load(_render(params))["stages"]
    for name, stage in stages.items():
        deps = (stage.get("do") or stage)["deps"]
        assert "plugins/toy.py" in deps and f"{provenance.PACKAGE.name}/report" in " ".join(deps), name


def test_check_fails_on_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params, out = str(REPO / "params.yaml"), tmp_path / "dvc.yaml"
    assert main(["-c", params, "dvc-yaml", "-o", str(out)]) == 0
    assert main(["-c", params, "dvc-yaml", "-o", str(out), "--check"]) == 0
    out.write_text(out.read_text().replace("families.faceoff.evaluate\n", "", 1))  # a hand edit
    capsys.readouterr()
    assert main(["-c", params, "dvc-yaml", "-o", str(out), "--check"]) != 0
    assert "stale" in capsys.readouterr().err
