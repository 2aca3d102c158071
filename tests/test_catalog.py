"""The files the Snakemake workflow catalog reads: usage, the configuration guide, the rule graph."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from faceoff.config.load import schema

REPO = Path(__file__).resolve().parents[1]


def _keys(node: dict, root: dict) -> set[str]:
    """The names of every property anywhere in the schema."""
    found: set[str] = set()
    for name, child in node.get("properties", {}).items():
        found.add(name)
        found |= _keys(child, root)
    for child in node.get("definitions", {}).values():
        found |= _keys(child, root)
    return found


def test_config_readme_is_generated_from_the_schema() -> None:
    committed = (REPO / "config" / "README.md").read_text()
    # Generated in a process of its own: plugins other tests load would add their names here.
    page = subprocess.run(
        [sys.executable, "-m", "faceoff.config.docs"], capture_output=True, text=True, check=True
    ).stdout
    assert committed == page, (
        "config/README.md is stale: run `python -m faceoff.config.docs config/README.md`"
    )
    rows = [line.split(" | ") for line in committed.splitlines() if line.startswith("| `")]
    documented = {row[0].split("`")[1].rsplit(".", 1)[-1] for row in rows}
    # Blocks documented once for several names (the families) list the names as the key's values.
    documented |= {name for row in rows if row[0].endswith(">`") for name in row[1].split("`")[1::2]}
    root = schema()
    assert _keys(root, root) <= documented, _keys(root, root) - documented


def test_catalog_usage_names_the_demo_and_the_report() -> None:
    usage = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert usage["report"] is True and usage["software-stack-deployment"]["conda"] is True
    assert "--configfile config/demo.yaml" in usage["mandatory-flags"]["flags"]
    svg = (REPO / "docs" / "rulegraph.svg").read_text()
    assert "<svg" in svg and all(f">{rule}<" in svg for rule in ("prepare", "train", "evaluate", "report"))
