"""config/README.md, the page the Snakemake workflow catalog shows as the configuration guide,
written from the params schema so that it documents every key the validator accepts.

``python -m faceoff.config.docs config/README.md`` rewrites it; a test fails when the committed
page differs from what the schema gives.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from faceoff.config.load import schema
from faceoff.config.registry_cache import registry_names

_INTRO = """\
# Configuration

<!-- Generated from src/faceoff/schemas/params.schema.yaml by `python -m faceoff.config.docs
config/README.md`: edit the schema, not this page. -->

The workflow reads `params.yaml` (the paper-scale configuration, at the repository root) and then
every `--configfile` given to Snakemake, merged in order: a later file overrides single keys of an
earlier one. The shipped overrides are `config/demo.yaml` (the embedded synthetic demo,
`results/demo/`) and `config/smoke.yaml` (the smallest run, for the tests, `results/smoke/`):

    snakemake --cores 2 --configfile config/demo.yaml
    faceoff -c params.yaml -c config/demo.yaml config check    # the same merge, checked

Every key below is validated before anything runs: an unknown key or a wrong type is an error
that names the key and the file that set it. A **variant** (`families.<family>.variants.<name>`)
takes the keys of `families.<family>.train` and overrides them for its runs; the defaults of the
training settings are in `src/faceoff/train/settings.py`. Names of models, generators, dataset
kinds and networks are those their registries hold: the values listed are the built-in ones, and
a module named in `plugins` adds its own (docs/CONTRACTS.md, "Adding a model, a dataset kind or
a study").

| key | allowed values | meaning |
|---|---|---|
"""


_PLACEHOLDERS = {
    "datasets": "<dataset>",
    "families": "<family>",
    "variants": "<variant>",
    "tables": "<table>",
}


def _resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """``node`` with its ``$ref`` followed (its own description kept)."""
    if "$ref" not in node:
        return node
    target: Any = root
    for part in node["$ref"].removeprefix("#/").split("/"):
        target = target[part]
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def _allowed(node: Mapping[str, Any]) -> str:
    """The values a key accepts, in a few words."""
    if "x-registry" in node:
        return ", ".join(f"`{v}`" for v in registry_names(node["x-registry"]))
    if "enum" in node:
        return ", ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    if "oneOf" in node:
        return " or ".join(_allowed(option) for option in node["oneOf"])
    kind = node.get("type", "object" if "properties" in node else "")
    kinds = kind if isinstance(kind, list) else [kind]
    text = " or ".join(str(k) for k in kinds if k)
    if "array" in kinds and "items" in node:
        text = f"list of {_allowed(node['items']) or 'values'}"
    bounds = [
        f"{sign} {node[key]}"
        for key, sign in (
            ("minimum", "≥"),
            ("exclusiveMinimum", ">"),
            ("maximum", "≤"),
            ("exclusiveMaximum", "<"),
        )
        if key in node
    ]
    if "pattern" in node:
        bounds.append(f"matching `{node['pattern']}`")
    return ", ".join([text, *bounds]) if bounds else text


def _rows(
    node: Mapping[str, Any], path: str, root: Mapping[str, Any], seen: dict[str, str]
) -> Iterator[tuple[str, str, str]]:
    """One row per key below ``path``; a definition met again (``seen``: $ref -> where it was
    documented) is one row pointing there, and properties that all share one definition (the
    families) are documented once, as ``<name>``."""
    node = _resolve(node, root)
    required = set(node.get("required", ()))
    properties = dict(node.get("properties", {}))
    refs = {child.get("$ref") for child in properties.values()}
    if len(properties) > 1 and len(refs) == 1 and None not in refs:
        names = ", ".join(f"`{name}`" for name in properties)
        key = f"{path}.{_PLACEHOLDERS.get(path.rsplit('.', 1)[-1], '<name>')}"
        yield f"`{key}`", names, "one block per name, each with the keys below"
        yield from _rows(properties.popitem()[1], key, root, seen)
        return
    for name, child in properties.items():
        key = f"{path}.{name}" if path else name
        yield from _child(child, key, root, seen, required=name in required)
    extra = node.get("additionalProperties")
    if isinstance(extra, Mapping):
        key = f"{path}.{_PLACEHOLDERS.get(path.rsplit('.', 1)[-1], '<name>')}"
        yield from _child(extra, key, root, seen)


def _child(
    child: Mapping[str, Any], key: str, root: Mapping[str, Any], seen: dict[str, str], required: bool = False
) -> Iterator[tuple[str, str, str]]:
    ref = child.get("$ref")
    resolved = _resolve(child, root)
    meaning = " ".join(str(resolved.get("description", "")).split())
    if required:
        meaning = f"**required.** {meaning}".strip()
    if ref in seen:
        own = " ".join(str(child.get("description", "")).split())
        yield f"`{key}`", "object", f"{'**required.** ' if required else ''}{own} The keys of `{seen[ref]}`."
        return
    if ref:
        seen[ref] = key
    items = resolved.get("items")
    if isinstance(items, Mapping) and "properties" in _resolve(items, root):  # a list of blocks
        yield f"`{key}`", "list of objects", meaning
        yield from _rows(items, f"{key}[]", root, seen)
        return
    yield f"`{key}`", _allowed(resolved), meaning
    yield from _rows(resolved, key, root, seen)


def _cell(text: str) -> str:
    return text.replace("|", "\\|") or "–"


def config_readme(params_schema: Mapping[str, Any] | None = None) -> str:
    """The page: an introduction and one table row per key of the schema."""
    root = params_schema or schema()
    rows = ["| " + " | ".join(_cell(c) for c in row) + " |" for row in _rows(root, "", root, {})]
    return _INTRO + "\n".join(rows) + "\n"


if __name__ == "__main__":  # a process of its own: the page lists no plugin's names
    text = config_readme()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text)
    else:
        sys.stdout.write(text)
