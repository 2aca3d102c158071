"""Plugins: the Python modules a configuration adds, named by the params ``plugins:`` list.

The built-in registries find their own entries with :func:`import_submodules`: a model,
generator or dataset kind is a module of its package that registers itself on import, so
adding one edits no list. A plugin does the same from outside the package. An entry is a file
(``tests/plugins/toy_model.py``, relative to the project root, where the ``faceoff`` command
and Snakemake run) or an importable module name (``mylab.models``). :func:`load_plugins`
imports them before the parameters are validated, so the names they register are names the
parameters may use; a file is imported once per process however often it is loaded.
:func:`plugin_files` lists the files, which are code every step depends on.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from faceoff.errors import FaceoffError


class PluginError(FaceoffError, ImportError):
    """A plugin that is missing or fails to import; the message names it."""


_SCANNED: set[str] = set()
_LOADED: set[str] = set()  # plugin entries imported by this process


def import_submodules(package: str) -> None:
    """Import every module of ``package`` (once per process), so that each registers what it defines."""
    if package in _SCANNED:
        return
    for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
        importlib.import_module(f"{package}.{module.name}")
    _SCANNED.add(package)


def plugin_entries(params: Mapping[str, Any]) -> list[str]:
    entries = params.get("plugins") or []
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise PluginError(f"plugins: expected a list of file paths or module names, got {entries!r}")
    return entries


def is_file_entry(entry: str) -> bool:
    """A path (``a/b.py``) rather than a module name (``a.b``)."""
    return entry.endswith(".py") or "/" in entry or "\\" in entry


def plugin_files(params: Mapping[str, Any], root: str | Path = ".") -> list[Path]:
    """The files of the plugins ``params`` names (module names resolved without importing them)."""
    files = []
    for entry in plugin_entries(params):
        if is_file_entry(entry):
            files.append(Path(root) / entry)
            continue
        try:
            spec = importlib.util.find_spec(entry)
        except (ImportError, ValueError) as exc:
            raise PluginError(f"plugin {entry!r}: {exc}") from exc
        if spec is None or spec.origin is None:
            raise PluginError(f"plugin {entry!r}: no such module")
        files.append(Path(spec.origin))
    return files


def load_plugins(params: Mapping[str, Any], root: str | Path = ".") -> list[ModuleType]:
    """Import every plugin ``params`` names, in order; a failure is one line naming the plugin."""
    modules = [_load(entry, Path(root)) for entry in plugin_entries(params)]
    _LOADED.update(plugin_entries(params))
    return modules


def plugins_loaded() -> bool:
    """Whether this process imported a plugin: the registries may then hold names of its own."""
    return bool(_LOADED)


def _load(entry: str, root: Path) -> ModuleType:
    if not is_file_entry(entry):
        try:
            return importlib.import_module(entry)
        except Exception as exc:
            raise PluginError(f"plugin {entry!r} failed to import: {type(exc).__name__}: {exc}") from exc
    path = (root / entry).resolve()
    if not path.is_file():
        raise PluginError(
            f"plugin {entry!r}: file not found in {root.resolve()} (paths are relative to the project root)"
        )
    # One module name per file, so a second load finds it in sys.modules instead of registering twice.
    name = "faceoff_plugin_" + re.sub(r"\W", "_", path.as_posix())
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up here
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise PluginError(f"plugin {entry!r} failed to import: {type(exc).__name__}: {exc}") from exc
    return module
