"""Warm starts (faceoff.warmstart): a command a server runs behaves as it does in a fresh process.

Each test starts its own servers in its own socket folder; the Snakemake builds of the other tests
run warm too (the Snakefile turns it on), and tests/test_dvc_repro.py compares one of them, byte
for byte, with DVC's build of the same stages in fresh processes.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from faceoff import warmstart

from .pipeline import BIN, copy_workflow, env

pytestmark = pytest.mark.skipif(not warmstart.supported(), reason="warm starts need Linux (fork, pidfds)")
SYNTH = ["-c", "params.yaml", "-c", "config/smoke.yaml", "synth", "--dataset", "persons"]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A copy of the project, whose own src/ the commands import (tests.pipeline.env)."""
    return copy_workflow(tmp_path / "work")


@pytest.fixture
def sockets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ws")  # short: a socket path has at most 107 bytes


def _env(work: Path, sockets: Path | None, **extra: str) -> dict[str, str]:
    out = {**env(work), **extra}
    if sockets is not None:
        out.update({warmstart.ENV: "1", warmstart.DIR_ENV: str(sockets), warmstart.IDLE_ENV: "60"})
    return out


def _faceoff(args: list[str], work: Path, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "faceoff"), *args], cwd=work, env=environ, capture_output=True, text=True, timeout=300
    )


def _wait_until(condition: Callable[[], object], timeout: float, failure: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.1)


def _server_up(sockets: Path, timeout: float = 120) -> Path:
    """The one server's log, once it serves (the first command started it in the background)."""
    _wait_until(
        lambda: any("serving" in log.read_text() for log in sockets.glob("*.log")),
        timeout,
        "no warm-start server came up",
    )
    (log,) = sockets.glob("*.log")
    return log


def _served(log: Path) -> list[str]:
    """The commands the server ran, in order."""
    return re.findall(r"pid \d+: faceoff (.*) \(in ", log.read_text())


def test_served_command_writes_what_a_fresh_process_writes(work: Path, sockets: Path) -> None:
    fresh = _faceoff([*SYNTH, "--out", "fresh"], work, _env(work, None))
    assert fresh.returncode == 0, fresh.stderr
    assert list(sockets.iterdir()) == []  # off unless asked for
    first = _faceoff([*SYNTH, "--out", "first"], work, _env(work, sockets))  # starts the server
    log = _server_up(sockets)
    served = _faceoff([*SYNTH, "--out", "served"], work, _env(work, sockets))
    assert (first.returncode, served.returncode) == (0, 0), served.stderr
    assert _served(log) == [" ".join([*SYNTH, "--out", "served"])]
    files = sorted(p.relative_to(work / "fresh") for p in (work / "fresh").rglob("*") if p.is_file())
    assert len(files) >= 3  # each person's video and its metadata
    for out in ("first", "served"):
        assert sorted(p.relative_to(work / out) for p in (work / out).rglob("*") if p.is_file()) == files
        assert all((work / out / f).read_bytes() == (work / "fresh" / f).read_bytes() for f in files), out


def test_errors_and_exit_status_are_the_commands(work: Path, sockets: Path) -> None:
    _faceoff(["--version"], work, _env(work, sockets))
    log = _server_up(sockets)
    for args in (["-c", "params.yaml", "train", "--run", "faceoff/A2B-nosuchvariant-s0"], ["nosuchstep"]):
        fresh = _faceoff(args, work, _env(work, None))
        served = _faceoff(args, work, _env(work, sockets))
        assert fresh.returncode == 2 and "error" in fresh.stderr
        for stream in ("returncode", "stdout", "stderr"):
            assert getattr(served, stream) == getattr(fresh, stream), stream
    assert len(_served(log)) == 2


