"""The conda environment for clusters pins the same versions as envs/constraints.txt."""

from __future__ import annotations

import re

import yaml

from .conftest import REPO


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)==([^\s;#]+)\s*", line)
        if match:
            pins[match[1].lower().replace("_", "-")] = match[2]
    return pins


def test_conda_env_agrees_with_constraints() -> None:
    constraints = _pins((REPO / "envs/constraints.txt").read_text().splitlines())
    env = yaml.safe_load((REPO / "envs/faceoff.yaml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_pins = _pins(pip_section)
    assert conda_pins, "envs/faceoff.yaml pins nothing"
    for name, version in conda_pins.items():
        assert constraints.get(name) == version, (
            f"{name}: conda {version} vs constraints {constraints.get(name)}"
        )
    for required in ("torch", "torchvision", "snakemake", "dvc", "snakemake-executor-plugin-slurm"):
        assert required in conda_pins
    assert constraints["torch"] == "2.15.0" and constraints["torchvision"] == "0.29.2"
    assert constraints["snakemake"].startswith("9.") and constraints["dvc"].startswith("3.")
    post_deploy = (REPO / "envs/faceoff.post-deploy.sh").read_text()
    assert f"facenet-pytorch=={constraints['facenet-pytorch']}" in post_deploy


def test_dvc_reads_yaml_with_the_c_parser() -> None:
    """DVC parses dvc.yaml and dvc.lock with ruamel's safe loader (``dvc.utils.serialize._yaml``);
    since ruamel.yaml 0.19 its C parser is the separate ruamel.yaml.clib, which the project
    depends on: a hundred-stage dvc.lock parses ~4x as fast as with the pure-Python parser."""
    from ruamel.yaml import YAML

    assert YAML(typ="safe").Parser.__name__ == "CParser"
