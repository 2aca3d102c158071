"""Warm starts: local ``faceoff`` steps forked from a process that has already imported torch & co.

A DAG step spends most of a small job importing libraries: on a 2-core CPU a smoke evaluation is
8.3 s in a fresh process and 2.7 s forked from a parent that imported them (torch, torch._dynamo,
torchvision, torchmetrics, OpenCV, dlib, matplotlib, pandas ...), so a hundred-job DAG paid
minutes of imports. With ``FACEOFF_WARM_START=1`` in its environment (the Snakefile sets it for
local runs; DVC stages run warm where the environment sets it; never in a SLURM job), a
``faceoff`` command hands its arguments, working folder and standard streams to a server over a
Unix socket; the server forks, and the child runs the command exactly as a fresh process would:

- **Only third-party libraries are pre-imported** (:data:`WARM_MODULES`): every ``faceoff`` module
  is imported from disk in the child, so an edited source file is always what runs.
- **One server per environment**: the socket's name is a digest of the interpreter, ``sys.path``,
  the interpreter's flags, the umask, the environment variables (threads, backends, paths; not
  the per-command :data:`PER_COMMAND_ENV`) and the installed files of the pre-imported libraries;
  a command whose digest differs (a job with other thread counts, a reinstalled torch) gets its
  own server. The child runs in its command's own environment. The first command of a digest
  starts the server in the background and runs in its own process meanwhile; a server exits
  after ``FACEOFF_WARM_START_IDLE`` seconds (default 30) with nothing to run.
- The child gets the command's stdin, stdout and stderr (its log file under Snakemake), its
  exit status is the command's, and a signal to the command (Ctrl-C, Snakemake stopping a job) is
  passed on to it; a command killed outright takes its child with it. Every step run is logged in
  the server's log beside its socket (``faceoff-<uid>/<digest>.log`` in the temporary folder, or
  ``$FACEOFF_WARM_START_DIR``).
- Linux only (fork after the imports, file descriptors over the socket, pidfds); the server
  refuses to serve if importing left a thread running (forking one is unsafe). Anywhere it cannot
  run, a command simply runs in its own process (a server that could not serve leaves
  ``<digest>.unusable`` beside its log, and its commands stop trying; delete it to try again).

tests/test_warmstart.py checks the outputs and errors against fresh processes; the DVC build of
tests/test_dvc_repro.py (fresh processes) must equal the Snakemake build (warm), byte for byte.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import hashlib
import importlib
import importlib.util
import io
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ENV = "FACEOFF_WARM_START"  # "1": use a server; a served child sees "served"
IDLE_ENV = "FACEOFF_WARM_START_IDLE"
DIR_ENV = "FACEOFF_WARM_START_DIR"
DEFAULT_IDLE_S = 30.0
# What the steps import that costs seconds; none of it starts a thread on import (checked).
WARM_MODULES = (
    "numpy",
    "yaml",
    "torch",
    "torch._dynamo",  # torch.optim's first optimiser imports it (2 s)
    "torchvision",
    "torchmetrics.image.kid",  # torchmetrics imports all its metrics at once
    "cv2",
    "dlib",
    "av",
    "imageio",
    "matplotlib.pyplot",
    "pandas",
    "scipy.signal",
    "skimage",
    "pytorch_msssim",
    "dvclive",
    "tqdm",
)
# Set per command by the tools that run faceoff and read by none of the pre-imported libraries on
# import: a child gets its command's value (the request carries the environment), and they do not
# choose the server (DVC names every stage in DVC_STAGE: a server per stage would serve nothing).
PER_COMMAND_ENV = ("DVC_STAGE",)
_STREAMS = (0, 1, 2)
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # passed on to the step
_MAX_SOCKET_PATH = 108  # sockaddr_un.sun_path on Linux, with its terminating NUL


def supported() -> bool:
    return sys.platform == "linux" and hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")


def runtime_dir() -> Path:
    if os.environ.get(DIR_ENV):
        return Path(os.environ[DIR_ENV])
    return Path(tempfile.gettempdir()) / f"faceoff-{os.getuid()}"


def server_key() -> str:
    """The digest of everything a forked child inherits from its server instead of its command."""
    umask = os.umask(0)
    os.umask(umask)
    installed = []
    for name in sorted({m.partition(".")[0] for m in WARM_MODULES}):
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec and spec.origin else None
        stat = os.stat(origin) if origin and os.path.exists(origin) else None
        installed.append([name, origin, stat and stat.st_mtime_ns, stat and stat.st_size])
    state = {
        "executable": sys.executable,
        "path": sys.path,
        "flags": list(sys.flags),
        "umask": umask,
        "env": sorted((k, v) for k, v in os.environ.items() if k not in PER_COMMAND_ENV),
        "installed": installed,
        "server": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:16]


def run_warm(argv: Sequence[str]) -> int | None:
    """Run ``faceoff argv`` in a warm server; None where it did not start there (run it here)."""
    if os.environ.get(ENV) != "1" or "SLURM_JOB_ID" in os.environ or not supported():
        return None  # off, or a cluster job: one step per allocation, a server would never pay
    if threading.current_thread() is not threading.main_thread():
        return None  # signals can be passed on only from the main thread
    directory = runtime_dir()
    key = server_key()
    base = directory / key
    if len(f"{base}.sock".encode()) >= _MAX_SOCKET_PATH or not _private_dir(directory):
        return None
    if Path(f"{base}.unusable").exists():  # a server of this key found it cannot serve here
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(f"{base}.sock")
    except OSError:
        conn.close()
        _start_server(directory, key)
        return None
    with conn:
        return _request(conn, argv, directory / f"{key}.log")


def _private_dir(directory: Path) -> bool:
    """The socket folder, created private; one another user could write to is never used."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.stat()
    except OSError:
        return False
    return info.st_uid == os.getuid() and not info.st_mode & 0o077


