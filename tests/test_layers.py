"""The package's layers import downward only (see src/faceoff/__init__.py)."""

from __future__ import annotations

import ast

from .conftest import REPO

# Lowest first; a module may import its own layer and the ones before it.
LAYERS = [
    "io",
    "config",
    "synth",
    "datasets",
    "faces",
    "prepare",
    "nets",
    "losses",
    "train",
    "apply",
    "plots",
    "evaluate",
    "report",
    "bench",
    "steps",
    "warmstart",
    "cli",
]
PACKAGE = REPO / "src" / "faceoff"


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "faceoff" or len(parts) < 2:
        return None
    return parts[1]


def test_layers_import_downward_only() -> None:
    rank = {name: i for i, name in enumerate(LAYERS)}
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        own = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        if own not in rank:
            continue  # __init__.py, __main__.py
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                target = _layer(name)
                if target in rank and rank[target] > rank[own]:
                    violations.append(f"{rel}:{node.lineno} ({own}) imports {name} ({target})")
    assert not violations, "upward imports:\n" + "\n".join(violations)
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} <= set(LAYERS) | {
        "schemas"
    }
