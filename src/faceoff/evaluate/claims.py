"""The claims ledger: each study's conclusions, tested on the per-sample files over seeds.

A claim (``families.<family>.claims`` in the parameters) quotes its study and names what the
quote predicts: a variant against a baseline (another variant, or ``copy``, the pair's
copy-input baseline), a metric and a direction (better, worse, or equivalent within a margin).
The variant's and the baseline's runs of the same seed were scored on the same test samples, so
the claim is tested on the per-sample differences (which cancels what both share: a hard frame,
a hard pair), with a hierarchical bootstrap interval over seeds and samples
(:mod:`faceoff.evaluate.bootstrap`). A metric only ``metrics.json`` holds (set-level, such as
``collapse``, or a validation-split value ``val_<metric>``) has one value per run, so only seeds
are resampled. The ``rate`` form compares how often runs fail (a failure condition on
train.json's ``diverged`` flag or a metrics.json value), paired on seed.

The verdict reads the interval, never the point: ``supported`` when the whole 95% interval lies
on the claimed side of zero (equivalence: inside the margin), ``contradicted`` when it lies wholly
on the other side (equivalence: wholly outside the margin), ``inconclusive`` otherwise. Fewer
than :data:`MIN_SEEDS` seeds make a verdict ``provisional``: one seed's interval holds the test
frames' spread only, not the training's.
"""

from __future__ import annotations

import logging
import math
import os
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from faceoff.config.layout import Layout
from faceoff.config.registry_cache import registry_facts
from faceoff.config.runs import Run, active_families, resolve_runs
from faceoff.errors import FaceoffError
from faceoff.evaluate.bootstrap import hierarchical_mean, nested_mean
from faceoff.evaluate.glossary import SCORED_SPLITS, all_glossaries, get_glossary
from faceoff.evaluate.samples import FILENAME, KEYS, read_samples
from faceoff.evaluate.table import STRATUM, to_latex, to_markdown
from faceoff.io.atomic import read_json, write_text

log = logging.getLogger(__name__)

COPY = "copy"  # a claim's baseline: the pair's copy-input baseline (<pair>-copy)
DIRECTIONS = ("better", "worse", "equivalent")
FORMS = ("difference", "rate")
VERDICTS = ("supported", "contradicted", "inconclusive")
DIVERGED = "diverged"  # a failure condition: train.json's flag (training stopped at a non-finite loss)
MIN_SEEDS = 3  # fewer seeds: the verdict is provisional
RATE_METRIC = "failure rate"
# Which way each metric improves, for claims that do not state it. Metrics whose good value is in
# the middle (ssim_input, landmark_shift) or whose sense depends on the kind (identity_sim_source:
# a swap should lose the source's identity, a reenactment keep it) are left out on purpose.
HIGHER_IS_BETTER = {
    "l1_gt": False,
    "psnr_gt": True,
    "ssim_gt": True,
    "cycle_l1": False,
    "identity_sim": True,
    "identity_input": True,
    "background_l1": False,
    "landmark_nme": False,
    "face_found": True,
    "expression_success": True,
    "flicker": False,
    "collapse": True,
    "pose_err": False,
    "expr_err": False,
    "id_retrieval": True,
    "kid": False,
    "fid": False,
    "driving_nme": False,
    "ssim_input_excess": False,
    "akd": False,
    "aed": False,
    "csim": True,
    "cross_driving_nme": False,
    "cross_identity_sim_source": True,
    "cross_face_found": True,
    "cross_akd": False,
    "cross_csim": True,
}
COLUMNS = (
    "family",
    "claim",
    "quote",
    "variant",
    "baseline",
    "form",
    "metric",
    "direction",
    "margin",
    "higher_is_better",
    "variant_mean",
    "baseline_mean",
    "difference",
    "difference_lo",
    "difference_hi",
    "verdict",
    "provisional",
    "n_seeds",
    "n_samples",
    "levels",
    "note",
)


class ClaimError(FaceoffError):
    """A claim that cannot be read or evaluated (a bad entry, or results not made yet)."""


