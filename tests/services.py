"""Real services for the tests: a one-node SLURM cluster, an HTTP server and an sshd on this machine.

The cluster runs Debian's slurmctld + slurmd with munge, a generated slurm.conf and a fake GPU
(gres on /dev/null) so that training jobs really request `--gpus`. Snakemake's job-step plugin
strips SLURM_CONF before its nested `srun`, so the config must sit at the default path
/etc/slurm/slurm.conf; we write it there (setting aside a configuration no live cluster serves)
and restore what was there afterwards.

The HTTP server (Python's own http.server) serves a folder read-only: it answers GET and HEAD
only, as a static web server in front of a published DVC remote does. The sshd runs as the
current user from a private sshd_config with generated host and client keys, on a free port, so
the system's SSH configuration is never touched.

Locally the tests skip with the reason when a service is not installed or (SLURM) we are not root;
CI sets FACEOFF_REQUIRE_SERVICES=1, which turns that skip into a failure.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

MARKER = "# written by faceoff tests/services.py"
CONF_DIR = Path("/etc/slurm")
PARTITION = "faceoff"


def require_or_skip(reason: str) -> None:
    if os.environ.get("FACEOFF_REQUIRE_SERVICES") == "1":
        pytest.fail(f"FACEOFF_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def _slurm_missing() -> str | None:
    for binary in ("slurmctld", "slurmd", "munged", "sbatch", "squeue", "scontrol"):
        if shutil.which(binary) is None and not Path(f"/usr/sbin/{binary}").exists():
            return (
                f"SLURM is not installed ({binary} not found: "
                "apt-get install slurmctld slurmd munge slurm-client)"
            )
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd/munged needs root"
    return None


def _ok(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _wait(predicate, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise RuntimeError(f"timed out waiting for {what}")


def _start_munge() -> None:
    if _ok(["bash", "-c", "munge -n | unmunge"]):
        return
    run_dir = Path("/run/munge")
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.chown(run_dir, "munge", "munge")
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        subprocess.run(["mungekey", "--create"], check=True)
        shutil.chown(key, "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"], check=True)
    _wait(lambda: _ok(["bash", "-c", "munge -n | unmunge"]), "munged")


def _slurm_conf(state: Path) -> str:
    host = socket.gethostname().split(".")[0]
    memory = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8)
    return f"""{MARKER}
ClusterName=faceofftest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/spool
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=3600
GresTypes=gpu
NodeName={host} CPUs={os.cpu_count()} RealMemory={memory} Gres=gpu:1 State=UNKNOWN
PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


@contextmanager
def slurm_cluster(state: Path) -> Iterator[str]:
    """Start (or reuse) a local cluster; yields the partition name to submit to."""
    missing = _slurm_missing()
    if missing:
        require_or_skip(missing)
    conf = CONF_DIR / "slurm.conf"
    if conf.exists() and MARKER not in conf.read_text() and _ok(["sinfo"]):
        # A live cluster configured by its admin: use it as it is.
        yield subprocess.run(
            ["sinfo", "-h", "-o", "%R"], capture_output=True, text=True, check=True
        ).stdout.split()[0]
        return
    # A configuration nobody serves (left from a hand-made cluster whose daemons are gone) is
    # moved aside for the test and put back afterwards.
    stale = {
        path: path.with_name(path.name + ".faceoff-saved")
        for path in (conf, CONF_DIR / "gres.conf")
        if path.exists() and MARKER not in path.read_text()
    }
    for path, saved in stale.items():
        path.replace(saved)
    try:
        _start_munge()
        for sub in ("ctld", "spool"):
            (state / sub).mkdir(parents=True, exist_ok=True)
        CONF_DIR.mkdir(parents=True, exist_ok=True)
        conf.write_text(_slurm_conf(state))
        (CONF_DIR / "gres.conf").write_text(f"{MARKER}\nName=gpu File=/dev/null\n")
        subprocess.run(["pkill", "-x", "slurmctld"], capture_output=True)
        subprocess.run(["pkill", "-x", "slurmd"], capture_output=True)
        time.sleep(1)
        subprocess.run(["slurmctld", "-c"], check=True)
        subprocess.run(["slurmd", "-c"], check=True)
        _wait(
            lambda: "idle" in subprocess.run(["sinfo", "-h"], capture_output=True, text=True).stdout,
            "node idle",
        )
        yield PARTITION
    finally:
        subprocess.run(["pkill", "-x", "slurmd"], capture_output=True)
        subprocess.run(["pkill", "-x", "slurmctld"], capture_output=True)
        for name in ("slurm.conf", "gres.conf"):
            path = CONF_DIR / name
            if path.exists() and MARKER in path.read_text():
                path.unlink()
        for path, saved in stale.items():
            saved.replace(path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def _serving(cmd: list[str], port: int, log: Path, what: str) -> Iterator[None]:
    """Run a server until the block ends; its log (requests, errors) is written to ``log``."""
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait(lambda: proc.poll() is None and _listening(port), what)
        except RuntimeError as err:
            proc.kill()
            raise RuntimeError(f"{err}:\n{log.read_text()[-3000:]}") from None
        try:
            yield
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@contextmanager
def http_server(folder: Path, log: Path) -> Iterator[str]:
    """Serve ``folder`` read-only over HTTP on localhost; yields its URL. ``log`` gets one line
    per request (method, path, status)."""
    port = _free_port()
    cmd = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(folder)]
    with _serving(cmd, port, log, "http.server"):
        yield f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class SshLogin:
    """What a client needs to log in: no password, only the generated key."""

    user: str
    port: int
    keyfile: Path

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path.resolve()}"


def _sshd_missing() -> str | None:
    if not Path("/usr/sbin/sshd").exists() or shutil.which("ssh-keygen") is None:
        return "OpenSSH is not installed (apt-get install openssh-server openssh-client)"
    return None


@contextmanager
def ssh_server(state: Path) -> Iterator[SshLogin]:
    """Start a private sshd on localhost that accepts one generated key for the current user."""
    missing = _sshd_missing()
    if missing:
        require_or_skip(missing)
    state.mkdir(parents=True, exist_ok=True)
    host_key, client_key = state / "host_ed25519", state / "client_ed25519"
    for key in (host_key, client_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    authorized = state / "authorized_keys"
    shutil.copy(client_key.with_suffix(".pub"), authorized)
    authorized.chmod(0o600)
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    port = _free_port()
    config = state / "sshd_config"
    config.write_text(
        f"""Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {state}/sshd.pid
AuthorizedKeysFile {authorized}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
"""
    )
    # -D: stay in the foreground (so the test owns the process); -e: log to stderr.
    with _serving(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], port, state / "sshd.log", "sshd"):
        yield SshLogin(user=getpass.getuser(), port=port, keyfile=client_key)
