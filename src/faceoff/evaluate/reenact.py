"""Quantitative evaluation of face reenactment, which the 300VW study judged by eye only.

For each of a pair of test videos ``(a, b)``, its first frame is the source and every frame
(up to ``max_frames``) a target:

- self-reenactment (the source driven by its own video's landmarks): the real target frame
  exists, so the output is scored against it (L1, SSIM), against the target's landmarks (does
  it follow the conditioning?), against the source person (does it keep the identity?) and
  against its own input (the identity-mapping collapse the study saw without the feature terms);
- cross-reenactment (``a``'s source driven by ``b``'s landmarks, and ``b``'s by ``a``'s): no
  truth exists; landmark error and identity similarity to the source person.

Identity similarities are cosines centred on the mean of the pair's two persons, as in
:func:`faceoff.evaluate.run.evaluate_pair`; with two persons the similarity to the other (the
driver) is exactly the negative, so it is not reported separately. A metric that means what
a translation metric means has its name and definition (``ssim_input``, ``identity_sim_source``);
one that means something else has its own (:data:`METRICS`, the ``reenact`` glossary).

The first-order-model protocol (Siarohin et al. 2019) is reported under its own names: ``akd``
(distance in pixels, at the evaluated crop size ``akd_resolution``, between the landmarks found on
the output and on the driving frame; frames without a detection skipped and counted in
``akd_missed``), ``aed`` (identity descriptor distance to the real frame) and ``csim`` (identity
cosine to the source frame), per frame, averaged. Real frames are seen as outputs are (landmarks
found on them, descriptors aligned by those), so the real frame itself scores the ideal.

Every per-frame value is also kept in ``per_sample.csv`` (:mod:`faceoff.evaluate.samples`): one
row per scored output, ``direction`` "self" or "cross", ``source`` the source video, ``target``
the driving video, ``frame`` the driving frame's index in its prepared split; self rows carry the
self metrics, cross rows the ``cross_*`` ones (NaN elsewhere).

The copy-input baseline (``reenact=None``: output = source frame) runs through the same code.
This module registers the ``reenact`` evaluation kind (:mod:`faceoff.evaluate.kinds`): this
scoring, its glossary and the study's appendix figures.
Landmarks of another video are used in their own crop coordinates: 300VW crops are centred on
the landmarks at a fixed scale, so faces of different videos sit at about the same place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from faceoff.datasets.crops import center_crop
from faceoff.datasets.prepared import PreparedSplit
from faceoff.evaluate import metrics as m
from faceoff.evaluate.glossary import Glossary
from faceoff.evaluate.kid import kid
from faceoff.evaluate.kinds import (
    Embed,
    EvaluationJob,
    EvaluationKind,
    FigureJob,
    Landmarks,
    register_evaluation,
)
from faceoff.evaluate.run import KID_SEED, KID_SUBSET_SIZE, KID_SUBSETS, head
from faceoff.evaluate.run import METRICS as TRANSLATE_METRICS
from faceoff.evaluate.samples import FILENAME, write_samples
from faceoff.faces.heatmaps import heatmap_image
from faceoff.io.atomic import write_json
from faceoff.io.progress import progress_bar
from faceoff.plots.reenact import error_heatmaps, loss_magnitudes, reenactment_grid
from faceoff.plots.video import side_by_side_video

Reenact = Callable[[np.ndarray, np.ndarray], np.ndarray]

METRICS = {
    "l1_gt": TRANSLATE_METRICS["l1_gt"],
    "ssim_gt": TRANSLATE_METRICS["ssim_gt"],
    "driving_nme": "landmarks found on the output vs the driving (target) landmarks / inter-ocular "
    "distance (lower = follows the conditioning)",
    "landmark_shift": "landmarks found on the output vs those found on the source frame / inter-ocular "
    "distance (0 = the face did not move, as when copying the input)",
    "target_shift": "the target's landmarks vs the source's / inter-ocular distance (the movement a "
    "perfect output shows; the same for every run)",
    "identity_sim_source": TRANSLATE_METRICS["identity_sim_source"],
    "identity_cos_source": "raw cosine of the output's identity descriptor to the source person's mean "
    "(near 1 for any face)",
    "ssim_input": TRANSLATE_METRICS["ssim_input"],
    "ssim_input_excess": "SSIM(output, source) - SSIM(real target, source): how much closer to its input "
    "the output is than the real target (> 0: the identity-mapping collapse the study saw; 0 for a "
    "perfect output)",
    "face_found": TRANSLATE_METRICS["face_found"],
    "cross_driving_nme": "cross-reenactment: driving_nme with the other video's landmarks driving",
    "cross_landmark_shift": "cross-reenactment: landmark_shift with the other video's landmarks driving",
    "cross_identity_sim_source": "cross-reenactment: identity_sim_source with the other video's landmarks "
    "driving",
    "cross_face_found": "cross-reenactment: face_found with the other video's landmarks driving",
    "akd": "average keypoint distance (first-order-model protocol): mean distance in pixels, at the "
    "evaluated crop size (akd_resolution), between the 68 landmarks found on the output and those found on "
    "the driving frame; frames where either has no face found are skipped, counted in akd_missed (lower = "
    "follows the conditioning; 0 for the real frame)",
    "aed": "average euclidean distance (first-order-model protocol): L2 distance between the identity "
    "descriptors of the output and of the real target frame (the source person's own frame), each aligned "
    "by the landmarks found on it, per frame, averaged (lower = keeps the identity; 0 for the real frame)",
    "csim": "cosine similarity of the identity descriptors of the source frame (the one image the "
    "reenactor was given) and of the output, each aligned by the landmarks found on it, per frame, "
    "averaged, not centred (higher = keeps the identity; 1 when copying the source)",
    "cross_akd": "cross-reenactment: akd with the other video's landmarks driving",
    "cross_csim": "cross-reenactment: csim with the other video's landmarks driving",
}
# Set-level facts of the protocol, beside the per-frame means (not in per_sample.csv).
PROTOCOL = {
    "akd_resolution": "the side in pixels of the crops akd is measured at (the evaluated crop size)",
    "akd_missed": "self-reenactment outputs akd skipped because no face was found on them or on their "
    "driving frame (a count over both videos)",
    "cross_akd_missed": "cross-reenactment: akd_missed with the other video's landmarks driving",
    "kid": TRANSLATE_METRICS["kid"],
    "kid_std": TRANSLATE_METRICS["kid_std"],
    "kid_subset": TRANSLATE_METRICS["kid_subset"],
}
GLOSSARY = Glossary(
    "reenact",
    "The first frame of each of the pair's two test videos is the source. Self-reenactment drives "
    "it with its own video's landmarks: the real frame is the ground truth and the target; values "
    "are means over frames, then over the two videos. Cross-reenactment (cross_*) drives it with "
    "the other video's landmarks: no ground truth exists. Identity descriptors come from the "
    "family's evaluate.identity_net.",
    METRICS | PROTOCOL,
)
# The per-frame scores cross-reenactment keeps (as cross_<name>): no ground truth, so no aed.
CROSS = ("driving_nme", "landmark_shift", "identity_sim_source", "face_found", "akd", "csim")
BATCH = 16
N_SAMPLES = 3


def copy_source(frames: np.ndarray, target_landmarks: np.ndarray) -> np.ndarray:
    """The trivial reenactor: every output is its source frame."""
    return np.array(frames, dtype=np.uint8, copy=True)


def reenact_all(
    reenact: Reenact, frames: np.ndarray, target_landmarks: np.ndarray, desc: str = "reenact"
) -> np.ndarray:
    """Reenact in batches of :data:`BATCH`, checking each output batch is uint8 like its input;
    a progress bar (``desc``) counts the frames."""
    with progress_bar(total=len(frames), desc=desc, unit="frame") as bar:

        def batch(f: np.ndarray, lm: np.ndarray) -> np.ndarray:
            out = reenact(f, lm)
            bar.update(len(f))
            return out

        return m.apply_in_batches(batch, frames, target_landmarks, batch=BATCH, name="reenactor")


def landmark_distance(
    found: Sequence[np.ndarray | None], reference: Sequence[np.ndarray | None]
) -> np.ndarray:
    """Per-frame mean distance in pixels between two lists of landmarks (68, 2); NaN where either
    is None (no face found)."""
    out = np.full(len(found), np.nan)
    for i, (points, ref) in enumerate(zip(found, reference, strict=True)):
        if points is not None and ref is not None:
            diff = np.asarray(points, dtype=np.float64) - np.asarray(ref, dtype=np.float64)
            out[i] = np.linalg.norm(diff, axis=1).mean()
    return out


def _aligned(found: Sequence[np.ndarray | None], fallback: np.ndarray) -> np.ndarray:
    """The landmarks to align each image's face by: those found on it, else ``fallback``'s."""
    return np.stack([f if f is not None else d for f, d in zip(found, fallback, strict=True)])


@dataclass(frozen=True)
class Seen:
    """A video's real frames seen as an output is: the landmarks found on each (None: no face) and the
    identity descriptors aligned by them, so that a perfect output scores akd = aed = 0 and the
    copied source csim = 1 (the first-order-model protocol detects on both sides)."""

    found: list[np.ndarray | None]
    descriptors: np.ndarray

    @classmethod
    def of(cls, split: PreparedSplit, embed: Embed, landmarks: Landmarks, what: str) -> Seen:
        frames = progress_bar(split.frames, desc=f"{what}: landmarks", unit="frame")
        found = [landmarks(image) for image in frames]
        return cls(found, np.asarray(embed(split.frames, _aligned(found, split.landmarks)), np.float64))


def _score(
    outputs: np.ndarray,
    source: Seen,
    driver: Sequence[np.ndarray | None],
    driving: np.ndarray,
    person: np.ndarray,
    center: np.ndarray,
    embed: Embed,
    landmarks: Landmarks,
    what: str,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """What self- and cross-reenactment share, per frame: landmark scores against the ``driving``
    landmarks (and the ``driver`` frames' found ones), identity to the source ``person`` (their
    mean descriptor) centred on ``center`` and raw, and to the source frame's; with the outputs'
    descriptors. ``what`` names the progress bar."""
    found = [landmarks(image) for image in progress_bar(outputs, desc=f"{what}: landmarks", unit="frame")]
    # Where no face is found, align the output with the landmarks it was asked to follow.
    descriptors = embed(outputs, _aligned(found, driving))
    source_found = source.found[0]
    shift_ref = np.broadcast_to(
        np.full((68, 2), np.nan) if source_found is None else source_found, (len(outputs), 68, 2)
    )
    scores = {
        "driving_nme": m.landmark_nme(found, driving),
        "landmark_shift": m.landmark_nme(found, shift_ref),
        "face_found": np.array([f is not None for f in found], dtype=np.float64),
        "identity_sim_source": m.cosine_to_reference(descriptors, person, center),
        "identity_cos_source": m.cosine_to_reference(descriptors, person),
        "akd": landmark_distance(found, driver),
        "csim": m.cosine_to_reference(descriptors, source.descriptors[0]),
    }
    return scores, descriptors


def evaluate_reenact(
    reenact: Reenact | None,
    test_splits: Mapping[str, PreparedSplit],
    out_dir: str | os.PathLike[str],
    embed: Embed,
    landmarks: Landmarks,
    crop_size: int | None = None,
    max_frames: int | None = 200,
    video_frames: int = 200,
    fps: float = 25.0,
    pair: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Score ``reenact(frames, target_landmarks) -> frames`` on two test videos; write metrics.json,
    per_sample.csv, samples.png and faceoff.mp4 to ``out_dir``.

    ``pair`` names the two videos in ``test_splits`` (default: the first two by name). Top-level
    values are the :data:`METRICS`, means over both videos (self) and both directions (cross);
    per-video and per-direction values are kept under ``self`` and ``cross``, every frame's in
    per_sample.csv. metrics.json is written last, so its presence means the evaluation finished.
    """
    reenact = reenact or copy_source
    out = Path(out_dir)
    a, b = pair if pair is not None else tuple(sorted(test_splits)[:2])
    if a not in test_splits or b not in test_splits or a == b:
        raise ValueError(f"{out}: need two distinct test videos, got {a!r}, {b!r} of {sorted(test_splits)}")
    splits = {}
    for item in (a, b):
        split = test_splits[item]
        if len(split) == 0:
            raise ValueError(f"{out}: empty test split of {item!r}")
        split = head(split, max_frames)
        splits[item] = center_crop(split, crop_size) if crop_size is not None else split
    refs = {k: m.reference_descriptor(embed(s.frames, s.landmarks)) for k, s in splits.items()}
    seen = {k: Seen.of(s, embed, landmarks, f"evaluate {k}: real frames") for k, s in splits.items()}
    center = (refs[a] + refs[b]) / 2

    result: dict[str, Any] = {"pair": [a, b], "copy_input": reenact is copy_source, "self": {}, "cross": {}}
    samples: dict[str, list[Any]] = {k: [] for k in ("source", "source_landmarks", "output", "target")}
    samples |= {"target_landmarks": [], "titles": []}
    videos = {}
    rows = []
    for item, other in ((a, b), (b, a)):
        split = splits[item]
        n = len(split)
        sources = np.repeat(split.frames[:1], n, axis=0)
        what = f"evaluate {item}"
        outputs = reenact_all(reenact, sources, split.landmarks, f"{what}: reenact")
        scores, descriptors = _score(
            outputs, seen[item], seen[item].found, split.landmarks, refs[item], center, embed, landmarks, what
        )
        # Pixels from outside a frame are black fill: scored against the target where it has its
        # own pixels, against the source (and target vs source) where both have theirs.
        both = np.asarray(split.valid) & np.asarray(split.valid[:1])
        input_ssim, target_ssim = m.ssim(outputs, sources, both), m.ssim(split.frames, sources, both)
        frames = {
            "l1_gt": m.l1(outputs, split.frames, split.valid),
            "ssim_gt": m.ssim(outputs, split.frames, split.valid),
            **scores,
            "target_shift": m.landmark_nme(list(split.landmarks), np.repeat(split.landmarks[:1], n, 0)),
            "ssim_input": input_ssim,
            "ssim_input_excess": input_ssim - target_ssim,
            "aed": np.linalg.norm(np.asarray(descriptors, np.float64) - seen[item].descriptors, axis=1),
        }
        result["self"][item] = {"n_frames": n} | {
            k: m.finite_mean(frames[k]) for k in METRICS if not k.startswith("cross_")
        }
        result["self"][item]["akd_missed"] = int(np.isnan(frames["akd"]).sum())
        rows.append(_rows("self", item, item, split.index, frames))
        videos[item] = (sources, outputs)
        for j in np.linspace(0, n - 1, num=min(N_SAMPLES, n)).astype(int):
            _add_sample(samples, split, split, outputs[j], j, f"{item} #{j}")

        driver = splits[other]
        k = min(n, len(driver))
        what = f"evaluate {item} by {other}"
        cross_out = reenact_all(reenact, sources[:k], driver.landmarks[:k], f"{what}: reenact")
        scores, _ = _score(
            cross_out,
            seen[item],
            seen[other].found[:k],
            driver.landmarks[:k],
            refs[item],
            center,
            embed,
            landmarks,
            what,
        )
        frames = {f"cross_{key}": scores[key] for key in CROSS}
        result["cross"][f"{item}<-{other}"] = {"n_frames": k} | {
            key: m.finite_mean(values) for key, values in frames.items()
        }
        result["cross"][f"{item}<-{other}"]["cross_akd_missed"] = int(np.isnan(scores["akd"]).sum())
        rows.append(_rows("cross", item, other, driver.index[:k], frames))
        j = k // 2
        _add_sample(samples, split, driver, cross_out[j], j, f"{item} by {other} #{j}")

    for key in METRICS:
        group = result["cross"] if key.startswith("cross_") else result["self"]
        values = [v[key] for v in group.values() if v.get(key) is not None]
        result[key] = float(np.mean(values)) if values else None
    result["n_frames"] = sum(v["n_frames"] for v in result["self"].values())
    result["akd_resolution"] = int(splits[a].size)
    for key, group in (("akd_missed", "self"), ("cross_akd_missed", "cross")):
        result[key] = sum(v[key] for v in result[group].values())
    # KID of the self-reenactment outputs against the real frames they reconstruct (the driving video's).
    score = kid(
        np.concatenate([splits[k].frames for k in (a, b)]),
        np.concatenate([videos[k][1] for k in (a, b)]),
        subsets=KID_SUBSETS,
        subset_size=KID_SUBSET_SIZE,
        seed=KID_SEED,
    )
    result |= {
        "kid": score.mean if np.isfinite(score.mean) else None,  # JSON has no NaN
        "kid_std": score.std if np.isfinite(score.std) else None,
        "kid_subset": score.subset_size,
        "kid_features": score.features,
    }

    sources, outputs = videos[a]
    n = min(video_frames, len(outputs))
    size = outputs.shape[1]
    marks = np.stack([heatmap_image(p, size) for p in splits[a].landmarks[:n]])
    side_by_side_video(
        out / "faceoff.mp4",
        [sources[:n], marks, outputs[:n], splits[a].frames[:n]],
        fps=fps,
        labels=["source", "target landmarks", "output", "real target"],
    )
    arrays = {k: np.asarray(v) for k, v in samples.items()}
    reenactment_grid(
        arrays["source"],
        arrays["source_landmarks"],
        arrays["output"],
        arrays["target"],
        arrays["target_landmarks"],
        out / "samples.png",
        row_titles=list(arrays["titles"]),
    )
    write_samples(out / FILENAME, pd.concat(rows, ignore_index=True))
    write_json(out / "metrics.json", result)
    return result