@dataclass(frozen=True)
class Claim:
    family: str
    id: str
    quote: str
    variants: tuple[str, ...]
    baselines: tuple[str, ...]
    metric: str | None  # None for the rate form
    direction: str
    margin: float | None  # equivalence only
    higher_is_better: bool
    form: str
    failure: tuple[Mapping[str, Any], ...]  # rate form: a run fails when any condition holds


def metric_names() -> list[str]:
    """Every name a claim's metric may take (the schema's registry for it): each evaluation kind's
    glossary metrics, and ``<split>_<metric>`` of the scored splits."""
    names = {name for glossary in all_glossaries().values() for name in glossary.metrics}
    return sorted(names | {f"{split}_{name}" for split in SCORED_SPLITS for name in names})


def orientation(metric: str) -> bool | None:
    """Whether a higher ``metric`` is better (``val_<m>`` as ``m``), or None when it has no one sense."""
    if metric in HIGHER_IS_BETTER:
        return HIGHER_IS_BETTER[metric]
    for split in SCORED_SPLITS:
        if metric.startswith(f"{split}_"):
            return HIGHER_IS_BETTER.get(metric.removeprefix(f"{split}_"))
    return None


def _names(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else (str(value),)


def _condition_ok(condition: Mapping[str, Any]) -> bool:
    """``{metric: diverged}``, or another metric with exactly one of ``below`` and ``above``."""
    bounds = ("below" in condition) + ("above" in condition)
    return "metric" in condition and bounds == (0 if condition["metric"] == DIVERGED else 1)


def parse_claims(params: Mapping[str, Any], family: str, kind: str | None = None) -> list[Claim]:
    """The claims of ``families.<family>.claims``, checked: a bad entry is one ClaimError line.
    ``kind``, the evaluation kind of the family's model, also checks each metric against its
    glossary (the caller resolves it: the model registry sits above this layer)."""
    fam = params["families"][family]
    defined = set(fam["variants"])
    own = _kind_metrics(kind) if kind is not None else []
    scored = {*own, *(f"{split}_{name}" for split in SCORED_SPLITS for name in own)}
    claims: list[Claim] = []
    for number, raw in enumerate(fam.get("claims") or []):
        where = f"families.{family}.claims[{number}]"
        missing = [k for k in ("id", "quote", "variant", "baseline", "direction") if k not in raw]
        if missing:
            raise ClaimError(f"{where}: missing {', '.join(missing)}")
        where = f"families.{family}.claims {raw['id']!r}"
        if any(c.id == raw["id"] for c in claims):
            raise ClaimError(f"{where}: the id is used twice")
        form = raw.get("form", "difference")
        direction = raw["direction"]
        if form not in FORMS or direction not in DIRECTIONS:
            raise ClaimError(f"{where}: form must be one of {FORMS} and direction one of {DIRECTIONS}")
        variants, baselines = _names(raw["variant"]), _names(raw["baseline"])
        unknown = [v for v in variants if v not in defined] + [
            b for b in baselines if b not in defined | {COPY}
        ]
        if unknown:
            raise ClaimError(
                f"{where}: {', '.join(unknown)} not among the variants of {family} (or {COPY!r})"
            )
        margin = raw.get("margin")
        if direction == "equivalent" and not (isinstance(margin, (int, float)) and margin > 0):
            raise ClaimError(f"{where}: an equivalence claim needs a margin > 0 (metric units)")
        metric = raw.get("metric")
        failure: tuple[Mapping[str, Any], ...] = ()
        if form == "rate":
            failure = tuple(raw.get("failure") or ())
            if not failure or not all(map(_condition_ok, failure)):
                raise ClaimError(
                    f"{where}: a rate claim needs failure: a list of {{metric: {DIVERGED}}} or "
                    "{metric: <name>, below: <x>} / {metric: <name>, above: <x>}"
                )
            metric, higher = RATE_METRIC, False
        else:
            if not metric:
                raise ClaimError(f"{where}: a difference claim names its metric")
            if kind is not None and metric not in scored:
                raise ClaimError(
                    f"{where}: {metric!r} is no metric of the {kind!r} evaluation ({family}'s model)"
                )
            higher = raw.get("higher_is_better", orientation(metric))
            if higher is None:
                if direction != "equivalent":
                    raise ClaimError(f"{where}: say higher_is_better: {metric} has no known orientation")
                higher = True  # an equivalence claim reads the same either way
        claims.append(
            Claim(
                family,
                str(raw["id"]),
                str(raw["quote"]),
                variants,
                baselines,
                metric,
                direction,
                float(margin) if margin is not None else None,
                bool(higher),
                form,
                failure,
            )
        )
    return claims


def _kind_metrics(kind: str) -> list[str]:
    """The metrics the ``kind`` evaluation scores, read from the registry cache (no torch)."""
    known = registry_facts("faceoff.evaluate.kinds:kind_metrics")
    if kind not in known:
        return list(get_glossary(kind).metrics)  # the registry's own error names the kinds
    return known[kind]


class _Results:
    """One family's evaluated runs and copy baselines, each file read once; a missing file is a
    ClaimError naming the command that makes it."""

    def __init__(self, params: Mapping[str, Any], family: str) -> None:
        self.family = family
        self.layout = Layout.of(params)
        fam = params["families"][family]
        self.ran = set(fam["run"])
        self.pairs = list(fam["pairs"])
        self.seeds = [int(s) for s in fam["seeds"]]
        self.runs: dict[tuple[str, str, int], Run] = {
            (r.variant, r.pair, r.seed): r for r in resolve_runs(params, family)
        }
        self.read = cache(self._read)

    def folder(self, variant: str, pair: str, seed: int) -> tuple[Path, str]:
        """The evaluation folder of ``variant`` (or the copy baseline) and the command that fills it."""
        if variant == COPY:
            remake = f"faceoff evaluate --copy {self.family}/{pair}"
            return self.layout.copy_baseline(self.family, pair), remake
        run = self.runs[variant, pair, seed]
        return self.layout.evaluate(self.family, run.id), f"faceoff evaluate --run {run.key}"

    def files(self, variant: str, pair: str, seed: int, form: str) -> list[Path]:
        folder, _ = self.folder(variant, pair, seed)
        files = [folder / "metrics.json"]
        if form == "difference":
            files.append(folder / FILENAME)
        elif variant != COPY:
            files.append(self.layout.train(self.family, self.runs[variant, pair, seed].id) / "train.json")
        return files

    def _read(self, path: Path, remake: str) -> Any:
        if not path.is_file():
            raise ClaimError(f"{path}: not found: run `{remake}` first")
        return read_samples(path) if path.name == FILENAME else read_json(path)

    def samples(self, variant: str, pair: str, seed: int) -> pd.DataFrame:
        folder, remake = self.folder(variant, pair, seed)
        return self.read(folder / FILENAME, remake)

    def value(self, variant: str, pair: str, seed: int, metric: str) -> float:
        """A metrics.json value: top-level, or ``<split>_<name>`` from a scored split's block."""
        folder, remake = self.folder(variant, pair, seed)
        metrics = self.read(folder / "metrics.json", remake)
        flat = dict(metrics)
        for split in SCORED_SPLITS:
            flat |= {f"{split}_{k}": v for k, v in (metrics.get(split) or {}).items()}
        value = flat.get(metric)
        if metric not in flat or not (value is None or isinstance(value, (int, float))):
            raise ClaimError(f"{folder / 'metrics.json'}: no value {metric!r} (nor a {FILENAME} column)")
        return math.nan if value is None else float(value)  # null: not finite when scored

    def diverged(self, variant: str, pair: str, seed: int) -> bool:
        if variant == COPY:
            return False
        run = self.runs[variant, pair, seed]
        info = self.read(
            self.layout.train(self.family, run.id) / "train.json", f"faceoff train --run {run.key}"
        )
        return bool(info.get(DIVERGED))


def _paired(results: _Results, claim: Claim, variant: str, baseline: str) -> tuple[list, list, list]:
    """Per seed, per stratum (pair x :data:`STRATUM`, or pair for one value per run): the variant's
    values, the baseline's and their differences, on the samples where both are finite."""
    metric = claim.metric
    assert metric is not None
    a_seeds, b_seeds, d_seeds = [], [], []
    for seed in results.seeds:
        a_strata, b_strata, d_strata = [], [], []
        for pair in results.pairs:
            a, b = results.samples(variant, pair, seed), results.samples(baseline, pair, seed)
            if metric in a and metric in b:
                joined = a[[*KEYS, metric]].merge(b[[*KEYS, metric]], on=list(KEYS), suffixes=("_a", "_b"))
                if joined.empty:
                    where = results.folder(variant, pair, seed)[0], results.folder(baseline, pair, seed)[0]
                    raise ClaimError(
                        f"{where[0]} and {where[1]}: no test sample in common: evaluate both alike"
                    )
                both = joined[np.isfinite(joined[f"{metric}_a"]) & np.isfinite(joined[f"{metric}_b"])]
                for _, group in both.groupby(list(STRATUM), sort=True):
                    a_strata.append(group[f"{metric}_a"].to_numpy())
                    b_strata.append(group[f"{metric}_b"].to_numpy())
                    d_strata.append(a_strata[-1] - b_strata[-1])
            else:  # one value per run (set-level, or a validation-split mean): the seeds vary only
                va, vb = (
                    results.value(variant, pair, seed, metric),
                    results.value(baseline, pair, seed, metric),
                )
                a_strata.append([va])
                b_strata.append([vb])
                d_strata.append([va - vb])
        a_seeds.append(a_strata)
        b_seeds.append(b_strata)
        d_seeds.append(d_strata)
    return a_seeds, b_seeds, d_seeds


def _failures(results: _Results, claim: Claim, variant: str, baseline: str) -> tuple[list, list, list]:
    """Per seed, per pair: whether the variant's run failed, the baseline's, and the difference."""

    def failed(name: str, pair: str, seed: int) -> float:
        for condition in claim.failure:
            if condition["metric"] == DIVERGED:
                hit = results.diverged(name, pair, seed)
            else:
                value = results.value(name, pair, seed, condition["metric"])
                hit = value < condition.get("below", -math.inf) or value > condition.get("above", math.inf)
            if hit:
                return 1.0
        return 0.0

    a_seeds, b_seeds, d_seeds = [], [], []
    for seed in results.seeds:
        a = [[failed(variant, pair, seed)] for pair in results.pairs]
        b = [[failed(baseline, pair, seed)] for pair in results.pairs]
        a_seeds.append(a)
        b_seeds.append(b)
        d_seeds.append([[x[0] - y[0]] for x, y in zip(a, b, strict=True)])
    return a_seeds, b_seeds, d_seeds


def verdict(direction: str, lo: float, hi: float, higher_is_better: bool, margin: float | None = None) -> str:
    """``supported``/``contradicted``/``inconclusive`` from the interval [lo, hi] of variant - baseline."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "inconclusive"
    if direction == "equivalent":
        assert margin is not None
        if -margin < lo and hi < margin:
            return "supported"
        return "contradicted" if lo >= margin or hi <= -margin else "inconclusive"
    if higher_is_better != (direction == "better"):  # the claimed side is below zero
        lo, hi = -hi, -lo
    return "supported" if lo > 0 else "contradicted" if hi < 0 else "inconclusive"


def _evaluate(
    results: _Results, claim: Claim, variant: str, baseline: str, n_boot: int, seed: int
) -> dict[str, Any]:
    row = {
        "family": claim.family,
        "claim": claim.id,
        "quote": claim.quote,
        "variant": variant,
        "baseline": baseline,
        "form": claim.form,
        "metric": claim.metric,
        "direction": claim.direction,
        "margin": claim.margin,
        "higher_is_better": claim.higher_is_better,
    }
    paired = _failures if claim.form == "rate" else _paired
    a, b, d = paired(results, claim, variant, baseline)
    if math.isnan(nested_mean(d)):  # e.g. no face found on any output of a collapsed run
        return row | {
            "verdict": "inconclusive",
            "provisional": len(results.seeds) < MIN_SEEDS,
            "note": f"no finite {claim.metric} to compare",
        }
    # A stable stream per comparison: adding a claim does not move another claim's interval.
    key = zlib.crc32(f"{claim.family}/{claim.id}/{variant}/{baseline}".encode())
    interval = hierarchical_mean(d, n_boot=n_boot, rng=np.random.default_rng([seed, key]))
    return row | {
        "variant_mean": nested_mean(a),
        "baseline_mean": nested_mean(b),
        "difference": interval.estimate,
        "difference_lo": interval.lo,
        "difference_hi": interval.hi,
        "verdict": verdict(claim.direction, interval.lo, interval.hi, claim.higher_is_better, claim.margin),
        "provisional": interval.n_seeds < MIN_SEEDS,
        "n_seeds": interval.n_seeds,
        "n_samples": interval.n_samples,
        "levels": interval.levels,
        "note": "one value per run and one seed: no interval" if interval.levels == "none" else None,
    }


def _comparisons(
    params: Mapping[str, Any], kinds: Mapping[str, str] | None
) -> Iterator[tuple[_Results, Claim, str, str]]:
    """(results, claim, variant, baseline) of every active family's claims whose variant and
    baseline this configuration runs; the others are logged and left out (a configuration that
    narrows ``run``, such as the demo's, tests the claims it can)."""
    for family in active_families(params):
        results = _Results(params, family)
        for claim in parse_claims(params, family, (kinds or {}).get(family)):
            for variant in claim.variants:
                for baseline in claim.baselines:
                    if variant == baseline:  # a list of variants may hold the baseline itself
                        continue
                    missing = [v for v in (variant, baseline) if v != COPY and v not in results.ran]
                    if missing:
                        log.info(
                            "claim %s/%s (%s vs %s) left out: %s not run",
                            family,
                            claim.id,
                            variant,
                            baseline,
                            ", ".join(missing),
                        )
                    else:
                        yield results, claim, variant, baseline


def claim_inputs(params: Mapping[str, Any], kinds: Mapping[str, str] | None = None) -> list[Path]:
    """Every file :func:`evaluate_claims` reads (per_sample.csv and metrics.json of the compared
    runs and copy baselines; train.json for rate claims), for the DAG's inputs."""
    files: dict[Path, None] = {}
    for results, claim, variant, baseline in _comparisons(params, kinds):
        for name in (variant, baseline):
            for pair in results.pairs:
                for seed in results.seeds:
                    files |= dict.fromkeys(results.files(name, pair, seed, claim.form))
    return list(files)


def evaluate_claims(
    params: Mapping[str, Any],
    *,
    kinds: Mapping[str, str] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per claim, variant and baseline that the configuration runs (:data:`COLUMNS`; no
    row at all when it runs none). ``kinds`` (family -> its evaluation kind) checks the metrics."""
    rows = [_evaluate(*comparison, n_boot, seed) for comparison in _comparisons(params, kinds)]
    counts = {"n_seeds": "Int64", "n_samples": "Int64"}  # integers, empty where a claim was not run
    return pd.DataFrame(rows, columns=list(COLUMNS)).astype(counts)


def write_claims(
    df: pd.DataFrame,
    csv: str | os.PathLike[str] | None = None,
    md: str | os.PathLike[str] | None = None,
    tex: str | os.PathLike[str] | None = None,
) -> None:
    """Write the claims table; Markdown and LaTeX show the difference as "x [lo, hi]"."""
    if csv is not None:
        write_text(csv, df.to_csv(index=False))
    if md is not None:
        write_text(md, to_markdown(df))
    if tex is not None:
        write_text(tex, to_latex(df))
