"""The reenact evaluation's per-sample file and its first-order-model protocol (akd, aed, csim, kid),
checked on synthetic 300VW with a perfect reenactor (ideal scores) and the copied source (failure)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from faceoff.datasets.crops import center_crop
from faceoff.datasets.prepared import PreparedSplit, load_split
from faceoff.datasets.registry import get_kind
from faceoff.evaluate.kid import KID_FEATURES
from faceoff.evaluate.metrics import cosine_to_reference, finite_mean
from faceoff.evaluate.reenact import METRICS, evaluate_reenact
from faceoff.evaluate.run import head
from faceoff.evaluate.samples import FILENAME, KEYS, read_samples
from faceoff.prepare.registry import prepare_item
from faceoff.synth.spec import SynthSpec
from tests.test_reenact import TEST, Oracle

CROP, FRAMES = 32, 6
A, B = TEST


class Truth:
    """The perfect reenactor: the real test frame whose annotated landmarks it is asked to follow
    (self-reenactment: the ground truth; cross-reenactment: the driver itself)."""

    def __init__(self, splits: list[PreparedSplit]) -> None:
        self.frames = {_key(p): f for s in splits for f, p in zip(s.frames, s.landmarks, strict=True)}

    def __call__(self, frames: np.ndarray, target_landmarks: np.ndarray) -> np.ndarray:
        return np.stack([self.frames[_key(p)] for p in target_landmarks])


def _key(points: np.ndarray) -> bytes:
    return np.asarray(points, dtype=np.float32).tobytes()


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The pair's two test videos evaluated with the perfect reenactor and the copied source, and the
    copied source under landmark finders that find no face on A's frame 2 (a driving frame) or on A's
    frame 0 (the source, so on every output of A)."""
    root = tmp_path_factory.mktemp("reenact-eval")
    get_kind("300vw").synth(root / "raw", SynthSpec(items=list(TEST), n_frames=8, size=64, fps=25, seed=0))
    tests = {}
    for item in TEST:
        report = prepare_item("300vw", root / "raw", item, root / item, {"size": 36}, progress=False)
        tests[item] = load_split(root / item, report["split"], mmap=False)
    crops = {k: center_crop(head(s, FRAMES), CROP) for k, s in tests.items()}
    oracle = Oracle(list(crops.values()))

    def blind_to(frame: int) -> Callable[[np.ndarray], np.ndarray | None]:
        blind = crops[A].frames[frame]
        return lambda image: None if np.array_equal(image, blind) else oracle.landmarks(image)

    kwargs = {"embed": oracle.embed, "crop_size": CROP, "max_frames": FRAMES, "fps": 5, "pair": TEST}
    truth = Truth(list(crops.values()))
    out: dict[str, Any] = {"crops": crops, "embed": oracle.embed}
    for name, reenact, landmarks in (
        ("truth", truth, oracle.landmarks),
        ("copy", None, oracle.landmarks),
        ("no_driver_face", None, blind_to(2)),
        ("no_output_face", None, blind_to(0)),
    ):
        metrics = evaluate_reenact(reenact, tests, root / name, landmarks=landmarks, **kwargs)
        out[name] = (metrics, read_samples(root / name / FILENAME))
    return out


def _rows(samples: pd.DataFrame, direction: str, source: str) -> pd.DataFrame:
    return samples[(samples["direction"] == direction) & (samples["source"] == source)]


def crops_index(scored: dict[str, Any], item: str) -> np.ndarray:
    return np.asarray(scored["crops"][item].index)


def _pixel_distance(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.asarray(points, np.float64) - reference, axis=-1).mean(axis=-1)


def test_the_perfect_reenactor_scores_the_ideal(scored: dict[str, Any]) -> None:
    metrics, samples = scored["truth"]
    assert metrics["akd"] == 0 and metrics["cross_akd"] == 0 and metrics["aed"] == 0
    assert metrics["akd_missed"] == metrics["cross_akd_missed"] == 0
    assert metrics["akd_resolution"] == CROP
    self_rows, cross_rows = samples[samples["direction"] == "self"], samples[samples["direction"] == "cross"]
    assert (self_rows["akd"] == 0).all() and (self_rows["aed"] == 0).all()
    assert (cross_rows["cross_akd"] == 0).all()
    # csim is the cosine to the source frame: its own person's later frames stay close, the driver
    # (another person) is the failure it exists to catch.
    crops, embed = scored["crops"], scored["embed"]
    for source, driver in ((A, B), (A, A), (B, A), (B, B)):
        direction = "self" if source == driver else "cross"
        column = "csim" if direction == "self" else "cross_csim"
        rows = samples[(samples["direction"] == direction) & (samples["source"] == source)]
        reference = embed(crops[source].frames[:1], crops[source].landmarks[:1])[0]
        expected = cosine_to_reference(embed(crops[driver].frames, crops[driver].landmarks), reference)
        np.testing.assert_allclose(rows[column], expected, rtol=1e-12)
    assert metrics["cross_csim"] < metrics["csim"] < 1


