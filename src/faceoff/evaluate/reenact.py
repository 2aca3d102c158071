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

The copy-input baseline (``reenact=None``: output = source frame) runs through the same code.
This module registers the ``reenact`` evaluation kind (:mod:`faceoff.evaluate.kinds`): this
scoring, its glossary and the study's appendix figures.
Landmarks of another video are used in their own crop coordinates: 300VW crops are centred on
the landmarks at a fixed scale, so faces of different videos sit at about the same place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from faceoff.datasets.crops import center_crop
from faceoff.datasets.prepared import PreparedSplit
from faceoff.evaluate import metrics as m
from faceoff.evaluate.glossary import Glossary
from faceoff.evaluate.kinds import (
    Embed,
    EvaluationJob,
    EvaluationKind,
    FigureJob,
    Landmarks,
    register_evaluation,
)
from faceoff.evaluate.run import METRICS as TRANSLATE_METRICS
from faceoff.evaluate.run import head
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
}
GLOSSARY = Glossary(
    "reenact",
    "The first frame of each of the pair's two test videos is the source. Self-reenactment drives "
    "it with its own video's landmarks: the real frame is the ground truth and the target; values "
    "are means over frames, then over the two videos. Cross-reenactment (cross_*) drives it with "
    "the other video's landmarks: no ground truth exists. Identity descriptors come from the "
    "family's evaluate.identity_net.",
    METRICS,
)
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


def _score(
    outputs: np.ndarray,
    source_found: np.ndarray | None,
    driving: np.ndarray,
    person: np.ndarray,
    center: np.ndarray,
    embed: Embed,
    landmarks: Landmarks,
    what: str,
) -> dict[str, Any]:
    """What self- and cross-reenactment share: landmark scores and identity to the source ``person``
    (their mean descriptor), centred on ``center`` and raw; ``what`` names the progress bar."""
    found = [landmarks(image) for image in progress_bar(outputs, desc=f"{what}: landmarks", unit="frame")]
    # Where no face is found, align the output with the landmarks it was asked to follow.
    points = np.stack([f if f is not None else d for f, d in zip(found, driving, strict=True)])
    descriptors = embed(outputs, points)
    shift_ref = np.broadcast_to(
        np.full((68, 2), np.nan) if source_found is None else source_found, (len(outputs), 68, 2)
    )
    return {
        "driving_nme": m.finite_mean(m.landmark_nme(found, driving)),
        "landmark_shift": m.finite_mean(m.landmark_nme(found, shift_ref)),
        "face_found": sum(f is not None for f in found) / len(found),
        "identity_sim_source": m.finite_mean(m.cosine_to_reference(descriptors, person, center)),
        "identity_cos_source": m.finite_mean(m.cosine_to_reference(descriptors, person)),
    }


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
    samples.png and faceoff.mp4 to ``out_dir``.

    ``pair`` names the two videos in ``test_splits`` (default: the first two by name). Top-level
    values are the :data:`METRICS`, means over both videos (self) and both directions (cross);
    per-video and per-direction values are kept under ``self`` and ``cross``.
    metrics.json is written last, so its presence means the evaluation finished.
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
    center = (refs[a] + refs[b]) / 2

    result: dict[str, Any] = {"pair": [a, b], "copy_input": reenact is copy_source, "self": {}, "cross": {}}
    samples: dict[str, list[Any]] = {k: [] for k in ("source", "source_landmarks", "output", "target")}
    samples |= {"target_landmarks": [], "titles": []}
    videos = {}
    for item, other in ((a, b), (b, a)):
        split = splits[item]
        n = len(split)
        sources = np.repeat(split.frames[:1], n, axis=0)
        source_found = landmarks(split.frames[0])
        what = f"evaluate {item}"
        outputs = reenact_all(reenact, sources, split.landmarks, f"{what}: reenact")
        scores = _score(outputs, source_found, split.landmarks, refs[item], center, embed, landmarks, what)
        # Pixels from outside a frame are black fill: scored against the target where it has its
        # own pixels, against the source (and target vs source) where both have theirs.
        both = np.asarray(split.valid) & np.asarray(split.valid[:1])
        input_ssim, target_ssim = m.ssim(outputs, sources, both), m.ssim(split.frames, sources, both)
        result["self"][item] = {
            "n_frames": n,
            "l1_gt": m.finite_mean(m.l1(outputs, split.frames, split.valid)),
            "ssim_gt": m.finite_mean(m.ssim(outputs, split.frames, split.valid)),
            "driving_nme": scores["driving_nme"],
            "landmark_shift": scores["landmark_shift"],
            "target_shift": m.finite_mean(
                m.landmark_nme(list(split.landmarks), np.repeat(split.landmarks[:1], n, 0))
            ),
            "identity_sim_source": scores["identity_sim_source"],
            "identity_cos_source": scores["identity_cos_source"],
            "ssim_input": m.finite_mean(input_ssim),
            "ssim_input_excess": m.finite_mean(input_ssim - target_ssim),
            "face_found": scores["face_found"],
        }
        videos[item] = (sources, outputs)
        for j in np.linspace(0, n - 1, num=min(N_SAMPLES, n)).astype(int):
            _add_sample(samples, split, split, outputs[j], j, f"{item} #{j}")

        driver = splits[other]
        k = min(n, len(driver))
        what = f"evaluate {item} by {other}"
        cross_out = reenact_all(reenact, sources[:k], driver.landmarks[:k], f"{what}: reenact")
        scores = _score(
            cross_out, source_found, driver.landmarks[:k], refs[item], center, embed, landmarks, what
        )
        result["cross"][f"{item}<-{other}"] = {
            "n_frames": k,
            "cross_driving_nme": scores["driving_nme"],
            "cross_landmark_shift": scores["landmark_shift"],
            "cross_identity_sim_source": scores["identity_sim_source"],
            "cross_face_found": scores["face_found"],
        }
        j = k // 2
        _add_sample(samples, split, driver, cross_out[j], j, f"{item} by {other} #{j}")

    for key in METRICS:
        group = result["cross"] if key.startswith("cross_") else result["self"]
        values = [v[key] for v in group.values() if v.get(key) is not None]
        result[key] = float(np.mean(values)) if values else None
    result["n_frames"] = sum(v["n_frames"] for v in result["self"].values())

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
    write_json(out / "metrics.json", result)
    return result


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
