"""Progress everywhere: a bar on a terminal, a log line with rate and ETA at least every 30 s in logs."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import tqdm.std

from faceoff.evaluate.run import evaluate_pair
from faceoff.io import progress
from faceoff.io.progress import LogBar, progress_bar
from faceoff.train import load_translator, train_model
from faceoff.train.nst import NSTSettings

from .conftest import REPO
from .test_expression import faces
from .test_train import make_split, settings

FACEOFF = [sys.executable, "-m", "faceoff", "-c", "params.yaml", "-c", "config/smoke.yaml"]
# "desc: n/total unit (p%) in mm:ss, R unit/s, S s/unit, ETA mm:ss"
LINE = re.compile(
    r"(?P<desc>.+): (?P<n>\d+)/(?P<total>\d+) (?P<unit>\w+) \(\d+%\) in \d\d:\d\d, "
    r"(?P<rate>[\d.]+)(?P=unit)/s, [\d.]+s/(?P=unit), ETA (?P<eta>\d\d:\d\d)"
)


class FakeClock:
    """tqdm's clock, advanced by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(tqdm.std, "time", fake)
    return fake


@pytest.fixture
def in_a_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """stderr is a log file, as under Snakemake, SLURM or DVC."""
    monkeypatch.setattr(progress, "on_terminal", lambda: False)
    monkeypatch.delenv(progress.ENV_INTERVAL, raising=False)


def progress_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "faceoff.progress"]


