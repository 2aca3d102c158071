"""The hierarchical bootstrap against cases whose answer is known: normal samples with a known
mean and known seed and frame variances."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceoff.evaluate.bootstrap import hierarchical_mean, nested_mean

Z95 = 1.959964


def _seeds(rng: np.random.Generator, n_seeds: int, n: int, tau: float, sigma: float, mu: float = 1.0) -> list:
    """``n_seeds`` seeds of ``n`` frames: frame = mu + seed effect (sd tau) + frame noise (sd sigma)."""
    return [[rng.normal(mu + rng.normal(0, tau), sigma, n)] for _ in range(n_seeds)]


def test_one_seed_covers_the_true_mean_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(0)
    intervals = [hierarchical_mean(_seeds(rng, 1, 80, 0.0, 1.0), n_boot=500, rng=r) for r in range(200)]
    coverage = np.mean([i.lo < 1.0 < i.hi for i in intervals])
    assert 0.89 <= coverage <= 0.99  # 95% +- 3 binomial sd at 200 repetitions
    width = np.mean([i.hi - i.lo for i in intervals])
    assert width == pytest.approx(2 * Z95 / math.sqrt(80), rel=0.1)
    assert {i.levels for i in intervals} == {"frames"} and intervals[0].n_seeds == 1


def test_many_seeds_cover_the_true_mean_and_carry_the_seed_spread() -> None:
    """Seed effects (sd 0.5) dwarf the frame noise's share: the interval must be as wide as the
    spread of a mean of 20 seeds, sqrt(tau^2 / S + sigma^2 / (S n))."""
    rng = np.random.default_rng(1)
    n_seeds, n, tau, sigma = 20, 30, 0.5, 1.0
    intervals = [
        hierarchical_mean(_seeds(rng, n_seeds, n, tau, sigma), n_boot=500, rng=r) for r in range(150)
    ]
    coverage = np.mean([i.lo < 1.0 < i.hi for i in intervals])
    assert 0.86 <= coverage <= 0.99
    theory = 2 * Z95 * math.sqrt(tau**2 / n_seeds + sigma**2 / (n_seeds * n))
    assert np.mean([i.hi - i.lo for i in intervals]) == pytest.approx(theory, rel=0.12)
    assert intervals[0].levels == "seeds, frames" and intervals[0].n_samples == n_seeds * n


def _rms_width(rng: np.random.Generator, n_seeds: int, n: int, tau: float, sigma: float, reps: int) -> float:
    """Root mean square interval width over ``reps`` data sets: squares average the seeds' sample
    variance without bias, so the width compares to theory without the skew of a few-seed sd."""
    widths = [
        (lambda i: i.hi - i.lo)(hierarchical_mean(_seeds(rng, n_seeds, n, tau, sigma), rng=r))
        for r in range(reps)
    ]
    return float(np.sqrt(np.mean(np.square(widths))))


def test_one_seed_sees_only_the_frames_many_seeds_see_the_training_spread() -> None:
    """With a large seed effect (tau 1, frame noise 0.2), one seed's interval is frame-level: width
    2 z sigma / sqrt(n), blind to tau. With S seeds it is the bootstrap's width of a mean of S seed
    means, 2 z sqrt((S - 1) / S) sqrt(tau^2 / S + sigma^2 / (S n)): it shrinks as 1 / sqrt(S)."""
    rng = np.random.default_rng(2)
    tau, sigma, n = 1.0, 0.2, 50
    assert _rms_width(rng, 1, n, tau, sigma, 20) == pytest.approx(2 * Z95 * sigma / math.sqrt(n), rel=0.1)
    for n_seeds in (4, 16):
        theory = 2 * Z95 * math.sqrt((n_seeds - 1) / n_seeds * (tau**2 + sigma**2 / n) / n_seeds)
        assert _rms_width(rng, n_seeds, n, tau, sigma, 60) == pytest.approx(theory, rel=0.12)


def test_pairing_removes_a_shared_per_sample_effect() -> None:
    """Two variants scored on the same frames share each frame's difficulty (sd 5); their true
    difference is 0.1 and their own noise sd 0.1: the paired differences' interval is as narrow
    as that noise allows, and covers 0.1; each variant's own interval is ~50 times wider."""
    rng = np.random.default_rng(3)
    n = 200
    hardness = rng.normal(0, 5.0, n)
    a = 1.1 + hardness + rng.normal(0, 0.1, n)
    b = 1.0 + hardness + rng.normal(0, 0.1, n)
    paired = hierarchical_mean([[a - b]], rng=0)
    alone = hierarchical_mean([[a]], rng=0)
    assert paired.lo < 0.1 < paired.hi
    assert paired.hi - paired.lo == pytest.approx(2 * Z95 * math.sqrt(2) * 0.1 / math.sqrt(n), rel=0.15)
    assert (alone.hi - alone.lo) > 30 * (paired.hi - paired.lo)


def test_the_estimate_is_the_mean_of_seed_means_of_stratum_means() -> None:
    """Strata of unequal size weigh alike (the tables average the directions, then the runs); NaN
    values are undefined samples and are left out."""
    seeds = [[[1.0, 1.0, 1.0, np.nan], [3.0]], [[5.0, 7.0]]]
    interval = hierarchical_mean(seeds, n_boot=200)
    assert interval.estimate == pytest.approx(((1 + 3) / 2 + 6) / 2) == nested_mean(seeds)
    assert interval.n_seeds == 2 and interval.n_samples == 6
    assert interval.lo <= interval.estimate <= interval.hi


def test_levels_say_what_was_resampled() -> None:
    per_run = hierarchical_mean([[[0.1]], [[0.2]], [[0.3]]], n_boot=300)
    assert per_run.levels == "seeds" and 0.1 <= per_run.lo < per_run.hi <= 0.3
    single = hierarchical_mean([[[0.5]]])
    assert (
        single.levels == "none" and math.isnan(single.lo) and math.isnan(single.hi) and single.estimate == 0.5
    )
    assert hierarchical_mean([[[1.0, 2.0, 3.0]]], rng=7) == hierarchical_mean([[[1.0, 2.0, 3.0]]], rng=7)
    with pytest.raises(ValueError, match="no finite value"):
        hierarchical_mean([[[np.nan]]])
    with pytest.raises(ValueError, match="n_boot"):
        hierarchical_mean([[[1.0]]], n_boot=0)
