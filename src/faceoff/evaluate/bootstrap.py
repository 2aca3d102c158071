"""Hierarchical bootstrap of a mean over seeds and test samples: the 95% intervals of the tables
and of the claims ledger.

A run's score varies with its training seed and with the test frames it is scored on. The
interval has to carry both, so each bootstrap replicate draws seeds with replacement, then the
samples of each drawn seed (within each stratum, e.g. a pair's direction) with replacement, and
recomputes the estimate; the interval is the replicates' percentile interval. Strata are the
fixed design (every pair and direction is scored in every seed), so they are kept, not drawn:
the estimate is the mean over seeds of the mean over strata of the stratum means, which is what
the tables report (the mean over runs of each run's mean over directions). A paired comparison
passes the per-sample differences of two runs scored on the same samples, so that what the two
share (a hard frame, a hard pair) cancels before resampling. With one seed only the samples are
resampled, and :attr:`Interval.levels` says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

# Random integers drawn at once when resampling one stratum (bounds the memory of one draw).
_CHUNK = 1 << 22


@dataclass(frozen=True)
class Interval:
    """A mean with its bootstrap interval; ``lo``/``hi`` are NaN when nothing could be resampled."""

    estimate: float
    lo: float
    hi: float
    n_seeds: int
    n_samples: int  # finite values behind the estimate, all seeds together
    levels: str  # what was resampled: "seeds, frames", "frames" (one seed), "seeds" or "none"


def _clean(seeds: Sequence[Sequence[ArrayLike]]) -> list[list[np.ndarray]]:
    """The finite values of each non-empty stratum, seeds without any left out."""
    out = []
    for strata in seeds:
        kept = [v[np.isfinite(v)] for v in (np.asarray(s, dtype=np.float64).ravel() for s in strata)]
        kept = [v for v in kept if v.size]
        if kept:
            out.append(kept)
    return out


def nested_mean(seeds: Sequence[Sequence[ArrayLike]]) -> float:
    """The estimate :func:`hierarchical_mean` intervals: mean over seeds of the mean over strata of
    the stratum means (NaN ignored; NaN when nothing is finite)."""
    data = _clean(seeds)
    return float(np.mean([np.mean([v.mean() for v in strata]) for strata in data])) if data else float("nan")


def _resampled_means(values: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` bootstrap means of ``values`` (each a mean of ``len(values)`` draws with replacement)."""
    size = values.size
    if size == 1:
        return np.full(n, values[0])
    rows = max(1, _CHUNK // size)
    return np.concatenate(
        [
            values[rng.integers(size, size=(min(rows, n - start), size), dtype=np.int32)].mean(axis=1)
            for start in range(0, n, rows)
        ]
    )


def hierarchical_mean(
    seeds: Sequence[Sequence[ArrayLike]],
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    rng: np.random.Generator | int | None = 0,
) -> Interval:
    """The mean of ``seeds[s][k]`` (the values of stratum ``k`` in seed ``s``) with its percentile
    interval from ``n_boot`` two-stage bootstrap replicates: seeds drawn with replacement, then
    each drawn seed's values drawn with replacement within each stratum, independently for every
    draw of a seed. NaN values are ignored (undefined for that sample)."""
    if n_boot < 1 or not 0 < confidence < 1:
        raise ValueError(f"need n_boot >= 1 and 0 < confidence < 1, got {n_boot}, {confidence}")
    data = _clean(seeds)
    if not data:
        raise ValueError("no finite value to take the mean of")
    generator = np.random.default_rng(rng)
    n_seeds = len(data)
    n_samples = sum(v.size for strata in data for v in strata)
    by_seeds = n_seeds > 1
    by_frames = any(v.size > 1 for strata in data for v in strata)
    levels = ", ".join(name for name, used in (("seeds", by_seeds), ("frames", by_frames)) if used) or "none"
    estimate = nested_mean(data)
    if levels == "none":
        return Interval(estimate, float("nan"), float("nan"), n_seeds, n_samples, levels)
    drawn = generator.integers(n_seeds, size=(n_boot, n_seeds)) if by_seeds else np.zeros((n_boot, 1), int)
    replicates = np.empty(drawn.shape)
    for s, strata in enumerate(data):
        slots = drawn == s
        count = int(slots.sum())
        if count:
            replicates[slots] = np.mean([_resampled_means(v, count, generator) for v in strata], axis=0)
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(replicates.mean(axis=1), [tail, 1 - tail])
    return Interval(estimate, float(lo), float(hi), n_seeds, n_samples, levels)