def _rows(
    direction: str, source: str, target: str, index: np.ndarray, frames: Mapping[str, np.ndarray]
) -> pd.DataFrame:
    """per_sample.csv rows of one video's outputs: the keys, then each metric's per-frame values."""
    keys = {"direction": direction, "source": source, "target": target, "frame": np.asarray(index)}
    return pd.DataFrame(keys | {k: np.asarray(v, dtype=np.float64) for k, v in frames.items()})


def _add_sample(
    samples: dict[str, list[Any]],
    source: PreparedSplit,
    driver: PreparedSplit,
    output: np.ndarray,
    j: int,
    title: str,
) -> None:
    """One appendix-A row: the source's first frame driven by ``driver``'s frame ``j``."""
    samples["source"].append(source.frames[0])
    samples["source_landmarks"].append(source.landmarks[0])
    samples["output"].append(output)
    samples["target"].append(driver.frames[j])
    samples["target_landmarks"].append(driver.landmarks[j])
    samples["titles"].append(title)


def evaluate_job(job: EvaluationJob) -> dict[str, Any]:
    """The ``reenact`` kind's evaluation: :func:`evaluate_reenact` of the run's ``reenact``."""
    reenact = None if job.model is None else job.model.reenact
    return evaluate_reenact(reenact, dict(job.tests), pair=job.pair, **job.scoring())


