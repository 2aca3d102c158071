"""What each step of the DAG reads, so that both workflow tools rerun it exactly when that changes.

Two kinds of input: :func:`param_keys` names the parameter blocks a step reads, :func:`code`
the parts of this package its command runs, derived from the imports of its handler in
steps.py (never listed by hand, so a new import cannot be missed). Snakemake turns them into
rule ``params`` (:func:`params_digest`, :func:`code_digest`), which its params rerun trigger
compares with the last run; dvc.yaml, written by :mod:`faceoff.config.dvc` from the same
functions, lists the same keys under ``params`` and the same paths under ``deps``.

Blocks are whole: any key a later change adds inside ``families.<f>.train`` (or any other
block) reruns its readers without touching this file.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from faceoff.config.runs import active_families

PACKAGE = Path(__file__).resolve().parents[1]  # src/faceoff

# Step kind -> the function of steps.py that runs it.
HANDLERS: dict[str, str] = {
    "synth": "synth",
    "prepare": "prepare",
    "train": "train",
    "train_classifier": "train",
    "evaluate": "evaluate",
    "evaluate_copy": "evaluate",
    "apply": "apply_eval",
    "table": "table",
    "figure": "figure",
    "claims": "claims",
    "report": "report",
}
STEPS = tuple(HANDLERS)

# What every command runs before its handler: ``python -m faceoff`` and the command line. Their
# own functions are not followed: cli.py imports faceoff.bench only to describe `faceoff bench`'s
# options, which no step's result depends on.
_ENTRY = ("__init__.py", "__main__.py", "cli.py", "steps.py")


def code(step: str, plugins: tuple[Path, ...] = (), package: Path = PACKAGE) -> tuple[str, ...]:
    """The files and folders of ``package`` (src/faceoff) that ``step``'s command imports, sorted.

    Followed: the module-level imports of the entry files and of steps.py, those of the step's
    handler and of the steps.py functions it calls, those of the ``plugins`` files (the
    parameters' ``plugins``, which every command imports), then everything each folder reached
    imports anywhere (any of its modules may load; a folder is the unit of change). Strings naming
    a faceoff module count as imports (registries that load their entries by name); imports under
    ``if TYPE_CHECKING:`` do not. Not followed either: the registries that validating the
    parameters looks names up in (the schema's ``x-registry``): they only check names, and a step
    that uses a name imports what it names itself.
    """
    if step not in HANDLERS:
        raise ValueError(f"unknown step {step!r}; steps: {', '.join(STEPS)}")
    trees = {name: _tree(package / name) for name in _ENTRY}
    functions = {node.name: node for node in trees["steps.py"].body if isinstance(node, ast.FunctionDef)}
    used, todo = set(), [HANDLERS[step]]
    while todo:
        name = todo.pop()
        if name in used:
            continue
        used.add(name)
        body = list(ast.walk(functions[name]))
        local = {n.id for n in body if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        todo += [n.id for n in body if isinstance(n, ast.Name) and n.id in functions and n.id not in local]
    roots = [functions[name] for name in used] + [_tree(Path(p)) for p in plugins]
    roots += [node for tree in trees.values() for node in tree.body if not isinstance(node, _DEFINITIONS)]
    units = set(_ENTRY) | _imports(roots, package)
    seen: set[str] = set()
    while units - seen:
        unit = (units - seen).pop()
        seen.add(unit)
        if (package / unit).is_dir():
            units |= _folder_imports(unit, package)
    return tuple(sorted(seen))


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _unit(module: str, package: Path) -> str | None:
    """The file or folder of ``package`` a dotted name lives in (None: not the package's)."""
    parts = module.split(".")
    if parts[0] != package.name:
        return None
    if len(parts) == 1:
        return "__init__.py"
    if (package / parts[1]).is_dir():
        return parts[1]
    return f"{parts[1]}.py" if (package / f"{parts[1]}.py").is_file() else None


def _imports(trees: Iterable[ast.AST], package: Path) -> set[str]:
    """Units named by imports, and by strings naming a module of the package."""
    names = set().union(*(_names(tree) for tree in trees))
    return {unit for name in names if (unit := _unit(name, package))}


def _names(tree: ast.AST) -> set[str]:
    """Dotted names a syntax tree imports, and its strings (registries load modules by name)."""
    names: set[str] = set()
    for node in _walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)
    return names


def _walk(tree: ast.AST) -> Iterator[ast.AST]:
    """``ast.walk`` less the bodies of ``if TYPE_CHECKING:`` (imports for annotations, never run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo += node.orelse
        else:
            todo += ast.iter_child_nodes(node)


def _folder_imports(folder: str, package: Path) -> set[str]:
    names = set().union(*(_file_names(p) for p in sorted((package / folder).rglob("*.py"))))
    return {unit for name in names if (unit := _unit(name, package))}


def _file_names(path: Path) -> frozenset[str]:
    stat = path.stat()
    return _parsed_names(path, stat.st_mtime_ns, stat.st_size)


@cache
def _parsed_names(path: Path, mtime_ns: int, size: int) -> frozenset[str]:
    """:func:`_names` of one version of a source file."""
    return frozenset(_names(_parse(path, mtime_ns, size)))


def _tree(path: Path) -> ast.Module:
    stat = path.stat()
    return _parse(path, stat.st_mtime_ns, stat.st_size)


@cache
def _parse(path: Path, mtime_ns: int, size: int) -> ast.Module:
    """A source file's syntax tree, parsed once per version of the file."""
    return ast.parse(path.read_text())


def param_keys(
    params: Mapping[str, Any],
    step: str,
    *,
    dataset: str | None = None,
    family: str | None = None,
    variant: str | None = None,
) -> list[str]:
    """Dotted keys of the parameter blocks one job of ``step`` reads (those present in ``params``).

    ``dataset`` names the dataset of synth and prepare jobs, ``family`` the family of the others,
    ``variant`` the variant of a train or evaluate job. Keys that only choose which jobs exist
    (items, pairs, run, seeds) are not listed: those jobs are new or gone, not stale. What a step
    reads through another step's files (a table reads train.json) reruns it through that file.
    """
    if step not in HANDLERS:
        raise ValueError(f"unknown step {step!r}; steps: {', '.join(STEPS)}")
    fam = f"families.{family}"
    keys = {
        # The renderer also draws each family's pairs as ground truth (config.groundtruth_pairs).
        "synth": [f"datasets.{dataset}.{key}" for key in ("kind", "items", "synthetic")]
        + [
            f"families.{f}.pairs" for f, spec in active_families(params).items() if spec["dataset"] == dataset
        ],
        # The whole dataset block: kind, source and items locate the raw data, `synthetic` is what
        # it was rendered from (DVC has no synth stage: prepare is what reruns there).
        "prepare": [f"datasets.{dataset}"],
        "train": ["device", f"{fam}.train", f"{fam}.variants.{variant}"],
        "train_classifier": ["device", f"{fam}.classifier"],
        # The crop size and model kind come from the run's settings; the copy baseline's from `train`.
        "evaluate": ["device", f"{fam}.train", f"{fam}.variants.{variant}", f"{fam}.evaluate"],
        "evaluate_copy": ["device", f"{fam}.train", f"{fam}.evaluate"],
        # How many held-out frames to apply (evaluate.max_frames); the crop comes from the run.
        "apply": ["device", f"{fam}.train", f"{fam}.variants.{variant}", f"{fam}.evaluate"],
        "table": [f"{fam}.tables"],
        "figure": [f"{fam}.loss_figure", f"{fam}.figure_variants"],
        # The ledger: every active family's claims (the runs they name are its input files).
        "claims": [f"families.{f}.claims" for f in active_families(params)],
        "report": [],
    }[step]
    return [key for key in keys if _lookup(params, key) is not _MISSING]


def params_digest(params: Mapping[str, Any], step: str, **job: str | None) -> str:
    """Hash of the blocks :func:`param_keys` names: equal exactly when none of them changed."""
    blob = json.dumps({key: _lookup(params, key) for key in param_keys(params, step, **job)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@cache
def code_digest(step: str, plugins: tuple[Path, ...] = (), package: Path = PACKAGE) -> str:
    """Hash of the contents of every file of :func:`code` and of the ``plugins`` files: equal
    exactly when none changed (computed once per process: a Snakemake invocation)."""
    digest = hashlib.sha256()
    for part in code(step, plugins, package):
        root = package / part
        for path in sorted(root.rglob("*")) if root.is_dir() else [root]:
            # Byte code is not code (.dvcignore keeps __pycache__/ out of DVC's hashes too).
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(f"{path.relative_to(package)}\0".encode())
                digest.update(path.read_bytes())
    for path in plugins:
        digest.update(f"{path}\0".encode())
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


_MISSING = object()


def _lookup(params: Mapping[str, Any], key: str) -> Any:
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node
