"""The claims ledger on constructed per-sample files: each verdict where the data decide it, the
provisional mark, the failure-rate form, missing results, bad claims, the three table formats
and the forest plot."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from faceoff.evaluate.claims import (
    COLUMNS,
    ClaimError,
    claim_inputs,
    evaluate_claims,
    parse_claims,
    verdict,
    write_claims,
)
from faceoff.evaluate.samples import FILENAME, read_samples, write_samples
from faceoff.io.atomic import read_json, write_json
from faceoff.plots.forest import forest_plot

# Directions scored on unequal frame counts: a run's mean is that of its directions' means.
DIRECTIONS = (("A2B", "A", "B", 40), ("B2A", "B", "A", 30))
# Per variant: the l1_gt shift from the baseline, the set-level collapse, the validation SSIM, and
# the seeds whose training diverged.
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {"shift": 0.0, "collapse": 0.8, "val": 0.50},
    "good": {"shift": -0.02, "collapse": 0.8, "val": 0.60},
    "bad": {"shift": 0.02, "collapse": 0.8, "val": 0.50},
    "twin": {"shift": 0.0, "collapse": 0.8, "val": 0.50},  # the baseline's frames, +-0.003 alternately
    "unet": {"shift": 0.0, "collapse": 0.05, "val": 0.50},
    "wgan": {"shift": 0.0, "collapse": 0.05, "val": 0.50, "diverged": {0}},  # fails in every seed
    "flaky": {"shift": 0.0, "collapse": 0.8, "val": 0.50, "diverged": {0}},  # fails in one of three
}


def _claim(
    claim_id: str, variant: str | list[str], baseline: str, direction: str, **more: Any
) -> dict[str, Any]:
    return {
        "id": claim_id,
        "quote": "q",
        "variant": variant,
        "baseline": baseline,
        "direction": direction,
        **more,
    }


FAILED = [{"metric": "diverged"}, {"metric": "collapse", "below": 0.1}]
CLAIMS = [
    _claim("improves", "good", "base", "better", metric="l1_gt"),
    _claim("worsens", "bad", "base", "better", metric="l1_gt"),
    _claim("noise", "twin", "base", "better", metric="l1_gt"),
    _claim("inside", "twin", "base", "equivalent", metric="l1_gt", margin=0.01),
    _claim("outside", "good", "base", "equivalent", metric="l1_gt", margin=0.005),
    _claim("straddles", "good", "base", "equivalent", metric="l1_gt", margin=0.02),
    _claim("vs_copy", ["good", "base"], "copy", "better", metric="l1_gt"),
    _claim("listed", ["good", "base"], "base", "better", metric="l1_gt"),  # base vs base: no row
    _claim("collapses", "unet", "base", "worse", metric="collapse"),
    _claim("val", "good", "base", "better", metric="val_ssim_gt"),
    _claim("fails", "wgan", "base", "worse", form="rate", failure=FAILED),
    _claim("flaky", "flaky", "base", "worse", form="rate", failure=FAILED[:1]),
    _claim("unrun", "unused", "base", "better", metric="l1_gt"),
]


def _params(root: Path, seeds: list[int]) -> dict[str, Any]:
    variants = {name: {} for name in (*VARIANTS, "unused")}
    family = {"dataset": "toy", "pairs": ["A2B"], "run": list(VARIANTS), "seeds": seeds, "train": {}}
    family |= {"variants": variants, "claims": CLAIMS}
    return {"output_dir": str(root), "datasets": {"toy": {"items": ["A", "B"]}}, "families": {"fam": family}}


def _write(folder: Path, rows: pd.DataFrame, metrics: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_samples(folder / FILENAME, rows)
    mean = rows.groupby("direction")["l1_gt"].mean().mean()  # as metrics.json averages
    write_json(folder / "metrics.json", {"l1_gt": float(mean), **metrics})


def _results(root: Path, seeds: list[int]) -> dict[str, Any]:
    """Every run's files: l1_gt = frame hardness (shared by all runs) + the variant's shift + a
    small seed effect + frame noise; the copy baseline is far worse."""
    rng = np.random.default_rng(0)
    keys = pd.DataFrame(
        [
            {"direction": d, "source": s, "target": t, "frame": f}
            for d, s, t, frames in DIRECTIONS
            for f in range(frames)
        ]
    )
    hardness = rng.normal(0.1, 0.03, len(keys))
    alternate = np.where(np.arange(len(keys)) % 2, 0.003, -0.003)
    _write(
        root / "evaluate/fam/A2B-copy",
        keys.assign(l1_gt=0.5 + hardness),
        {"collapse": 1.0, "val": {"ssim_gt": 0.1}},
    )
    for seed in seeds:
        base = 0.2 + hardness + rng.normal(0, 0.002) + rng.normal(0, 0.002, len(keys))
        for name, spec in VARIANTS.items():
            own = rng.normal(0, 0.002) + rng.normal(0, 0.002, len(keys))
            l1 = {"base": base, "twin": base + alternate}.get(name, 0.2 + hardness + spec["shift"] + own)
            collapse = spec["collapse"] + rng.normal(0, 0.01)
            val = spec["val"] + rng.normal(0, 0.01)
            run = f"A2B-{name}-s{seed}"
            _write(
                root / "evaluate/fam" / run,
                keys.assign(l1_gt=l1),
                {"collapse": collapse, "val": {"ssim_gt": val}},
            )
            write_json(
                root / "train/fam" / run / "train.json", {"diverged": seed in spec.get("diverged", ())}
            )
    return _params(root, seeds)


@pytest.fixture(scope="module")
def three_seeds(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], pd.DataFrame]:
    params = _results(tmp_path_factory.mktemp("claims"), [0, 1, 2])
    return params, evaluate_claims(params)


def _row(df: pd.DataFrame, claim: str, variant: str | None = None) -> pd.Series:
    rows = df[(df["claim"] == claim) & ((df["variant"] == variant) if variant else True)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_verdicts_follow_the_data(three_seeds: tuple[dict[str, Any], pd.DataFrame]) -> None:
    _, df = three_seeds
    assert df.groupby("claim", sort=False)["verdict"].agg(list).to_dict() == {
        "improves": ["supported"],
        "worsens": ["contradicted"],
        "noise": ["inconclusive"],
        "inside": ["supported"],
        "outside": ["contradicted"],
        "straddles": ["inconclusive"],
        "vs_copy": ["supported", "supported"],
        "listed": ["supported"],
        "collapses": ["supported"],
        "val": ["supported"],
        "fails": ["supported"],
        "flaky": ["inconclusive"],
    }  # "unrun" names a variant this configuration does not run: left out


def test_a_difference_is_paired_with_its_interval_seeds_and_samples(
    three_seeds: tuple[dict[str, Any], pd.DataFrame],
) -> None:
    params, df = three_seeds
    improves = _row(df, "improves")
    # The estimate is the tables' mean: over seeds of each run's metrics.json mean.
    runs = [Path(params["output_dir"]) / f"evaluate/fam/A2B-good-s{seed}/metrics.json" for seed in range(3)]
    assert improves["variant_mean"] == pytest.approx(np.mean([read_json(run)["l1_gt"] for run in runs]))
    assert improves["difference"] == pytest.approx(-0.02, abs=0.003)
    assert improves["difference"] == pytest.approx(improves["variant_mean"] - improves["baseline_mean"])
    assert improves["difference_lo"] < improves["difference"] < improves["difference_hi"] < 0
    assert improves["n_seeds"] == 3 and improves["n_samples"] == 3 * (40 + 30)
    assert improves["levels"] == "seeds, frames" and not improves["provisional"]
    assert not improves["higher_is_better"]  # l1_gt: lower is better, from the known orientations
    # The twin shares every frame's hardness with the baseline: pairing leaves only +-0.003.
    noise = _row(df, "noise")
    assert noise["difference"] == pytest.approx(0.0, abs=1e-12)
    assert noise["difference_hi"] - noise["difference_lo"] < 0.003
    copy = _row(df, "vs_copy", "good")
    assert copy["baseline"] == "copy" and copy["difference"] == pytest.approx(-0.32, abs=0.005)
    collapses = _row(df, "collapses")  # one value per run: only the seeds are resampled
    assert collapses["levels"] == "seeds" and collapses["n_samples"] == 3
    assert collapses["difference_hi"] < -0.7


def test_a_rate_claim_counts_failed_seeds(three_seeds: tuple[dict[str, Any], pd.DataFrame]) -> None:
    _, df = three_seeds
    fails, flaky = _row(df, "fails"), _row(df, "flaky")
    assert (
        fails["metric"] == "failure rate" and fails["variant_mean"] == 1.0 and fails["baseline_mean"] == 0.0
    )
    assert fails["difference_lo"] == fails["difference_hi"] == 1.0
    assert (
        flaky["variant_mean"] == pytest.approx(1 / 3) and flaky["difference_lo"] <= 0 < flaky["difference_hi"]
    )


def test_without_a_claim_the_configuration_runs_the_ledger_is_empty(tmp_path: Path) -> None:
    """A configuration narrowing ``run`` (the demo's) tests the claims it can; none left, the
    three files and the forest plot still come out, empty."""
    params = _params(tmp_path, [0])
    params["families"]["fam"]["run"] = ["twin"]  # every claim on twin compares it with base
    df = evaluate_claims(params)
    assert df.empty and df.columns.tolist() == list(COLUMNS) and claim_inputs(params) == []
    paths = [tmp_path / f"claims.{ext}" for ext in ("csv", "md", "tex")]
    write_claims(df, *paths)
    assert pd.read_csv(paths[0]).columns.tolist() == list(COLUMNS)
    assert "| claim" in paths[1].read_text() and paths[2].read_text().startswith("\\begin{tabular}")
    assert forest_plot(df, tmp_path / "claims.png") == []
    with Image.open(tmp_path / "claims.png") as image:
        assert image.format == "PNG"


def test_one_seed_is_frame_level_and_provisional(tmp_path: Path) -> None:
    df = evaluate_claims(_results(tmp_path, [0]), n_boot=300)
    improves = _row(df, "improves")
    assert improves["levels"] == "frames" and improves["n_seeds"] == 1 and improves["provisional"]
    assert improves["verdict"] == "supported"
    collapses = _row(df, "collapses")  # one value from one run: no interval, nothing decided
    assert collapses["levels"] == "none" and collapses["verdict"] == "inconclusive"
    assert collapses["note"] == "one value per run and one seed: no interval"


def test_a_metric_undefined_on_every_sample_decides_nothing(tmp_path: Path) -> None:
    """No face on any output: landmark metrics are NaN throughout; the claim is inconclusive, not a crash."""
    params = _results(tmp_path, [0])
    samples = tmp_path / "evaluate/fam/A2B-good-s0" / FILENAME
    write_samples(samples, read_samples(samples).assign(l1_gt=np.nan))
    improves = _row(evaluate_claims(params, n_boot=100), "improves")
    assert improves["verdict"] == "inconclusive" and improves["note"] == "no finite l1_gt to compare"
    assert math.isnan(improves["difference"])


def test_missing_results_name_the_command(tmp_path: Path) -> None:
    params = _results(tmp_path, [0, 1])
    assert tmp_path / "evaluate/fam/A2B-good-s1" / FILENAME in claim_inputs(params)
    assert tmp_path / "train/fam/A2B-wgan-s1/train.json" in claim_inputs(params)
    assert not any("unused" in str(p) for p in claim_inputs(params))
    (tmp_path / "evaluate/fam/A2B-good-s1" / FILENAME).unlink()
    with pytest.raises(
        ClaimError,
        match=r"A2B-good-s1/per_sample.csv: not found: run `faceoff evaluate --run fam/A2B-good-s1`",
    ):
        evaluate_claims(params, n_boot=100)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"variant": "nope"}, "nope not among the variants of fam"),
        ({"direction": "equivalent"}, "needs a margin > 0"),
        ({"direction": "sideways"}, "direction one of"),
        ({"metric": "ssim_input"}, "say higher_is_better: ssim_input"),
        ({"metric": "akd"}, "'akd' is no metric of the 'translate' evaluation"),
        ({"form": "rate"}, "a rate claim needs failure"),
        ({"form": "rate", "failure": [{"metric": "collapse"}]}, "a rate claim needs failure"),
    ],
)
def test_a_bad_claim_is_one_line(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    params = _params(tmp_path, [0])
    params["families"]["fam"]["claims"] = [{**CLAIMS[0], **change}]
    with pytest.raises(ClaimError, match=message) as error:
        parse_claims(params, "fam", "translate")  # the family's model's evaluation kind
    assert "\n" not in str(error.value) and "'improves'" in str(error.value)


def test_stated_orientation_wins(tmp_path: Path) -> None:
    params = _params(tmp_path, [0])
    params["families"]["fam"]["claims"] = [{**CLAIMS[0], "metric": "ssim_input", "higher_is_better": False}]
    assert not parse_claims(params, "fam")[0].higher_is_better


def test_verdict_rules() -> None:
    assert verdict("better", 0.1, 0.2, higher_is_better=True) == "supported"
    assert verdict("better", 0.1, 0.2, higher_is_better=False) == "contradicted"
    assert verdict("worse", -0.2, -0.1, higher_is_better=True) == "supported"
    assert verdict("worse", -0.2, 0.1, higher_is_better=True) == "inconclusive"
    assert verdict("better", math.nan, math.nan, higher_is_better=True) == "inconclusive"
    assert verdict("equivalent", -0.1, 0.1, True, margin=0.2) == "supported"
    assert verdict("equivalent", 0.3, 0.4, True, margin=0.2) == "contradicted"
    assert verdict("equivalent", 0.1, 0.4, True, margin=0.2) == "inconclusive"


def test_the_table_in_three_formats_and_the_forest_plot(
    three_seeds: tuple[dict[str, Any], pd.DataFrame], tmp_path: Path
) -> None:
    _, df = three_seeds
    paths = {ext: tmp_path / f"claims.{ext}" for ext in ("csv", "md", "tex", "png")}
    write_claims(df, paths["csv"], paths["md"], paths["tex"])
    back = pd.read_csv(paths["csv"])
    assert back["verdict"].tolist() == df["verdict"].tolist()
    assert back["difference_lo"].to_numpy() == pytest.approx(df["difference_lo"].to_numpy(float), nan_ok=True)
    improves = _row(df, "improves")
    cell = f"{improves['difference']:.4g} [{improves['difference_lo']:.4g}, {improves['difference_hi']:.4g}]"
    md, tex = paths["md"].read_text(), paths["tex"].read_text()
    assert cell in md and "difference_lo" not in md and "| claim" in md
    assert tex.startswith("\\begin{tabular}") and cell in tex and "difference\\_lo" not in tex
    labels = forest_plot(df, paths["png"])
    assert len(labels) == len(df) and labels[0] == "improves: good vs base (l1_gt)"
    with Image.open(paths["png"]) as image:
        assert image.format == "PNG" and image.height > 0.5 * len(df) * 100  # a row per claim, at 100 dpi