def test_edited_package_source_is_what_runs(work: Path, sockets: Path) -> None:
    """Only third-party libraries are pre-imported: the faceoff package comes from disk each time."""
    _faceoff(["--version"], work, _env(work, sockets))
    log = _server_up(sockets)
    assert _faceoff(["--version"], work, _env(work, sockets)).stdout.split() == ["faceoff", "0.1.0"]
    init = work / "src/faceoff/__init__.py"
    init.write_text(init.read_text().replace('__version__ = "0.1.0"', '__version__ = "9.9.9"'))
    assert _faceoff(["--version"], work, _env(work, sockets)).stdout.split() == ["faceoff", "9.9.9"]
    assert len(_served(log)) == 2  # both by the same server


def test_environment_selects_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a child inherits from its server (thread counts read at import, paths) keys the server."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    one = warmstart.server_key()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert warmstart.server_key() != one
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert warmstart.server_key() == one
    monkeypatch.setenv("DVC_STAGE", "prepare_persons@A")  # per command: the child gets it anyway
    assert warmstart.server_key() == one


def test_off_in_a_cluster_job(work: Path, sockets: Path) -> None:
    """A SLURM job runs one step per allocation: a server would cost its imports and never serve."""
    done = _faceoff(["--version"], work, _env(work, sockets, SLURM_JOB_ID="42"))
    assert done.stdout.split() == ["faceoff", "0.1.0"] and list(sockets.iterdir()) == []


def test_command_runs_in_its_own_environment(work: Path, sockets: Path) -> None:
    """DVC names each stage in DVC_STAGE: one server serves them all, each in its own environment
    (a plugin the parameters name records the value the step sees)."""
    (work / "record_stage.py").write_text(
        "import os, pathlib\npathlib.Path('stage.txt').write_text(os.environ.get('DVC_STAGE', ''))\n"
    )
    (work / "config/record.yaml").write_text("plugins: [record_stage.py]\n")
    show = ["-c", "params.yaml", "-c", "config/record.yaml", "config", "show"]
    _faceoff(show, work, _env(work, sockets, DVC_STAGE="first"))
    log = _server_up(sockets)
    for stage in ("train_faceoff@A2B-baseline-0", "evaluate_faceoff@A2B-baseline-0"):
        served = _faceoff(show, work, _env(work, sockets, DVC_STAGE=stage))
        assert served.returncode == 0, served.stderr
        assert (work / "stage.txt").read_text() == stage
    assert len(_served(log)) == 2 and len(list(sockets.glob("*.log"))) == 1


def _child_of(log: Path, timeout: float = 120) -> int:
    def started() -> list[str]:
        return re.findall(r"pid (\d+): faceoff bench", log.read_text())

    _wait_until(started, timeout, "the server did not start the command")
    return int(started()[0])


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


# How `faceoff bench` ends, in a fresh process, on each signal: by the signal, or (Ctrl-C) with the
# KeyboardInterrupt's traceback and status 1.
ENDS = {signal.SIGTERM: -signal.SIGTERM, signal.SIGKILL: -signal.SIGKILL, signal.SIGINT: 1}


@pytest.mark.parametrize("how", list(ENDS))
def test_stopping_the_command_stops_its_step(work: Path, sockets: Path, how: signal.Signals) -> None:
    """Ctrl-C and SIGTERM (Snakemake stopping a job) reach the step; a command killed outright
    takes it along. Either way the command ends as a fresh one does."""
    _faceoff(["--version"], work, _env(work, sockets))
    log = _server_up(sockets)
    bench = ["bench", "--models", "cyclegan", "--sizes", "32", "--ngf", "4", "--ndf", "4"]
    bench += ["--steps", "100000"]
    proc = subprocess.Popen(
        [str(BIN / "faceoff"), *bench],
        cwd=work,
        env=_env(work, sockets),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    child = _child_of(log)
    assert _alive(child)
    os.kill(proc.pid, how)
    assert proc.wait(timeout=60) == ENDS[how]
    _wait_until(lambda: not _alive(child), 30, f"the step (pid {child}) outlived its command")
    expected = -signal.SIGKILL if how == signal.SIGKILL else ENDS[how]  # killed by the server
    assert re.search(rf"pid {child} exited {int(expected)}\n", log.read_text())
