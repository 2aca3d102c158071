"""The names the built-in registries hold, cached on disk under a digest of the package's sources.

Validating parameters checks every registry name they use (models, generators, dataset kinds,
detectors, metrics ...), and a registry knows its names only once every module that registers
one is imported: torch, torchvision, dlib, matplotlib and pandas come with them, about 4 s on a
2-core machine. Every ``faceoff`` step and every parse of the Snakefile validates, so a DAG of a
hundred jobs paid those seconds a hundred times over for names that never changed. The names are
a function of the package's sources alone, so they are stored under a digest of every module of
the package: editing any module (a model added, a kind removed) changes the digest and the names
are read again by importing. Plugins' names come from files outside the package, so a process
that loaded a plugin never reads or writes the cache (see :func:`faceoff.config.load.validate`).

The same holds for the few facts about registered entries that planning a DAG reads (each
model's data and evaluation kind, a run's validated settings: :mod:`faceoff.train.registry`),
so the Snakefile is parsed without importing torch (:func:`registry_facts`).

The cache lives in ``$FACEOFF_CACHE_DIR``, else ``$XDG_CACHE_HOME/faceoff``, else
``~/.cache/faceoff``; a cache that cannot be written is only a slower start.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from faceoff.config.plugins import plugins_loaded

log = logging.getLogger(__name__)

PACKAGE = Path(__file__).resolve().parents[1]  # src/faceoff
CACHE_FILE = "registry.json"


def _attribute(name: str) -> Any:
    """The object ``module:attribute`` names, its module imported."""
    module, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module), attribute)


def registry_names(registry: str) -> list[str]:
    """The names registered in ``registry`` (``module:attribute``, a mapping or a function), imported."""
    names = _attribute(registry)
    return list(names() if callable(names) else names)


def call_registry(function: str, *args: Any) -> Any:
    """What ``module:function(*args)`` returns, imported and called."""
    return _attribute(function)(*args)


def cache_dir() -> Path:
    if os.environ.get("FACEOFF_CACHE_DIR"):
        return Path(os.environ["FACEOFF_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "faceoff"


def source_digest(package: Path = PACKAGE) -> str:
    """sha256 of every module of the package (path and bytes): about 5 ms for its ~900 kB."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def cached_registry_names(registries: Iterable[str]) -> dict[str, list[str]]:
    """``{registry: names}`` for ``registries``: read from the cache when it was written for these
    sources and holds them all, else imported and written back."""
    return _cached("names", registries, registry_names)


def registry_facts(function: str, *args: Any) -> Any:
    """What ``module:function(*args)`` returns (JSON arguments and value): from the cache unless
    this process loaded a plugin, whose entries the package's sources do not decide. An exception
    is raised, not stored."""
    if plugins_loaded():
        return call_registry(function, *args)
    key = f"{function}{json.dumps(args, sort_keys=True)}" if args else function
    return _cached("facts", [key], lambda _: call_registry(function, *args))[key]


def _cached(section: str, keys: Iterable[str], compute: Callable[[str], Any]) -> dict[str, Any]:
    """``{key: value}`` from the cache's ``section`` when it was written for these sources and
    holds every key, else computed and written back."""
    wanted = sorted(set(keys))
    digest = source_digest()
    path = cache_dir() / CACHE_FILE
    stored = _read(path)
    if stored.get("digest") != digest:
        stored = {"digest": digest}
    values = stored.get(section, {})
    if all(k in values for k in wanted):
        return {k: values[k] for k in wanted}
    values = {**values, **{k: compute(k) for k in wanted if k not in values}}
    _write(path, {**stored, section: values})
    return {k: values[k] for k in wanted}


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict) -> None:
    """Write atomically (parallel jobs read it), and shrug off a cache that cannot be written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("registry-name cache not written (%s): %s", path, exc)
        with contextlib.suppress(OSError):
            tmp.unlink()