def _start_server(directory: Path, key: str) -> None:
    """Start the server of ``key`` in the background unless one holds its lock (starting or up)."""
    lock_path = directory / f"{key}.lock"
    with open(lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        fcntl.flock(lock, fcntl.LOCK_UN)
    boot = f"import sys; sys.path[:] = {sys.path!r}; from faceoff.warmstart import serve; serve(sys.argv[1])"
    with open(directory / f"{key}.log", "a") as log:
        subprocess.Popen(
            [sys.executable, *subprocess._args_from_interpreter_flags(), "-c", boot, str(directory / key)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )


def _request(conn: socket.socket, argv: Sequence[str], log: Path) -> int | None:
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    request = {"argv": list(argv), "cwd": os.getcwd(), "env": dict(os.environ)}
    header = json.dumps(request).encode() + b"\n"
    child: list[int] = []  # the step's pid, once the server reports it
    pending: list[int] = []  # signals that came before it

    def forward(signum: int, frame: object) -> None:
        if child:
            _kill(child[0], signum)
        else:
            pending.append(signum)

    handlers = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    started: list[str] = []
    ended: list[str] = []
    try:
        with contextlib.ExitStack() as stack:
            fds = [_usable_fd(fd, stack) for fd in _STREAMS]
            socket.send_fds(conn, [header], fds)
        lines = conn.makefile("r")
        started = lines.readline().split()
        if started[:1] == ["started"]:
            child.append(int(started[1]))
            for signum in pending:
                _kill(child[0], signum)
            ended = lines.readline().split()
    except OSError:  # the server went away: before the step started, it runs here
        pass
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    if started[:1] != ["started"]:  # the step never started: it runs here, signalled as it was
        for signum in pending:
            os.kill(os.getpid(), signum)
        return None
    if ended[:1] != ["exit"]:
        print(f"faceoff: error: the warm-start server ended while the step ran (see {log})", file=sys.stderr)
        return 1
    code = int(ended[1])
    if code < 0:  # killed by a signal: end the same way, so the caller sees what a fresh process shows
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


def _usable_fd(fd: int, stack: contextlib.ExitStack) -> int:
    """``fd`` if open, else /dev/null (a command started with a closed stream)."""
    try:
        os.fstat(fd)
        return fd
    except OSError:
        return stack.enter_context(open(os.devnull, "r+")).fileno()


def _kill(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def serve(base: str) -> None:
    """The server of ``<base>.sock`` (see the module docstring); returns when idle or unable."""
    with open(f"{base}.lock", "a") as lock:  # held for the server's life: a second one exits
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        _serve_locked(base)


def _serve_locked(base: str) -> None:
    sock_path = Path(f"{base}.sock")
    started = time.monotonic()
    with contextlib.suppress(FileNotFoundError):
        sock_path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(sock_path))  # before the imports: a folder without sockets fails at once
        for name in WARM_MODULES:
            try:
                importlib.import_module(name)
            except Exception as exc:  # not installed, or broken: the steps meet it as before
                _log(f"not pre-imported: {name} ({type(exc).__name__}: {exc})")
        threads = len(os.listdir("/proc/self/task"))
        if threads != 1:
            raise OSError(f"{threads} threads after the imports (forking them is unsafe)")
        listener.listen(64)
    except OSError as exc:  # commands of this key run in their own processes from now on
        _log(f"cannot serve: {exc}")
        Path(f"{base}.unusable").write_text(f"{exc}\n")
        listener.close()
        return
    _log(f"serving {sock_path}, started in {os.getcwd()} (imports took {time.monotonic() - started:.1f} s)")
    try:
        _loop(listener, float(os.environ.get(IDLE_ENV, DEFAULT_IDLE_S)))
    finally:
        with contextlib.suppress(FileNotFoundError):
            sock_path.unlink()
        listener.close()


def _loop(listener: socket.socket, idle_s: float) -> None:
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, ("accept", None))
    clients: dict[int, socket.socket] = {}  # child pid -> its command's connection
    last = time.monotonic()
    while clients or time.monotonic() - last < idle_s:
        for key, _ in selector.select(timeout=1.0):
            kind, pid = key.data
            last = time.monotonic()
            if kind == "accept":
                conn = listener.accept()[0]
                try:
                    pid, pidfd = _fork_step(conn, listener, selector)
                except (OSError, ValueError) as exc:  # the command runs in its own process
                    _log(f"request not served: {exc}")
                    conn.close()
                    continue
                selector.register(pidfd, selectors.EVENT_READ, ("exit", pid))
                selector.register(conn, selectors.EVENT_READ, ("client", pid))
                clients[pid] = conn
            elif kind == "exit":  # the child ended: its status to its command
                selector.unregister(key.fileobj)
                os.close(key.fd)
                code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                _log(f"pid {pid} exited {code}")
                conn = clients.pop(pid)
                with contextlib.suppress(OSError):
                    conn.sendall(f"exit {code}\n".encode())
                with contextlib.suppress(KeyError, ValueError):
                    selector.unregister(conn)
                conn.close()
            elif kind == "client" and not _recv(key.fileobj):  # the command is gone: so is its step
                selector.unregister(key.fileobj)
                _log(f"pid {pid}: its command went away; killed")
                _kill(pid, signal.SIGKILL)


def _recv(conn: socket.socket) -> bytes:
    try:
        return conn.recv(64)
    except OSError:
        return b""


def _fork_step(
    conn: socket.socket, listener: socket.socket, selector: selectors.BaseSelector
) -> tuple[int, int]:
    """Read a command's request from ``conn`` and fork its child; returns its pid and pidfd.

    Before the child is reported started, nothing is lost by failing: the command runs itself."""
    conn.settimeout(10)
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, len(_STREAMS))
    try:
        while not data.endswith(b"\n"):
            chunk = conn.recv(1 << 16)
            if not chunk:
                raise ValueError("incomplete request")
            data += chunk
        request = json.loads(data)
        if len(fds) != len(_STREAMS):
            raise ValueError("the request did not carry the command's streams")
        # The signals a command forwards wait, blocked, until the child has its own handlers: one
        # received before Python's after-fork reset in the child would be dropped by it.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)
        try:
            pid = os.fork()
            if pid == 0:  # the child: never returns
                selector.close()
                listener.close()
                conn.close()
                _run_child(request, fds, mask)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    finally:
        for fd in fds:
            os.close(fd)
    try:
        pidfd = os.pidfd_open(pid)
        conn.sendall(f"started {pid}\n".encode())
    except OSError:
        _kill(pid, signal.SIGKILL)  # unwatched or unreported: it must not run
        os.waitpid(pid, 0)
        raise
    _log(f"pid {pid}: faceoff {' '.join(request['argv'])} (in {request['cwd']})")
    return pid, pidfd


