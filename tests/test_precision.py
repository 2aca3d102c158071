"""Precision is a recorded, compared setting: resolved per machine, stored, checked on resume, tabulated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
import yaml

from faceoff.cli import main
from faceoff.config import load_params, resolve_runs
from faceoff.datasets.prepared import PreparedSplit, save_split
from faceoff.errors import FaceoffError
from faceoff.evaluate.table import build_table, summary_table, to_markdown, variant_table
from faceoff.io.atomic import read_json, write_json
from faceoff.train import SettingsError
from faceoff.train import runtime as runtime_module
from faceoff.train.checkpoint import PrecisionMismatchError
from faceoff.train.runtime import resolve_precision
from tests.test_train import make_split, settings, train_cyclegan

ROOT = Path(__file__).resolve().parents[1]
# What each configuration states for every run: the studies trained in float32; the demo trains
# in bf16 where the CPU computes it natively and in fp32 elsewhere (emulated bf16 is slower).
CONFIGS = {
    "paper": (["params.yaml"], "fp32"),
    "demo": (["params.yaml", "config/demo.yaml"], "auto"),
    "smoke": (["params.yaml", "config/smoke.yaml"], "fp32"),
}


@pytest.fixture(scope="module")
def pair() -> tuple[PreparedSplit, PreparedSplit]:
    return make_split(hue=0, seed=1), make_split(hue=160, seed=2)


def on_machine(monkeypatch: pytest.MonkeyPatch, native: str) -> None:
    """Act as a machine on which ``precision: auto`` resolves to ``native`` (explicit values stay)."""
    resolve = runtime_module.resolve_precision
    monkeypatch.setattr(
        runtime_module, "resolve_precision", lambda p, device: native if p == "auto" else resolve(p, device)
    )


def first_half(
    tmp_path: Path, pair: tuple[PreparedSplit, PreparedSplit], monkeypatch: pytest.MonkeyPatch, native: str
) -> Path:
    """Five of six steps of a ``precision: auto`` run on a machine where auto means ``native``."""
    with monkeypatch.context() as m:
        on_machine(m, native)
        train_cyclegan(
            settings(steps=5, steps_decay=1, precision="auto"), *pair, tmp_path, seed=0, stop_after=5
        )
    return tmp_path / "ckpt" / "last.pt"


def test_auto_resolves_per_device_and_explicit_values_stay(monkeypatch: pytest.MonkeyPatch) -> None:
    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(runtime_module, "_cpu_has_bf16", lambda native=native: native)
        assert resolve_precision("auto", "cpu") == expected
        assert [resolve_precision(p, "cpu") for p in ("fp32", "bf16", "fp16")] == ["fp32", "bf16", "fp16"]
    with pytest.raises(SettingsError, match="precision='fp64' is not one of fp32, bf16, fp16, auto"):
        settings(precision="fp64")


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_checkpoint_and_train_json_record_the_resolved_precision(
    tmp_path: Path, pair: tuple[PreparedSplit, PreparedSplit], precision: str
) -> None:
    train_cyclegan(settings(steps=2, steps_decay=0, precision=precision), *pair, tmp_path, seed=0)
    assert torch.load(tmp_path / "ckpt" / "last.pt", weights_only=True)["precision"] == precision
    assert read_json(tmp_path / "train.json")["precision"] == precision


def test_auto_records_what_it_resolved_to(
    tmp_path: Path, pair: tuple[PreparedSplit, PreparedSplit], monkeypatch: pytest.MonkeyPatch
) -> None:
    ckpt = first_half(tmp_path, pair, monkeypatch, "bf16")
    state = torch.load(ckpt, weights_only=True)
    assert state["precision"] == "bf16" and state["settings"]["precision"] == "auto"
    on_machine(monkeypatch, "bf16")
    result = train_cyclegan(settings(steps=5, steps_decay=1, precision="auto"), *pair, tmp_path, seed=0)
    assert result["resumed_from"] == 5 and result["precision"] == "bf16"


@pytest.mark.parametrize(("recorded", "current"), [("bf16", "fp32"), ("fp32", "bf16"), ("bf16", "fp16")])
def test_resume_in_another_precision_stops_with_what_to_do(
    tmp_path: Path,
    pair: tuple[PreparedSplit, PreparedSplit],
    monkeypatch: pytest.MonkeyPatch,
    recorded: str,
    current: str,
) -> None:
    """The same ``auto`` run continued on a machine where auto means something else stops, before
    any state (an fp16 grad scaler's included) is loaded; the checkpoint is left as it was."""
    ckpt = first_half(tmp_path, pair, monkeypatch, recorded)
    before = ckpt.read_bytes()
    on_machine(monkeypatch, current)
    loaded: list[Any] = []
    monkeypatch.setattr(torch.amp.GradScaler, "load_state_dict", lambda self, state: loaded.append(state))
    with pytest.raises(PrecisionMismatchError) as caught:
        train_cyclegan(settings(steps=5, steps_decay=1, precision="auto"), *pair, tmp_path, seed=0)
    message = str(caught.value)
    assert message.startswith(f"{ckpt}: checkpoint trained in {recorded}, ")
    assert f"precision ('auto') resolves to {current} here" in message
    assert f"set `precision: {recorded}`" in message and f"again in {current}, delete {ckpt}" in message
    assert isinstance(caught.value, FaceoffError) and "\n" not in message  # one line for the command
    assert loaded == [] and ckpt.read_bytes() == before and not (tmp_path / "train.json").exists()
    # Following the message: the recorded precision, set explicitly, continues the run.
    monkeypatch.undo()
    result = train_cyclegan(settings(steps=5, steps_decay=1, precision=recorded), *pair, tmp_path, seed=0)
    assert result["resumed_from"] == 5 and result["precision"] == recorded


def test_the_command_stops_a_mismatched_resume_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`faceoff train` of an `auto` run trained in bf16 elsewhere, here where auto means fp32."""
    out = tmp_path / "out"
    override = tmp_path / "auto.yaml"
    families = {"faceoff": {"pairs": ["A2B"], "train": {"precision": "auto", "crop_size": 32}}}
    override.write_text(yaml.safe_dump({"output_dir": str(out), "families": families}))
    for item, hue in (("A", 0), ("B", 160)):
        save_split(out / "prepared" / "persons" / item, "train", make_split(size=40, hue=hue, seed=hue))
    configs = ["-c", str(ROOT / "params.yaml"), "-c", str(ROOT / "config/smoke.yaml"), "-c", str(override)]
    argv = [*configs, "train", "--run", "faceoff/A2B-baseline-s0"]
    with monkeypatch.context() as m:
        on_machine(m, "bf16")
        assert main(argv) == 0
    capsys.readouterr()
    on_machine(monkeypatch, "fp32")
    assert main(argv) == 2
    err = capsys.readouterr().err
    ckpt = out / "train" / "faceoff" / "A2B-baseline-s0" / "ckpt" / "last.pt"
    assert f"faceoff: error: {ckpt}: checkpoint trained in bf16, " in err and "Traceback" not in err
    assert read_json(ckpt.parent.parent / "train.json")["precision"] == "bf16"  # the bf16 run's record stays


def test_a_changed_precision_setting_is_another_run(
    tmp_path: Path, pair: tuple[PreparedSplit, PreparedSplit]
) -> None:
    """Asking for another precision is a changed setting like any other: trained from scratch."""
    train_cyclegan(settings(steps=5, steps_decay=1), *pair, tmp_path, seed=0, stop_after=5)
    result = train_cyclegan(settings(steps=5, steps_decay=1, precision="bf16"), *pair, tmp_path, seed=0)
    assert result["resumed_from"] == 0 and result["precision"] == "bf16"
    assert torch.load(tmp_path / "ckpt" / "last.pt", weights_only=True)["precision"] == "bf16"


def test_every_table_has_a_precision_column(
    tmp_path: Path, pair: tuple[PreparedSplit, PreparedSplit]
) -> None:
    """Runs in two precisions and the copy-input baseline, tabulated as `faceoff table` does."""
    metrics, extra = {}, {}
    for variant, precision in (("base", "fp32"), ("fast", "bf16")):
        run = f"A2B-{variant}-s0"
        info = train_cyclegan(
            settings(steps=1, steps_decay=0, precision=precision), *pair, tmp_path / run, seed=0
        )
        metrics[run] = tmp_path / run / "metrics.json"
        write_json(metrics[run], {"names": {"A": "A", "B": "B"}, "l1_gt": 0.1, "n_frames": 4})
        extra[run] = {
            **read_json(tmp_path / run / "train.json"),
            "pair": "A2B",
            "variant": variant,
            "seed": 0,
        }
        assert info["precision"] == precision
    metrics["A2B-copy"] = tmp_path / "copy.json"
    write_json(metrics["A2B-copy"], {"names": {"A": "A", "B": "B"}, "copy_input": True, "l1_gt": 0.3})
    extra["A2B-copy"] = {"pair": "A2B", "variant": "copy input"}

    df = build_table(metrics, extra)
    assert list(df.columns[:5]) == ["run", "pair", "variant", "seed", "precision"]
    assert df["precision"].tolist()[:2] == ["fp32", "bf16"]
    assert "| fp32 " in to_markdown(df) and "| bf16 " in to_markdown(df)
    assert pd.isna(df.loc[df["variant"] == "copy input", "precision"]).all()
    summary = summary_table(df).set_index("variant")
    assert summary.loc["base", "precision"] == "fp32" and summary.loc["fast", "precision"] == "bf16"
    assert pd.isna(summary.loc["copy input", "precision"])
    sweep = variant_table(df, {"base": {"precision": "fp32"}, "fast": {"precision": "bf16"}}, ["precision"])
    assert sweep["precision"].tolist() == ["fp32", "bf16"]  # the resolved column, not the setting
    # Runs of one variant on two machines: the summary says so instead of averaging silently.
    mixed = df.assign(variant=["base", "base", "copy input"])
    assert summary_table(mixed).set_index("variant").loc["base", "precision"] == "bf16, fp32"


@pytest.mark.parametrize("config", CONFIGS)
def test_configurations_state_one_precision_for_every_run(config: str) -> None:
    """Every run and classifier of a configuration states its precision, one for all of them, so
    that no variant's number differs from its siblings' by arithmetic alone."""
    files, expected = CONFIGS[config]
    params = load_params([ROOT / f for f in files])
    for run in resolve_runs(params):
        assert run.settings.get("precision") == expected, run.key
    for name, family in params["families"].items():
        if "classifier" in family:
            assert family["classifier"].get("precision") == expected, name
