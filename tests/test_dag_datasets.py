"""With params pointing at real-layout folders of every dataset kind, Snakemake plans the right jobs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from faceoff.datasets.registry import get_kind
from faceoff.synth.spec import SynthSpec

from .pipeline import BIN, copy_workflow, run

pytestmark = pytest.mark.slow

DATASETS = {
    "persons": ("person_videos", ["A", "B"]),
    "jaffe": ("jaffe", ["NE", "HA"]),
    "vw300": ("300vw", ["001", "114", "124"]),  # the reenactment pair reads 114 and 124
    "portraits": ("portraits", ["photo", "painting"]),
    "ffpp": ("ffpp", ["071", "054"]),
}


def test_dry_run_plans_one_prepare_job_per_item(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path / "wf")
    raw = tmp_path / "raw"
    datasets = {}
    for name, (kind, items) in DATASETS.items():
        get_kind(kind).synth(
            raw / name, SynthSpec(items=items, n_frames=6, size=64, fps=25, seed=0, ground_truth_pairs=[])
        )
        datasets[name] = {"kind": kind, "source": str(raw / name), "items": items}
    override = {
        "output_dir": str(tmp_path / "results"),
        "datasets": datasets,
        "run_families": ["faceoff"],
        "families": {"faceoff": {"pairs": ["A2B"], "run": ["baseline"], "seeds": [0]}},
    }
    (work / "real.yaml").write_text(yaml.safe_dump(override))
    plan = run([str(BIN / "snakemake"), "-n", "prepare_all", "all", "--configfile", "real.yaml"], work)
    text = plan.stdout
    planned = set(re.findall(r"prepared/(\w+)/([\w.-]+)\n", text))
    assert planned == {(name, item) for name, (_, items) in DATASETS.items() for item in items}
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", text, re.M))
    assert counts["prepare"] == "11" and counts["train"] == "1" and "synth_persons" not in counts
    # Each prepare job reads its own raw files: a 300VW item its video folder, FF++ its mp4.
    assert str(raw / "vw300" / "114") in text and str(raw / "ffpp") in text