def _run_child(request: dict[str, Any], fds: list[int], mask: set[signal.Signals]) -> None:
    """Become the command: its streams, folder, environment and arguments, the faceoff package
    fresh from disk; end as a fresh process would (an uncaught exception: its traceback, status 1).
    ``mask`` is the signal mask to restore once the command's handlers are in place."""
    code = 1
    try:
        _die_with_parent()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a signal forwarded meanwhile arrives now
        for target, fd in zip(_STREAMS, fds, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding=sys.stdin.encoding)
        sys.stdout = _text_stream(1, line_buffering=os.isatty(1))
        sys.stderr = _text_stream(2, line_buffering=True, errors="backslashreplace")
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"], **{ENV: "served"})
        for name in [m for m in sys.modules if m == "faceoff" or m.startswith("faceoff.")]:
            del sys.modules[name]
        sys.argv = ["faceoff", *request["argv"]]
        code = _exit_code(importlib.import_module("faceoff.cli").main, request["argv"])
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        os._exit(code)


def _exit_code(main: Callable[[list[str]], int | None], argv: list[str]) -> int:
    """What ``sys.exit(main(argv))`` makes the process's exit status, as Python computes it."""
    try:
        result: object = main(argv)
    except SystemExit as exc:
        result = exc.code
    if result is None or isinstance(result, int):
        return result or 0
    print(result, file=sys.stderr)
    return 1


def _text_stream(fd: int, line_buffering: bool, errors: str = "strict") -> io.TextIOWrapper:
    return io.TextIOWrapper(
        io.FileIO(fd, "w", closefd=False),
        encoding=sys.stdout.encoding,
        errors=errors,
        line_buffering=line_buffering,
    )


def _die_with_parent() -> None:
    """SIGKILL the child if the server dies (prctl PR_SET_PDEATHSIG), so no step runs unwatched."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)


def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} [{os.getpid()}] {message}", file=sys.stderr, flush=True)
