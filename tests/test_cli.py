"""The `faceoff` command: bad input gives one clear message naming the file or key, exit code 2."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import yaml

from faceoff.cli import _parser

from .conftest import REPO


def _faceoff(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faceoff", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _override(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "override.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_lists_runs() -> None:
    proc = _faceoff("-c", "params.yaml", "-c", "config/demo.yaml", "config", "runs")
    assert proc.returncode == 0, proc.stderr
    runs = proc.stdout.split()
    assert len(runs) == 12 + 5 + 4 + 4 + 4 and runs[:3] == [
        "faceoff/A2B-baseline-s0",
        "faceoff/A2B-wgan-s0",
        "faceoff/A2B-wgangp-s0",
    ]
    pairs = {"faceoff": "A2B", "portrait": "photo2painting", "expression": "HA2NE", "reenact": "1142124"}
    pairs["swap"] = "0712054"  # the demo runs one pair per study
    assert all(
        r.startswith(f"{f}/{pairs[f]}-") and r.endswith("-s0") for r in runs for f in [r.split("/")[0]]
    )


def test_wrong_type_is_named(tmp_path: Path) -> None:
    bad = _override(tmp_path, {"datasets": {"persons": {"prepare": {"size": "big"}}}})
    proc = _faceoff("-c", "params.yaml", "-c", str(bad), "config", "runs")
    assert proc.returncode == 2
    assert f"{bad}: datasets.persons.prepare.size: 'big' is not of type 'integer'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_real_dataset_says_where_to_put_it() -> None:
    proc = _faceoff("-c", "params.yaml", "config", "check")
    assert proc.returncode == 2 and "data/raw/persons: person source folder not found" in proc.stderr


def test_undecodable_video_is_named_and_nothing_is_left(tmp_path: Path) -> None:
    source = tmp_path / "videos"
    source.mkdir()
    (source / "A.mp4").write_bytes(b"\x00garbage" * 100)
    out = tmp_path / "prepared" / "A"
    override = _override(tmp_path, {"datasets": {"persons": {"source": str(source)}}})
    proc = _faceoff(
        "-c",
        "params.yaml",
        "-c",
        str(override),
        "prepare",
        "--dataset",
        "persons",
        "--item",
        "A",
        "--out",
        str(out),
    )
    assert proc.returncode == 2, proc.stderr
    assert str(source / "A.mp4") in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []  # no half-written temp folder


def test_empty_source_folder_is_named(tmp_path: Path) -> None:
    source = tmp_path / "videos"
    (source / "A").mkdir(parents=True)
    override = _override(tmp_path, {"datasets": {"persons": {"source": str(source)}}})
    proc = _faceoff(
        "-c",
        "params.yaml",
        "-c",
        str(override),
        "prepare",
        "--dataset",
        "persons",
        "--item",
        "A",
        "--out",
        str(tmp_path / "out"),
    )
    assert proc.returncode == 2 and str(source / "A") in proc.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_run_and_missing_model(tmp_path: Path) -> None:
    proc = _faceoff("-c", "params.yaml", "train", "--run", "faceoff/A2Z-baseline-s0")
    assert proc.returncode == 2 and "unknown run 'faceoff/A2Z-baseline-s0'" in proc.stderr
    override = _override(tmp_path, {"output_dir": str(tmp_path / "results")})
    proc = _faceoff("-c", "params.yaml", "-c", str(override), "evaluate", "--run", "faceoff/A2B-baseline-s0")
    assert proc.returncode == 2 and "not found" in proc.stderr and "Traceback" not in proc.stderr


def test_config_check_names_runs_whose_settings_cannot_train(tmp_path: Path) -> None:
    ok = _faceoff("-c", "params.yaml", "-c", "config/demo.yaml", "config", "check")
    assert ok.returncode == 0, ok.stderr
    assert "every run's training settings valid" in ok.stdout
    small = _override(tmp_path, {"families": {"faceoff": {"train": {"crop_size": 64}}}})
    bad = _faceoff("-c", "params.yaml", "-c", "config/demo.yaml", "-c", str(small), "config", "check")
    assert bad.returncode == 2
    assert "run faceoff/A2B-d5-s0: crop_size 64 < 96" in bad.stderr
    assert "run faceoff/A2B-double_d-s0: crop_size 64 < 96" in bad.stderr
    assert "A2B-baseline-s0" not in bad.stderr and "A2B-unet-s0" not in bad.stderr  # valid at 64 px


# --- The command line itself: documented, consistent, fast to ask ---


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every (sub)command's parser by its prog, e.g. 'faceoff train'."""
    found = {parser.prog: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _commands(sub)
    return found


def test_every_option_and_command_has_help() -> None:
    commands = _commands(_parser())
    assert {"faceoff train", "faceoff dvc-yaml", "faceoff bench"} <= set(commands)
    undocumented = []
    for prog, parser in commands.items():
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                undocumented += [f"{prog} {a.dest}" for a in action._choices_actions if not a.help]
            elif not isinstance(action, argparse._HelpAction) and not action.help:
                undocumented.append(f"{prog} {'/'.join(action.option_strings) or action.dest}")
        if prog != "faceoff" and not parser.description:
            undocumented.append(f"{prog} (description)")
    assert undocumented == []


def test_an_option_means_one_thing_everywhere() -> None:
    """The same option has the same metavar in every command (``--out`` names a folder for DAG
    steps, a file for apply and dvc-yaml) and ``--threads`` the same help."""
    metavars: dict[str, set[str | None]] = {}
    threads = set()
    for parser in _commands(_parser()).values():
        for action in parser._actions:
            for option in action.option_strings:
                if option != "--out" and not isinstance(action, argparse._HelpAction):
                    metavars.setdefault(option, set()).add(str(action.metavar))
            if "--threads" in action.option_strings:
                threads.add(action.help)
    assert {k: v for k, v in metavars.items() if len(v) > 1} == {}
    assert metavars["--run"] == {"FAMILY/RUN"} and metavars["--family"] == {"FAMILY"}
    assert metavars["--dataset"] == {"DATASET"} and metavars["--item"] == {"ITEM"}
    assert len(threads) == 1 and "--families" not in metavars and "--models" in metavars


def test_help_imports_no_torch() -> None:
    """`faceoff --help` and every `faceoff COMMAND --help` answer without importing torch (or the
    numeric stack), the machine-independent form of "help in well under a second"."""
    code = """
import contextlib, io, sys
from faceoff.cli import _parser, main

commands = [[]] + [[c] for c in _parser()._subparsers._group_actions[0].choices]
for argv in commands:
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):
        main([*argv, "--help"])
    assert "usage: faceoff" in out.getvalue(), argv
heavy = ("torch", "numpy", "cv2", "pandas", "matplotlib", "faceoff.bench.measure")
print(len(commands), sorted(set(heavy) & set(sys.modules)))
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(len(_commands(_parser()))), "[]"]


def test_unknown_dataset_kind_lists_the_registered_ones(tmp_path: Path) -> None:
    """`faceoff ingest` takes its kinds from the dataset registry (plugins included), not a hand list."""
    proc = _faceoff("-c", "params.yaml", "ingest", "nosuch", str(tmp_path), "--dest", str(tmp_path / "d"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "unknown dataset kind 'nosuch'" in proc.stderr and "person_videos" in proc.stderr


def test_only_trivial_rules_run_locally() -> None:
    """Training, evaluation, style transfer, video work and figures (which translate) go to the
    cluster; only the report (HTML from finished files) runs on the submitting host."""
    blocks = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    local = set()
    for path in blocks:
        for names in re.findall(r"^localrules:((?:[ \t]*\w+,?)*(?:\n[ \t]+\w+,?)*)", path.read_text(), re.M):
            local |= set(re.findall(r"\w+", names))
    assert local == {"report"}