def appendix_figures(job: FigureJob) -> None:
    """The study's appendix figures on fixed self-reenactment samples of the pair's first test video
    (source frame -> a later frame's landmarks): ``samples-<pair>-<variant>.png`` (source,
    landmarks, generated, target), ``errors-<pair>.png`` (error heatmaps) and ``loss-terms.png``
    (each loss term's final magnitude)."""
    first = job.runs[0]
    test = center_crop(job.test_split(first), int(first.settings["crop_size"]))
    n = len(test)
    sources = np.linspace(0, max(0, n // 2 - 1), num=min(3, n)).astype(int)
    targets = np.minimum(sources + n // 2, n - 1)
    lm_s, lm_t = test.landmarks[sources], test.landmarks[targets]
    outputs = {}
    for r in progress_bar(job.runs, desc=f"figure {job.family}: reenact {job.pair}", unit="run"):
        outputs[r.variant] = job.model(r).reenact(test.frames[sources], lm_t)
        reenactment_grid(
            test.frames[sources],
            lm_s,
            outputs[r.variant],
            test.frames[targets],
            lm_t,
            job.folder / f"samples-{job.pair}-{r.variant}.png",
            row_titles=[f"{s}→{t}" for s, t in zip(sources, targets, strict=True)],
        )
    error_heatmaps(
        test.frames[sources], lm_t, test.frames[targets], outputs, job.folder / f"errors-{job.pair}.png"
    )
    loss_magnitudes({r.variant: job.losses(r) for r in job.runs}, job.folder / "loss-terms.png")


KIND = register_evaluation(EvaluationKind("reenact", GLOSSARY, evaluate_job, appendix_figures))