def test_the_copied_source_scores_the_failure(scored: dict[str, Any]) -> None:
    metrics, samples = scored["copy"]
    crops, embed = scored["crops"], scored["embed"]
    for source, driver in ((A, A), (A, B), (B, B), (B, A)):
        direction = "self" if source == driver else "cross"
        rows = samples[(samples["direction"] == direction) & (samples["source"] == source)]
        src, drv = crops[source], crops[driver]
        # The output is the source frame: akd is how far the driver's face moved from it.
        akd = _pixel_distance(src.landmarks[:1], drv.landmarks)
        np.testing.assert_allclose(rows["akd" if direction == "self" else "cross_akd"], akd, rtol=1e-12)
        assert (akd[1:] > 0).all()
        np.testing.assert_allclose(rows["csim" if direction == "self" else "cross_csim"], 1, rtol=1e-12)
        if direction == "self":
            own = embed(src.frames, src.landmarks)
            np.testing.assert_allclose(rows["aed"], np.linalg.norm(own - own[0], axis=1), rtol=1e-12)
    truth, _ = scored["truth"]
    assert metrics["akd"] > truth["akd"] and metrics["cross_akd"] > truth["cross_akd"]
    assert metrics["aed"] > truth["aed"]
    # KID: one frame repeated is far from the real frames; the real frames themselves score at most 0
    # (the unbiased estimate of two identical sets is (2/m^2) (sum of k(x, y), x != y / (m - 1) - sum of
    # k(x, x)), never positive for a positive semi-definite kernel).
    assert metrics["kid_features"] == truth["kid_features"] and metrics["kid_features"] in KID_FEATURES
    assert metrics["kid_subset"] == truth["kid_subset"] == 2 * FRAMES
    assert truth["kid"] <= 0 < metrics["kid"]


def test_frames_without_a_face_are_skipped_and_counted(scored: dict[str, Any]) -> None:
    # No face on A's frame 2: it drives A's own video and B's cross-reenactment; every output has one.
    metrics, samples = scored["no_driver_face"]
    assert metrics["akd_missed"] == metrics["cross_akd_missed"] == 1 and metrics["face_found"] == 1
    assert metrics["self"][A]["akd_missed"] == 1 and metrics["self"][B]["akd_missed"] == 0
    frame = crops_index(scored, A)[2]
    own = _rows(samples, "self", A).set_index("frame")
    assert np.isnan(own.loc[frame, "akd"]) and own["akd"].notna().sum() == FRAMES - 1
    assert np.isnan(_rows(samples, "cross", B).set_index("frame").loc[frame, "cross_akd"])
    copy, _ = scored["copy"]
    assert metrics["self"][B]["akd"] == copy["self"][B]["akd"]
    # No face on A's source frame, so none on any output of A (which copies it): all skipped.
    metrics, samples = scored["no_output_face"]
    assert metrics["self"][A]["akd_missed"] == FRAMES and metrics["self"][A]["akd"] is None
    assert metrics["akd_missed"] == FRAMES and metrics["akd"] == metrics["self"][B]["akd"]
    assert metrics["cross_akd_missed"] == FRAMES + 1  # A driven by B, and B driven by A's frame 0
    assert metrics["face_found"] == metrics["cross_face_found"] == 0.5


@pytest.mark.parametrize("name", ["truth", "copy", "no_driver_face", "no_output_face"])
def test_per_sample_means_are_the_metrics(scored: dict[str, Any], name: str) -> None:
    metrics, samples = scored[name]
    assert list(samples.columns[:4]) == list(KEYS)
    per_frame = [c for c in samples.columns if c not in KEYS]
    assert set(per_frame) == set(METRICS)
    for direction, group in (("self", metrics["self"]), ("cross", metrics["cross"])):
        for name_, values in group.items():
            source = name_.split("<-")[0]
            rows = _rows(samples, direction, source)
            assert len(rows) == values["n_frames"]
            for column in per_frame:
                if column in values:
                    assert finite_mean(rows[column].to_numpy()) == values[column], (direction, source, column)
                else:
                    assert rows[column].isna().all()
    for column in per_frame:
        group = metrics["cross"] if column.startswith("cross_") else metrics["self"]
        means = [v[column] for v in group.values() if v[column] is not None]  # a video without a value
        assert metrics[column] == pytest.approx(np.mean(means), rel=1e-15)


def test_a_run_pairs_with_the_copy_baseline_row_by_row(scored: dict[str, Any]) -> None:
    (_, run), (_, copy) = scored["truth"], scored["copy"]
    assert run[list(KEYS)].equals(copy[list(KEYS)])
    paired = run.merge(copy, on=list(KEYS), suffixes=("_run", "_copy"), validate="one_to_one")
    assert len(paired) == len(run) == 4 * FRAMES
    # The frame key is the driving frame's number in its prepared split.
    for source, driver in ((A, A), (A, B), (B, B), (B, A)):
        rows = paired[(paired["source"] == source) & (paired["target"] == driver)]
        np.testing.assert_array_equal(rows["frame"], crops_index(scored, driver))
    # Paired per frame: the perfect reenactor beats the copy on every self frame but the source itself.
    own = paired[paired["direction"] == "self"]
    later = own["frame"] != own.groupby("source")["frame"].transform("min")
    assert (own["akd_run"] == 0).all() and (own.loc[later, "akd_copy"] > 0).all()
