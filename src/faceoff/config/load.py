"""Load params.yaml and its overrides, deep-merge them, and validate against the JSON schema.

Errors name the offending key and the file that set it, because "params invalid" alone sends
the user hunting through several YAML files.

Names that a registry owns (models, generators, dataset kinds, detectors...) are not enumerated
in the schema: the key says ``x-registry: module:names``, and :func:`validate` checks the value
against ``names`` of that module once the params' plugins are imported, so a plugin's names
validate like the built-in ones. Like a plugin, the registry module is named by data, so this
layer never imports the layers above it; the built-in names are cached per digest of the
package's sources (:mod:`faceoff.config.registry_cache`), so most processes import none of it.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from faceoff.config.plugins import load_plugins, plugins_loaded
from faceoff.config.registry_cache import cached_registry_names, registry_names
from faceoff.errors import FaceoffError


class ConfigError(FaceoffError, ValueError):
    """Invalid parameters; the message names the key and the file."""


def not_one_of(value: Any, choices: Iterable[str]) -> str:
    """The message of a name outside a registry, worded as the schema words an enum."""
    return f"{value!r} is not one of {', '.join(choices)}"


def schema() -> dict[str, Any]:
    """The params JSON schema (src/faceoff/schemas/params.schema.yaml, shipped with the package)."""
    text = resources.files("faceoff").joinpath("schemas/params.schema.yaml").read_text()
    return _parse(text)


def _parse(text: str) -> Any:
    """YAML's safe loader, with libyaml's C parser where PyYAML has it: every command reads the
    parameter layers and the schema, ~8x as fast as with the pure-Python parser."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into ``base``: mappings merge, everything else replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: parameter file not found")
    try:
        data = _parse(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def load_params(paths: Sequence[str | os.PathLike[str]]) -> dict[str, Any]:
    """Merge the files in order (later ones override) and validate the result."""
    if not paths:
        raise ConfigError("no parameter file given")
    layers = [(Path(p), read_yaml(p)) for p in paths]
    merged: dict[str, Any] = {}
    for _, data in layers:
        merged = merge(merged, data)
    validate(merged, layers)
    return merged


def validate(params: Mapping[str, Any], layers: Sequence[tuple[Path, Mapping[str, Any]]] = ()) -> None:
    """Check ``params`` against the schema, then import its plugins and check the cross-references
    and registry names the schema cannot express."""
    root = schema()
    errors = sorted(jsonschema.Draft7Validator(root).iter_errors(params), key=lambda e: list(e.absolute_path))
    messages = [_describe(err, layers) for err in errors]
    messages += _check_references(params, layers)
    if not errors:  # the plugins key is well-formed: import them, then their names are known
        load_plugins(params)
        uses = list(_registry_values(root, params, [], root))
        registries = {registry for _, registry, _ in uses}
        # Without plugins the names are the package's own: cached per digest of its sources.
        if plugins_loaded():
            known = {registry: registry_names(registry) for registry in registries}
        else:
            known = cached_registry_names(registries)
        for path, registry, value in uses:
            names = known[registry]
            if value not in names:
                messages.append(f"{_origin(path, layers)}: {'.'.join(path)}: {not_one_of(value, names)}")
    if messages:
        raise ConfigError("invalid parameters:\n  " + "\n  ".join(messages))


def _registry_values(
    node: Mapping[str, Any], value: Any, path: list[str], root: Mapping[str, Any]
) -> Iterator[tuple[list[str], str, Any]]:
    """(key path, registry, value) of every key of ``value`` whose schema ``node`` names a registry."""
    while "$ref" in node:
        target: Any = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    if "x-registry" in node:
        yield path, node["x-registry"], value
    elif isinstance(value, Mapping):
        extra = node.get("additionalProperties")
        for key, child in value.items():
            sub = node.get("properties", {}).get(key, extra)
            if isinstance(sub, Mapping):
                yield from _registry_values(sub, child, [*path, str(key)], root)
    elif isinstance(value, list) and isinstance(node.get("items"), Mapping):
        for k, item in enumerate(value):
            yield from _registry_values(node["items"], item, [*path, str(k)], root)


def _describe(err: jsonschema.ValidationError, layers: Sequence[tuple[Path, Mapping[str, Any]]]) -> str:
    path = [str(p) for p in err.absolute_path]
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        path = path + extra[:1]
        detail = f"unknown key {extra[0]!r}" if extra else err.message
    elif err.validator == "required":
        detail = err.message
    else:
        detail = err.message
    key = ".".join(path) or "<top level>"
    return f"{_origin(path, layers)}: {key}: {detail}"


def _origin(path: Sequence[str], layers: Sequence[tuple[Path, Mapping[str, Any]]]) -> str:
    """The last file that sets ``path`` (or its nearest existing parent)."""
    for depth in range(len(path), -1, -1):
        for file, data in reversed(layers):
            if _has(data, path[:depth]):
                return str(file)
    return str(layers[0][0]) if layers else "<params>"


def _has(data: Any, path: Sequence[str]) -> bool:
    for part in path:
        if isinstance(data, Mapping) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return False
    return True


def _check_references(
    params: Mapping[str, Any], layers: Sequence[tuple[Path, Mapping[str, Any]]]
) -> list[str]:
    messages = []
    families = params.get("families", {}) or {}
    for k, name in enumerate(params.get("run_families") or []):
        if name not in families:
            path = ["run_families", str(k)]
            messages.append(f"{_origin(path, layers)}: {'.'.join(path)}: {not_one_of(name, families)}")
    datasets = params.get("datasets", {}) or {}
    for name, family in families.items():
        where = ["families", name]
        dataset = datasets.get(family.get("dataset"))
        if dataset is None:
            path = [*where, "dataset"]
            messages.append(
                f"{_origin(path, layers)}: {'.'.join(path)}: unknown dataset {family.get('dataset')!r} "
                f"(defined: {', '.join(sorted(datasets))})"
            )
            continue
        from faceoff.config.runs import split_pair

        for pair in family.get("pairs", []):
            try:
                split_pair(pair, dataset.get("items", []))
            except ConfigError as exc:
                path = [*where, "pairs"]
                messages.append(
                    f"{_origin(path, layers)}: {'.'.join(path)}: {exc} of dataset {family['dataset']!r}"
                )
        named = [("run", v) for v in family.get("run", [])]
        named += [("loss_figure", v) for v in family.get("loss_figure", [])]
        named += [("figure_variants", v) for v in family.get("figure_variants", [])]
        named += [(f"tables.{t}", v) for t, vs in (family.get("tables") or {}).items() for v in vs]
        for k, claim in enumerate(family.get("claims") or []):
            for role in ("variant", "baseline") if isinstance(claim, Mapping) else ():
                names = claim.get(role, [])
                for v in [names] if isinstance(names, str) else names:
                    if not (role == "baseline" and v == "copy"):  # the copy-input baseline
                        named.append((f"claims.{k}.{role}", v))
        for key, variant in named:
            if variant not in family.get("variants", {}):
                path = [*where, *key.split(".")]
                messages.append(
                    f"{_origin(path, layers)}: {'.'.join(path)}: variant {variant!r} is not defined in "
                    f"{'.'.join([*where, 'variants'])}"
                )
    return messages