@pytest.mark.parametrize("seconds_per_step", [0.5, 3.0, 9.0])
def test_log_lines_come_at_least_every_30_seconds_with_rate_and_eta(
    seconds_per_step: float, clock: FakeClock, in_a_log: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="faceoff.progress")
    total = int(600 / seconds_per_step)  # ten minutes of steps, whatever a checkpoint interval
    with progress_bar(total=total, desc="train A2B", unit="step") as bar:
        assert isinstance(bar, LogBar)
        times = [clock.now]  # the time of each line
        for _ in range(total):
            clock.now += seconds_per_step
            bar.update()
            if len(caplog.records) > len(times):
                times.append(clock.now)
    lines = progress_lines(caplog)
    assert lines[0].startswith(f"train A2B: 0/{total} step (0%)")  # says it started
    gaps = np.diff(times)
    assert gaps.max() <= 30 and gaps.min() >= progress.DEFAULT_INTERVAL
    assert len(lines) - len(times) in (0, 1)  # the start, one per interval, a closing one unless just logged
    middle = LINE.fullmatch(lines[len(lines) // 2])
    assert middle, lines[len(lines) // 2]
    assert float(middle["rate"]) == pytest.approx(1 / seconds_per_step, rel=0.01)
    minutes, seconds = map(int, middle["eta"].split(":"))
    remaining = (total - int(middle["n"])) * seconds_per_step
    assert abs(60 * minutes + seconds - remaining) <= 1
    assert LINE.fullmatch(lines[-1])["n"] == str(total)


def test_interval_is_set_by_the_environment(
    clock: FakeClock, in_a_log: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="faceoff.progress")
    monkeypatch.setenv(progress.ENV_INTERVAL, "5")
    for _ in progress_bar(range(60), desc="synth", unit="frame"):
        clock.now += 1
    assert len(progress_lines(caplog)) == 1 + 60 // 5
    monkeypatch.setenv(progress.ENV_INTERVAL, "soon")
    assert progress.log_interval() == progress.DEFAULT_INTERVAL


def test_postfix_and_unknown_total_and_silence(
    clock: FakeClock, in_a_log: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="faceoff.progress")
    with progress_bar(desc="decode", unit="frame") as bar:
        bar.set_postfix_str("A")  # waits for the next line: no line of its own
        assert len(progress_lines(caplog)) == 1
        clock.now += 25
        bar.update(50)
    assert progress_lines(caplog)[1] == "decode: 50 frame in 00:25, 2.00frame/s, 0.50s/frame, A"
    caplog.clear()
    for _ in progress_bar(range(3), desc="off", enabled=False):
        clock.now += 100
    with progress_bar(total=3, desc="inner", nested=True) as bar:  # short inner loops add no lines
        bar.update(3)
    assert progress_lines(caplog) == []
    with progress_bar(total=3, desc="long inner", nested=True) as bar:
        clock.now += 25
        bar.update()
    assert [line.split(":")[0] for line in progress_lines(caplog)] == ["long inner"]


def test_a_terminal_gets_a_tqdm_bar(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(progress, "on_terminal", lambda: True)
    with progress_bar(total=4, desc="figure faceoff", unit="run") as bar:
        assert type(bar) is tqdm.std.tqdm
        bar.update(4)
    err = capsys.readouterr().err
    assert "\r" in err and "figure faceoff: 100%" in err and "4/4" in err


def run_logged(tmp_path: Path, name: str, *args: str) -> list[str]:
    """Run ``faceoff <args>`` with stderr redirected to a file, as Snakemake runs it; its progress lines."""
    log_file = tmp_path / f"{name}.log"
    env = {**os.environ, progress.ENV_INTERVAL: "0.2", "OMP_NUM_THREADS": "1"}
    with log_file.open("w") as stderr:
        subprocess.run([*FACEOFF, *args], cwd=REPO, env=env, stderr=stderr, check=True, timeout=300)
    text = log_file.read_text()
    assert "\r" not in text and "█" not in text  # no bar drawn into a log
    return [
        line.split("faceoff.progress: ", 1)[1] for line in text.splitlines() if "faceoff.progress" in line
    ]


def test_synth_and_prepare_log_progress_to_their_log_files(tmp_path: Path) -> None:
    raw = tmp_path / "persons"
    lines = run_logged(tmp_path, "synth", "synth", "--dataset", "persons", "--out", str(raw))
    assert lines[0] == "synth person videos: 0/160 frame (0%) in 00:00, ?frame/s, ?s/frame, ETA ?"
    matches = [LINE.match(line) for line in lines[1:]]
    assert all(matches), lines
    assert matches[-1]["n"] == "160" and len(matches) >= 2

    override = tmp_path / "raw.yaml"
    override.write_text(f"datasets: {{persons: {{source: {raw}}}}}\n")
    out = str(tmp_path / "prepared")
    lines = run_logged(
        tmp_path,
        "prepare",
        "-c",
        str(override),
        "prepare",
        "--dataset",
        "persons",
        "--item",
        "A",
        "--out",
        out,
    )
    for desc in ("prepare A: detect", "prepare A: crop"):  # both passes, each with its total and an ETA
        last = [m for line in lines if (m := LINE.match(line)) and m["desc"] == desc][-1]
        assert last["n"] == last["total"] == "40", lines


def test_training_logs_progress_whatever_the_checkpoint_interval(
    tmp_path: Path, in_a_log: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="faceoff.progress")
    monkeypatch.setenv(progress.ENV_INTERVAL, "0")  # a line at every step
    data = {"A": make_split(hue=0, seed=1), "B": make_split(hue=160, seed=2)}
    s = settings(steps=3, steps_decay=2, log_every=2, checkpoint_every=100)
    train_model(s, data, ("A", "B"), tmp_path / "run", seed=0)
    lines = [LINE.match(line) for line in progress_lines(caplog) if line.startswith("train run:")]
    assert [m["n"] for m in lines[1:]] == ["1", "2", "3", "4", "5"]
    assert all(m and m["unit"] == "step" for m in lines[1:])


def test_style_transfer_evaluation_says_what_it_does(
    tmp_path: Path, in_a_log: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """NST optimises every frame at translation: the evaluation log says so, and counts it."""
    data = {"NE": faces("NE", 4, 36), "HA": faces("HA", 4, 36, seed=1)}
    s = NSTSettings.from_dict({"crop_size": 32, "iterations": 3, "n_style": 2, "feature_net": "dlib_resnet"})
    train_model(s, data, ("NE", "HA"), tmp_path / "nst", seed=0, progress=False)
    translate = load_translator(tmp_path / "nst" / "model.pt").translate
    monkeypatch.setenv(progress.ENV_INTERVAL, "0")
    caplog.set_level(logging.INFO)
    torch.manual_seed(0)
    evaluate_pair(
        translate,
        data["NE"],
        data["HA"],
        tmp_path / "eval",
        embed=lambda images, points: np.ones((len(images), 128), np.float32),
        landmarks=lambda image: None,
        names=("NE", "HA"),
        crop_size=32,
        max_frames=2,
        video_frames=2,
    )
    messages = [r.getMessage() for r in caplog.records]
    said = [m for m in messages if m.startswith("nst AB:")]
    assert said == [
        "nst AB: optimising each frame's pixels inside its face mask toward B's mean style "
        "(3 adam iterations per frame, content weight 1, style weight 10, feature net dlib_resnet)"
    ]
    assert any(m.startswith("nst BA:") for m in messages)
    optimising = [
        LINE.match(m) for m in messages if m.startswith("nst: optimising 2 frames") and "?" not in m
    ]
    assert optimising and all(m and m["unit"] == "iter" and m["total"] == "3" for m in optimising)
    for desc in ("evaluate A2B: translate", "evaluate A2B: translate back", "evaluate B2A: landmarks"):
        assert any((m := LINE.match(line)) and m["desc"] == desc for line in messages), desc
