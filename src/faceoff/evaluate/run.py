"""Evaluate one translation pair: translate both test splits both ways and score the outputs.

The "copy input" baseline is the same call with :func:`copy_input` as the translator, so the
table's trivial row comes from exactly the code that scores the trained runs. This module
registers the ``translate`` evaluation kind (:mod:`faceoff.evaluate.kinds`): that scoring, its
glossary and the family's comparison figure.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from faceoff.datasets.crops import center_crop
from faceoff.datasets.prepared import PreparedSplit
from faceoff.evaluate import metrics as m
from faceoff.evaluate.expression import expression_error
from faceoff.evaluate.glossary import Glossary
from faceoff.evaluate.headpose import pose_error
from faceoff.evaluate.kid import FID_MIN_SAMPLES, fid, kid
from faceoff.evaluate.kinds import (
    Embed,
    EvaluationJob,
    EvaluationKind,
    FigureJob,
    Landmarks,
    TargetShare,
    register_evaluation,
)
from faceoff.evaluate.retrieval import gallery_means, retrieval_hits, retrieval_net
from faceoff.evaluate.samples import FILENAME as SAMPLES_FILE
from faceoff.evaluate.samples import write_samples
from faceoff.evaluate.sharpness import laplacian_variance, sharpness_ratio
from faceoff.faces.identity import IDENTITY_NETS, make_embedder
from faceoff.io.atomic import write_json
from faceoff.io.progress import progress_bar
from faceoff.plots.grids import comparison_figure, sample_grid
from faceoff.plots.video import side_by_side_video

log = logging.getLogger(__name__)
Translate = Callable[[str, np.ndarray, np.ndarray | None], np.ndarray]

DIRECTIONS = ("A2B", "B2A")
# Each person's identity reference: the mean descriptor of this many frames spread over their train
# split (``evaluate.identity_reference_frames``; 0: the test frames being scored, as before).
# The scored frames are one short stretch of a video (the demo's 40: 1.6 s of one head pose, one
# expression, one light), so a reference made of them holds that stretch's conditions as much as
# the person: on the demo pair the ground truth itself (A's frames in B's recording) scores
# identity_sim +0.134 against such references, +0.659 against 40 train frames (9.6 s of varied
# poses and expressions; README, Demo numbers).
REFERENCE_FRAMES = 40
KID_SUBSETS, KID_SUBSET_SIZE, KID_SEED = 100, 1000, 0
METRICS = {
    "l1_gt": "mean absolute error to the ground truth (the frame the output should be), [0, 1] scale "
    "(lower is better)",
    "psnr_gt": f"PSNR to the ground truth in dB, capped at {m.PSNR_CAP:g} (higher is better)",
    "ssim_gt": "SSIM to the ground truth (higher is better)",
    "ssim_input": "SSIM of the output to its input frame: how much of the input's structure it keeps",
    "cycle_l1": "mean absolute error of the input translated there and back (lower is better)",
    "identity_sim": "cosine of the output's identity descriptor to the target person's mean descriptor, "
    "both centred on the pair's mean (> 0: closer to the target than to the source person)",
    "identity_sim_source": "cosine of the output's identity descriptor to the source person's mean "
    "descriptor, both centred on the pair's mean (higher = keeps the source's identity)",
    "identity_cos": "raw cosine of the output's identity descriptor to the target person's mean (near 1 for "
    "any face)",
    "identity_input": "raw cosine of the output's descriptor to its own input's: the identity a translation "
    "keeps (the portrait study's aim; 1 = same person)",
    "background_l1": "mean absolute change outside the face mask, [0, 1] scale (background leak)",
    "expression_success": "share of outputs the trained expression classifier assigns to the target "
    "expression (families with a classifier)",
    "landmark_nme": "landmarks found on the output vs the input frame's prepared landmarks / inter-ocular "
    "distance (0 = the face kept its shape)",
    "face_found": "share of outputs on which a face and its landmarks were found",
    "flicker": "frame-to-frame change of the outputs / that of the inputs (1 = as steady as the input)",
    "collapse": "mean pairwise distance between outputs / that between their inputs (near 0 = mode "
    "collapse: every input gives the same image)",
    "expression_success_real": "share of the target's real test frames the expression classifier assigns "
    "to the target expression: its held-out accuracy, the ceiling expression_success reads against",
    "sharpness": "variance of the Laplacian (3x3, grey) of the output / that of its ground truth (without "
    "one: / the mean over the target's real test frames); 1 = as sharp as the truth, < 1 = blurrier",
    "pose_err": "head-pose error in degrees: L2 norm of the yaw, pitch and roll differences of output and "
    "source, each from a PnP fit of its 68 landmarks to a generic 3-D face (frames without landmarks on "
    "the output skipped; 0 = the pose is kept)",
    "expr_err": "expression error: RMS distance of the output's landmarks, Procrustes-aligned (translation, "
    "scale, rotation) to the source's, / the source's inter-ocular distance (frames without landmarks "
    "skipped; 0 = the expression is kept)",
    "landmarks_skipped": "outputs on which no landmarks were found, skipped by pose_err and expr_err "
    "(summed over the directions)",
    "kid": "kernel inception distance (Binkowski et al. 2018) of the outputs to the target's real test "
    "frames: unbiased squared MMD, polynomial kernel (x.y/d + 1)^3, on the features kid_features names "
    "(inception_v3 pool3; dlib_resnet: its 256-d pooled layer, where Inception-v3 weights are absent), "
    f"mean over {KID_SUBSETS} random subsets of kid_subset images per side (torchmetrics); 0 = the same "
    "distribution, lower is better, comparable only on the same features",
    "kid_std": "standard deviation of kid over its random subsets",
    "kid_subset": "images per side in each KID subset: the smaller of 1000, the outputs and the real frames",
    "fid": f"Frechet inception distance of the outputs to the target's real test frames (features as kid); "
    f"only where both hold at least {FID_MIN_SAMPLES} images, absent otherwise (lower is better)",
    "id_retrieval": "face-swap identity retrieval, %: outputs whose nearest identity (cosine of "
    "id_retrieval_net descriptors to each identity's mean descriptor) among the "
    "id_retrieval_gallery identities is the target person (100 = always recognised as the target; "
    "face-swap families, evaluate.face_swap)",
    "id_retrieval_gallery": "identities id_retrieval chose among: the pair's persons",
}
SUMMED = ("landmarks_skipped",)  # counts: the top level sums the directions instead of averaging them
OPTIONAL = ("fid", "id_retrieval", "id_retrieval_gallery")  # left out of metrics.json where not scored
# The networks behind the protocol metrics, by name (the same for both directions).
NAMED = ("kid_features", "id_retrieval_net")
GLOSSARY = Glossary(
    "translate",
    "Each test frame of the pair's source is translated to the target and the target's to the "
    "source (A2B, B2A); values are means over frames, then over the two directions. The ground "
    "truth is the synthetic rendering of the same frame in the other person's recording (their "
    "identity, background, shirt and light; the source's pose and expression; synthetic data "
    "only). Identity descriptors come from the family's evaluate.identity_net; a person's mean "
    "descriptor (identity_sim, id_retrieval) is the mean over evaluate.identity_reference_frames "
    f"frames (default {REFERENCE_FRAMES}) spread over their train split, so that it holds the "
    "person rather than the conditions of the scored stretch of video (0: over the scored test frames).",
    METRICS,
)
BATCH = 16
N_SAMPLES = 3


def copy_input(direction: str, frames: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
    """The trivial translator: every output is its input."""
    return np.array(frames, dtype=np.uint8, copy=True)


def reference_frames(split: PreparedSplit, n: int) -> PreparedSplit:
    """``n`` frames spread evenly over ``split`` (all of them where it has fewer): a person's identity
    reference seen in many poses, expressions and moments, so that it holds the person, not the
    conditions of one stretch of their video."""
    return split.take(np.unique(np.linspace(0, len(split) - 1, num=min(n, len(split))).round().astype(int)))


def head(split: PreparedSplit, n: int | None) -> PreparedSplit:
    """The first ``n`` frames: test splits are contiguous blocks, so the head is still a sequence."""
    window = slice(None, n)
    return PreparedSplit(
        frames=np.asarray(split.frames[window]),
        landmarks=np.asarray(split.landmarks[window]),
        masks=np.asarray(split.masks[window]),
        index=np.asarray(split.index[window]),
        gt={k: np.asarray(v[window]) for k, v in split.gt.items()},
        valid=np.asarray(split.valid[window]),
    )


def translate_all(
    translate: Translate, direction: str, frames: np.ndarray, masks: np.ndarray | None, desc: str = ""
) -> np.ndarray:
    """Translate in batches of :data:`BATCH`, checking each output batch is uint8 like its input;
    a progress bar (``desc``) counts the frames."""
    with progress_bar(total=len(frames), desc=desc or f"translate {direction}", unit="frame") as bar:

        def batch(f: np.ndarray, k: np.ndarray | None) -> np.ndarray:
            out = translate(direction, f, k)
            bar.update(len(f))
            return out

        return m.apply_in_batches(batch, frames, masks, batch=BATCH, name=f"translator {direction}")


def _finite(value: float) -> float | None:
    """JSON has no inf or NaN: a metric that is unbounded or undefined here is null."""
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class Retrieval:
    """The face-swap protocol's identity retrieval: descriptors by ``embed``, the identity network
    ``net`` (not the one the run's loss trained with), compared to each person's mean descriptor."""

    net: str
    embed: Embed


@dataclass(frozen=True)
class _Scoring:
    """What every direction of a pair is scored with (see :func:`score_pair`)."""

    refs: dict[str, np.ndarray]  # "A"/"B" -> the person's mean identity descriptor
    embed: Embed
    landmarks: Landmarks
    names: dict[str, str]  # "A"/"B" -> item
    target_share: TargetShare | None
    retrieval: Retrieval | None
    gallery: dict[str, np.ndarray]  # item -> mean descriptor of the retrieval network

    @property
    def center(self) -> np.ndarray:
        return (self.refs["A"] + self.refs["B"]) / 2


def _per_output_share(target_share: TargetShare, outputs: np.ndarray, target: str) -> np.ndarray:
    """1.0 where the classifier assigns an output to ``target``, else 0.0 (its mean is the share)."""
    return np.array([target_share(outputs[i : i + 1], target) for i in range(len(outputs))])


def _set_scores(outputs: np.ndarray, real: np.ndarray, target: str, ctx: _Scoring) -> dict[str, Any]:
    """The direction's set-level protocol metrics: KID (and FID where the sample allows) of the outputs
    against the target's real test frames, and the classifier's accuracy on those real frames."""
    result = kid(real, outputs, subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE, seed=KID_SEED)
    scores: dict[str, Any] = {
        "kid": _finite(result.mean),
        "kid_std": _finite(result.std),
        "kid_subset": result.subset_size,
        "kid_features": result.features,
    }
    if min(len(real), len(outputs)) >= FID_MIN_SAMPLES:
        frechet = fid(real, outputs, features=result.features)
        if frechet.value is not None:
            scores["fid"] = _finite(frechet.value)
    if ctx.target_share is not None:
        scores["expression_success_real"] = float(ctx.target_share(real, target))
    return scores


def _score_direction(
    translate: Translate,
    direction: str,
    source: PreparedSplit,
    gt: np.ndarray | None,
    real: np.ndarray,
    ctx: _Scoring,
) -> tuple[dict[str, Any], np.ndarray, pd.DataFrame]:
    """Translate ``source`` one way (and back, for the cycle) and score it against its ground truth
    ``gt`` and the target's real test frames ``real``: (scores, outputs, per-sample rows). Every
    per-frame value is computed once; the scores are their means (:func:`metrics.finite_mean`)."""
    src, tgt = direction[0], direction[2]
    target = ctx.names[tgt]
    outputs = translate_all(
        translate, src + tgt, source.frames, source.masks, f"evaluate {direction}: translate"
    )
    cycled = translate_all(
        translate, tgt + src, outputs, source.masks, f"evaluate {direction}: translate back"
    )
    found = [
        ctx.landmarks(image)
        for image in progress_bar(outputs, desc=f"evaluate {direction}: landmarks", unit="frame")
    ]
    # Where no face is found on an output, align it with the source's landmarks: the translation
    # keeps the geometry, and the identity score should not silently drop the hard frames.
    points = np.stack([f if f is not None else s for f, s in zip(found, source.landmarks, strict=True)])
    descriptors = ctx.embed(outputs, points)
    own = ctx.embed(source.frames, source.landmarks)
    # Pose and expression need the output's own landmarks: NaN rows skip the frames without.
    detected = np.stack([np.full((68, 2), np.nan) if f is None else f for f in found]).astype(np.float64)
    # Crop pixels from outside the source frame (and of its ground truth, cut with the same box)
    # are black fill, not the person: no pixel metric counts them.
    valid = source.valid
    values = {
        "ssim_input": m.ssim(outputs, source.frames, valid),
        "cycle_l1": m.l1(cycled, source.frames, valid),
        "identity_sim": m.cosine_to_reference(descriptors, ctx.refs[tgt], ctx.center),
        "identity_sim_source": m.cosine_to_reference(descriptors, ctx.refs[src], ctx.center),
        "identity_cos": m.cosine_to_reference(descriptors, ctx.refs[tgt]),
        "identity_input": m.cosine_rows(descriptors, own),
        "background_l1": m.background_l1(outputs, source.frames, source.masks, valid),
        "landmark_nme": m.landmark_nme(found, source.landmarks),
        "face_found": np.array([p is not None for p in found], dtype=np.float64),
        "pose_err": pose_error(detected, source.landmarks, source.frames.shape[1:3]),
        "expr_err": expression_error(detected, source.landmarks),
    }
    if ctx.target_share is not None:
        values["expression_success"] = _per_output_share(ctx.target_share, outputs, target)
    if gt is not None:
        values |= {
            "l1_gt": m.l1(outputs, gt, valid),
            "psnr_gt": m.psnr(outputs, gt, valid),
            "ssim_gt": m.ssim(outputs, gt, valid),
            "sharpness": sharpness_ratio(outputs, gt),
        }
    else:
        reference = float(np.mean(laplacian_variance(real)))
        with np.errstate(divide="ignore", invalid="ignore"):
            values["sharpness"] = laplacian_variance(outputs) / reference if reference > 0 else np.nan
    if ctx.retrieval is not None:
        same = ctx.retrieval.embed is ctx.embed
        retrieved = descriptors if same else ctx.retrieval.embed(outputs, points)
        values["id_retrieval"] = retrieval_hits(retrieved, [target] * len(outputs), ctx.gallery)
    scores: dict[str, Any] = {"n_frames": len(outputs)} | {k: m.finite_mean(v) for k, v in values.items()}
    scores |= {
        "face_found": sum(p is not None for p in found) / len(found),
        "landmarks_skipped": sum(p is None for p in found),
        "flicker": _finite(m.flicker(outputs, source.frames, valid)),
        "collapse": _finite(m.collapse(outputs, source.frames, valid=valid)),
    }
    scores |= _set_scores(outputs, real, target, ctx)
    if ctx.retrieval is not None:
        scores |= {"id_retrieval_net": ctx.retrieval.net, "id_retrieval_gallery": len(ctx.gallery)}
    rows = pd.DataFrame(
        {
            "direction": direction,
            "source": ctx.names[src],
            "target": target,
            "frame": np.asarray(source.index),
        }
        | {k: np.broadcast_to(np.asarray(v, dtype=np.float64), len(outputs)) for k, v in values.items()}
    )
    return scores, outputs, rows


def score_pair(
    translate: Translate | None,
    test_a: PreparedSplit,
    test_b: PreparedSplit,
    embed: Embed,
    landmarks: Landmarks,
    names: tuple[str, str] = ("A", "B"),
    crop_size: int | None = None,
    max_frames: int | None = 200,
    target_share: TargetShare | None = None,
    retrieval: Retrieval | None = None,
    references: tuple[PreparedSplit, PreparedSplit] | None = None,
) -> tuple[
    dict[str, Any],
    dict[str, PreparedSplit],
    dict[str, np.ndarray],
    dict[str, np.ndarray | None],
    pd.DataFrame,
]:
    """Translate both splits both ways and score them: (metrics, sources, outputs, ground truths,
    per-sample rows).

    ``translate(direction, frames, masks)`` maps "AB" (A to B) and "BA"; None copies the input.
    ``embed(images, landmarks) -> (N, 128)`` gives identity descriptors and
    ``landmarks(image) -> (68, 2) | None`` finds a face's landmarks; ``target_share(outputs,
    target item)`` is the share a classifier assigns to the target; ``retrieval`` (face swaps)
    adds ``id_retrieval`` between the pair's two persons. Each direction scores the first
    ``max_frames`` frames against the other item's first ``max_frames`` (its real frames, for KID);
    ground-truth metrics only where the source split holds ``gt[<target name>]``. Each person's
    identity reference (``identity_sim``, ``id_retrieval``) is the mean descriptor of their frames in
    ``references`` (uncropped splits, e.g. :func:`reference_frames` of the train splits); None
    takes the scored test frames themselves. Top-level
    values are means over the two directions (:data:`SUMMED` counts: sums), ``n_frames`` counts
    both. The rows hold one line per output: :data:`faceoff.evaluate.samples.KEYS` and every
    per-frame metric (the set-level ones, KID, flicker, collapse..., only in the metrics).
    """
    translate = translate or copy_input
    if len(test_a) == 0 or len(test_b) == 0:
        raise ValueError(f"empty test split ({names[0]}: {len(test_a)}, {names[1]}: {len(test_b)} frames)")
    if crop_size is not None:
        test_a, test_b = center_crop(test_a, crop_size), center_crop(test_b, crop_size)
    sources = {"A2B": head(test_a, max_frames), "B2A": head(test_b, max_frames)}
    gts = {"A2B": sources["A2B"].gt.get(names[1]), "B2A": sources["B2A"].gt.get(names[0])}
    people = {"A": sources["A2B"], "B": sources["B2A"]}
    if references is not None:
        people = dict(zip("AB", references, strict=True))
        if crop_size is not None:
            people = {k: center_crop(s, crop_size) for k, s in people.items()}
    refs = {k: m.reference_descriptor(embed(s.frames, s.landmarks)) for k, s in people.items()}
    gallery: dict[str, np.ndarray] = {}
    if retrieval is not None and retrieval.embed is embed:
        gallery = {names[0]: refs["A"], names[1]: refs["B"]}
    elif retrieval is not None:
        for item, split in ((names[0], people["A"]), (names[1], people["B"])):
            gallery |= gallery_means(retrieval.embed(split.frames, split.landmarks), [item] * len(split))
    ctx = _Scoring(refs, embed, landmarks, {"A": names[0], "B": names[1]}, target_share, retrieval, gallery)
    real = {"A2B": sources["B2A"].frames, "B2A": sources["A2B"].frames}
    result: dict[str, Any] = {"names": {"A": names[0], "B": names[1]}, "copy_input": translate is copy_input}
    outputs, rows = {}, []
    for d in DIRECTIONS:
        result[d], outputs[d], frame_rows = _score_direction(translate, d, sources[d], gts[d], real[d], ctx)
        rows.append(frame_rows)
    for key in METRICS:
        values = [result[d][key] for d in DIRECTIONS if result[d].get(key) is not None]
        if key in OPTIONAL and not values:
            continue
        if key in SUMMED:
            result[key] = sum(values)
        else:
            result[key] = float(np.mean(values)) if values else None
    result |= {key: result["A2B"][key] for key in NAMED if key in result["A2B"]}
    result["n_frames"] = sum(result[d]["n_frames"] for d in DIRECTIONS)
    return result, sources, outputs, gts, pd.concat(rows, ignore_index=True)


def evaluate_pair(
    translate: Translate | None,
    test_a: PreparedSplit,
    test_b: PreparedSplit,
    out_dir: str | os.PathLike[str],
    embed: Embed,
    landmarks: Landmarks,
    names: tuple[str, str] = ("A", "B"),
    crop_size: int | None = None,
    max_frames: int | None = 200,
    video_frames: int = 200,
    fps: float = 25.0,
    target_share: TargetShare | None = None,
    extra_splits: dict[str, tuple[PreparedSplit, PreparedSplit]] | None = None,
    retrieval: Retrieval | None = None,
    references: tuple[PreparedSplit, PreparedSplit] | None = None,
) -> dict[str, Any]:
    """Score ``translate`` (see :func:`score_pair`) and write metrics.json, per_sample.csv (every
    test output's per-frame values, :mod:`faceoff.evaluate.samples`), faceoff.mp4 and samples.png.

    ``extra_splits`` (e.g. ``{"val": (val_a, val_b)}``) are scored too and kept in metrics.json
    under their name (the portrait sweep is judged on the validation split). The video shows
    the first ``video_frames`` frames A -> B (source | output | truth). metrics.json is written
    last, so its presence means the evaluation finished.
    """
    out_dir = Path(out_dir)
    options = {
        "names": names,
        "crop_size": crop_size,
        "max_frames": max_frames,
        "target_share": target_share,
        "retrieval": retrieval,
        "references": references,
    }
    result, sources, outputs, gts, rows = score_pair(translate, test_a, test_b, embed, landmarks, **options)
    for split, (a, b) in (extra_splits or {}).items():
        scores = score_pair(translate, a, b, embed, landmarks, **options)[0]
        result[split] = {key: scores[key] for key in (*METRICS, "n_frames") if key in scores}

    n = min(video_frames, len(outputs["A2B"]))
    panels = [sources["A2B"].frames[:n], outputs["A2B"][:n]]
    labels = [f"{names[0]} (source)", f"{names[0]} as {names[1]}"]
    if gts["A2B"] is not None:
        panels.append(gts["A2B"][:n])
        labels.append("ground truth")
    side_by_side_video(out_dir / "faceoff.mp4", panels, fps=fps, labels=labels)
    _write_samples(out_dir / "samples.png", sources, outputs, gts, names)
    write_samples(out_dir / SAMPLES_FILE, rows)
    write_json(out_dir / "metrics.json", result)
    return result


def _write_samples(
    out_png: Path,
    sources: dict[str, PreparedSplit],
    outputs: dict[str, np.ndarray],
    gts: dict[str, np.ndarray | None],
    names: tuple[str, str],
) -> None:
    """A few evenly spaced test frames per direction: input, output and (if known) ground truth."""
    has_gt = any(g is not None for g in gts.values())
    rows, titles = [], []
    for d in DIRECTIONS:
        for i in np.linspace(0, len(outputs[d]) - 1, num=min(N_SAMPLES, len(outputs[d]))).astype(int):
            row = [sources[d].frames[i], outputs[d][i]]
            rows.append([*row, None if gts[d] is None else gts[d][i]] if has_gt else row)
            titles.append(f"{names[0]}→{names[1]} #{i}" if d == "A2B" else f"{names[1]}→{names[0]} #{i}")
    columns = ["input", "output", "ground truth"] if has_gt else ["input", "output"]
    sample_grid(rows, columns, out_png, row_titles=titles)


def _loss_identity_nets(model: Any | None) -> list[str]:
    """The identity networks the run's losses trained with: its identity loss's (``lambda_p``) and a
    face-recognition network standing in as the perceptual/style network (``feature_net``)."""
    settings = getattr(model, "settings", None)
    used = [settings.identity_net] if getattr(settings, "lambda_p", 0) else []
    feature = getattr(settings, "feature_net", None)
    return [*used, feature] if feature in IDENTITY_NETS and feature not in used else used


def face_swap_retrieval(job: EvaluationJob) -> Retrieval | None:
    """The identity retrieval of a face-swap family (``evaluate.face_swap``): with an identity
    network other than the one the run's loss trained with, None where none is on this machine."""
    if not job.options.get("face_swap"):
        return None
    choice = retrieval_net(_loss_identity_nets(job.model))
    if choice.name is None:
        log.warning("id_retrieval skipped: %s", choice.reason)
        return None
    if choice.name == job.options.get("identity_net", "dlib_resnet"):
        return Retrieval(choice.name, job.embed)  # the metrics' own network: its descriptors are reused
    return Retrieval(choice.name, make_embedder(choice.name).embed)


def evaluate_job(job: EvaluationJob) -> dict[str, Any]:
    """The ``translate`` kind's evaluation: :func:`evaluate_pair` of the run's ``translate`` (both
    ways), with the family's classifier, the face-swap protocol where ``evaluate.face_swap`` is set
    and, when ``evaluate.val_split`` is set, the validation split scored too (the portrait sweep's
    criterion)."""
    a, b = job.pair
    extra = None
    if job.options.get("val_split"):
        extra = {"val": tuple(job.split(item, "val") for item in (a, b))}
    n = job.options.get("identity_reference_frames", REFERENCE_FRAMES)
    references = (
        None
        if n == 0
        else (reference_frames(job.split(a, "train"), n), reference_frames(job.split(b, "train"), n))
    )
    return evaluate_pair(
        None if job.model is None else job.model.translate,
        job.tests[a],
        job.tests[b],
        names=(a, b),
        target_share=job.classifier(),
        extra_splits=extra,
        retrieval=face_swap_retrieval(job),
        references=references,
        **job.scoring(),
    )


def comparison(job: FigureJob) -> None:
    """``comparison-<pair>.png``: fixed test frames (rows) of the pair's source, the ground truth
    where the data has one (synthetic) and each run's output, cropped as the first run crops."""
    first = job.runs[0]
    test_a = center_crop(job.test_split(first), int(first.settings["crop_size"]))
    picks = np.linspace(0, len(test_a) - 1, num=min(4, len(test_a))).astype(int)
    frames = test_a.frames[picks]
    target = first.items[1]
    outputs = {"ground truth": test_a.gt[target][picks]} if target in test_a.gt else {}
    bar = progress_bar(job.runs, desc=f"figure {job.family}: translate {job.pair}", unit="run")
    outputs |= {r.variant: job.model(r).translate("AB", frames, test_a.masks[picks]) for r in bar}
    comparison_figure([(job.pair, frames, outputs)], job.folder / f"comparison-{job.pair}.png")


KIND = register_evaluation(EvaluationKind("translate", GLOSSARY, evaluate_job, comparison))
