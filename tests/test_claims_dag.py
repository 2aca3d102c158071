"""The claims ledger wired through the parameters, the command line, the report and the DAG.

The statistics (bootstrap, verdicts) are tests/test_claims.py's; here: a bad claim is a one-line
parameter error, `faceoff claims` turns the files a claim names into the ledger's table, forest
plot and the report's first section, and Snakemake plans the claims job on the runs it compares.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from faceoff import cli
from faceoff.config import ConfigError, Layout, load_params
from faceoff.evaluate.claims import claim_inputs, parse_claims
from faceoff.evaluate.samples import FILENAME, KEYS, write_samples
from faceoff.io.atomic import write_json
from faceoff.train import get_model

from .pipeline import BIN, copy_workflow, run

REPO = Path(__file__).resolve().parents[1]
SEEDS = [0, 1, 2]
# One pair, two variants run, three seeds; one claim the runs decide, one naming a variant not run.
LEDGER: dict[str, Any] = {
    "run_families": ["faceoff"],
    "families": {
        "faceoff": {
            "pairs": ["A2B"],
            "run": ["baseline", "double_d"],
            "seeds": SEEDS,
            "claims": [
                {
                    "id": "double_d_improves",
                    "quote": "It noticeably outperforms other settings",
                    "variant": "double_d",
                    "baseline": "baseline",
                    "metric": "l1_gt",
                    "direction": "better",
                },
                {
                    "id": "unet_collapses",
                    "quote": "We observed a severe mode collapse using U-Net as generator.",
                    "variant": "unet",
                    "baseline": "baseline",
                    "metric": "l1_gt",
                    "direction": "worse",
                },
            ],
        }
    },
}


def _config(tmp_path: Path, override: dict[str, Any]) -> list[str]:
    path = tmp_path / "override.yaml"
    path.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "out"), **override}))
    return [str(REPO / "params.yaml"), str(REPO / "config/smoke.yaml"), str(path)]


def _bad_claim(tmp_path: Path, **change: Any) -> str:
    """The parameter error of the ledger's first claim changed by ``change``."""
    claim = {**LEDGER["families"]["faceoff"]["claims"][0], **change}
    override = {**LEDGER, "families": {"faceoff": {**LEDGER["families"]["faceoff"], "claims": [claim]}}}
    with pytest.raises(ConfigError) as err:
        load_params(_config(tmp_path, override))
    problems = str(err.value).splitlines()[1:]  # under "invalid parameters:"
    assert len(problems) == 1, problems
    return problems[0]


def test_a_bad_claim_is_one_line_naming_its_key(tmp_path: Path) -> None:
    where = "families.faceoff.claims.0"
    problem = _bad_claim(tmp_path, variant="dd")
    assert f"{where}.variant: variant 'dd' is not defined in families.faceoff.variants" in problem
    problem = _bad_claim(tmp_path, baseline=["baseline", "nope"])
    assert f"{where}.baseline: variant 'nope' is not defined" in problem
    assert f"{where}.metric: 'l2_gt' is not one of " in _bad_claim(tmp_path, metric="l2_gt")
    problem = _bad_claim(tmp_path, direction="sideways")
    assert f"{where}.direction: 'sideways' is not one of ['better', 'worse', 'equivalent']" in problem
    assert f"{where}: 'margin' is a required property" in _bad_claim(tmp_path, direction="equivalent")
    assert f"{where}.metrics: unknown key 'metrics'" in _bad_claim(tmp_path, metrics="l1_gt")
    # The copy-input baseline is no variant, and is a valid baseline.
    copy = LEDGER["families"]["faceoff"]["claims"][0] | {"baseline": "copy"}
    ok = {**LEDGER, "families": {"faceoff": {**LEDGER["families"]["faceoff"], "claims": [copy]}}}
    assert load_params(_config(tmp_path, ok))["families"]["faceoff"]["claims"][0]["baseline"] == "copy"


@pytest.mark.parametrize("extra", [[], ["config/demo.yaml"], ["config/demo.yaml", "config/claims.yaml"]])
def test_the_shipped_claims_are_testable(extra: list[str]) -> None:
    """Every claim of params.yaml reads (metric of its family's kind, orientation known), and
    config/claims.yaml runs every variant a claim names with 3 seeds (the demo: one)."""
    params = load_params([REPO / "params.yaml", *(REPO / e for e in extra)])
    for family, fam in params["families"].items():
        claims = parse_claims(params, family, get_model(fam["train"].get("model", "cyclegan")).evaluation)
        assert claims, family  # every study states its conclusions
        if extra[1:]:
            named = {v for c in claims for v in (*c.variants, *c.baselines)} - {"copy"}
            assert named <= set(fam["run"]) and len(fam["seeds"]) >= 3, family
    assert len(params["families"]["faceoff"]["seeds"]) == (1 if extra == ["config/demo.yaml"] else 3)


def _write_runs(params: dict[str, Any]) -> None:
    """Exactly the files the claims name (claim_inputs): per-sample l1_gt on the same test frames,
    double_d 0.05 below the baseline (clearly better) in every seed, plus their means."""
    rng = np.random.default_rng(0)
    frames = np.arange(12)
    for path in claim_inputs(params):
        variant = path.parent.name.split("-")[1] if "-s" in path.parent.name else "copy"
        if path.name == FILENAME:
            level = {"baseline": 0.12, "double_d": 0.07, "copy": 0.3}[variant]
            rows = pd.DataFrame(
                {
                    "direction": ["A2B"] * 6 + ["B2A"] * 6,
                    "source": ["A"] * 6 + ["B"] * 6,
                    "target": ["B"] * 6 + ["A"] * 6,
                    "frame": frames,
                    "l1_gt": level + 0.01 * rng.standard_normal(frames.size),
                }
            )
            assert list(rows.columns[: len(KEYS)]) == list(KEYS)
            write_samples(path, rows)
        elif path.name == "metrics.json":
            write_json(path, {"l1_gt": {"baseline": 0.12, "double_d": 0.07, "copy": 0.3}[variant]})
        else:
            write_json(path, {"diverged": False, "steps": 10})


def test_faceoff_claims_writes_the_ledger_and_the_report_opens_with_it(tmp_path: Path) -> None:
    config = _config(tmp_path, LEDGER)
    params = load_params(config)
    inputs = {p.relative_to(Layout.of(params).root).as_posix() for p in claim_inputs(params)}
    # The claim that can be decided reads both variants' per-sample files of every seed; the one
    # naming a variant not run reads nothing.
    assert {
        f"evaluate/faceoff/A2B-{v}-s{s}/{FILENAME}" for v in ("baseline", "double_d") for s in SEEDS
    } <= inputs
    assert not any("unet" in p for p in inputs)
    _write_runs(params)
    flags = [a for c in config for a in ("-c", c)]
    assert cli.main([*flags, "claims", "--n-boot", "300"]) == 0

    layout = Layout.of(params)
    csv, md, tex = layout.claims_tables()
    table = pd.read_csv(csv).set_index("claim")
    decided = table.loc["double_d_improves"]
    assert decided["verdict"] == "supported" and decided["n_seeds"] == 3 and not decided["provisional"]
    assert decided["difference"] == pytest.approx(-0.05, abs=0.01)
    assert decided["difference_lo"] < decided["difference"] < decided["difference_hi"] < 0
    assert "unet_collapses" not in table.index  # its variant is not run: left out
    assert re.search(r"\| double_d_improves .*\| supported ", md.read_text())
    assert re.search(r"double\\_d\\_improves & .* & supported & ", tex.read_text())  # LaTeX escapes _
    with Image.open(layout.claims_figure) as forest:
        assert forest.format == "PNG" and forest.width > 100 and forest.height > 50

    assert cli.main([*flags, "report"]) == 0
    page = layout.report.read_text()
    first = re.search(r'<section id="([^"]+)">', page)
    assert first and first.group(1) == "claims"  # the report's first section
    claims = page.split('<section id="claims">')[1].split("</section>")[0]
    row = next(r for r in claims.split("<tr>") if "double_d_improves" in r)
    assert "supported" in row and "provisional" not in row
    assert 'href="#faceoff-figures"' in row and 'href="#faceoff-double_d"' in row
    assert "It noticeably outperforms other settings" in row and "claims.png" in claims


def test_a_metric_of_another_evaluation_kind_stops_the_claims_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`akd` is a metric (the schema takes it) but no face-off one: `faceoff claims` says so."""
    claim = LEDGER["families"]["faceoff"]["claims"][0] | {"metric": "akd"}
    override = {**LEDGER, "families": {"faceoff": {**LEDGER["families"]["faceoff"], "claims": [claim]}}}
    flags = [a for c in _config(tmp_path, override) for a in ("-c", c)]
    assert cli.main([*flags, "claims"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("faceoff: error: families.faceoff.claims 'double_d_improves': 'akd' is no metric")


def test_one_seed_marks_verdicts_provisional_in_the_report(tmp_path: Path) -> None:
    one_seed = yaml.safe_load(yaml.safe_dump(LEDGER))
    one_seed["families"]["faceoff"]["seeds"] = [0]
    config = _config(tmp_path, one_seed)
    params = load_params(config)
    _write_runs(params)
    flags = [a for c in config for a in ("-c", c)]
    assert cli.main([*flags, "claims", "--n-boot", "300"]) == 0
    table = pd.read_csv(Layout.of(params).claims_tables()[0]).set_index("claim")
    assert table.loc["double_d_improves", "provisional"] and table.loc["double_d_improves", "n_seeds"] == 1
    assert cli.main([*flags, "report"]) == 0
    claims = Layout.of(params).report.read_text().split('<section id="claims">')[1].split("</section>")[0]
    assert "fewer than 3 seeds" in claims and "(provisional)" in claims


def test_snakemake_plans_the_claims_job_on_the_runs_it_compares(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path / "wf")
    (work / "ledger.yaml").write_text(yaml.safe_dump(LEDGER))
    plan = run(
        [str(BIN / "snakemake"), "-n", "--configfile", "config/smoke.yaml", "ledger.yaml"], work, timeout=300
    ).stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", plan, re.M))
    assert counts["claims"] == "1" and counts["report"] == "1"
    job = plan.split("rule claims:")[1].split("\n\n")[0]
    for variant in ("baseline", "double_d"):
        assert f"results/smoke/evaluate/faceoff/A2B-{variant}-s0/{FILENAME}" in job
    assert "results/smoke/tables/claims.csv" in job and "results/smoke/figures/claims.png" in job
