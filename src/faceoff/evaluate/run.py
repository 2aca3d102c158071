"""Evaluate one translation pair: translate both test splits both ways and score the outputs.

The "copy input" baseline is the same call with :func:`copy_input` as the translator, so the
table's trivial row comes from exactly the code that scores the trained runs. This module
registers the ``translate`` evaluation kind (:mod:`faceoff.evaluate.kinds`): that scoring, its
glossary and the family's comparison figure.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
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
    TargetShare,
    register_evaluation,
)
from faceoff.io.atomic import write_json
from faceoff.io.progress import progress_bar
from faceoff.plots.grids import comparison_figure, sample_grid
from faceoff.plots.video import side_by_side_video

Translate = Callable[[str, np.ndarray, np.ndarray | None], np.ndarray]

DIRECTIONS = ("A2B", "B2A")
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
}
GLOSSARY = Glossary(
    "translate",
    "Each test frame of the pair's source is translated to the target and the target's to the "
    "source (A2B, B2A); values are means over frames, then over the two directions. The ground "
    "truth is the synthetic rendering of the same frame as the other person (synthetic data "
    "only). Identity descriptors come from the family's evaluate.identity_net.",
    METRICS,
)
BATCH = 16
N_SAMPLES = 3


def copy_input(direction: str, frames: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
    """The trivial translator: every output is its input."""
    return np.array(frames, dtype=np.uint8, copy=True)


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


def _score_direction(
    translate: Translate,
    direction: str,
    source: PreparedSplit,
    gt: np.ndarray | None,
    refs: dict[str, np.ndarray],
    center: np.ndarray,
    embed: Embed,
    landmarks: Landmarks,
    target: str,
    target_share: TargetShare | None,
) -> tuple[dict[str, Any], np.ndarray]:
    """Translate ``source`` one way (and back, for the cycle) and score it; returns scores and outputs."""
    src, tgt = direction[0], direction[2]
    outputs = translate_all(
        translate, src + tgt, source.frames, source.masks, f"evaluate {direction}: translate"
    )
    cycled = translate_all(
        translate, tgt + src, outputs, source.masks, f"evaluate {direction}: translate back"
    )
    found = [
        landmarks(image)
        for image in progress_bar(outputs, desc=f"evaluate {direction}: landmarks", unit="frame")
    ]
    # Where no face is found on an output, align it with the source's landmarks: the translation
    # keeps the geometry, and the identity score should not silently drop the hard frames.
    points = np.stack([f if f is not None else s for f, s in zip(found, source.landmarks, strict=True)])
    descriptors = embed(outputs, points)
    own = embed(source.frames, source.landmarks)
    # Crop pixels from outside the source frame (and of its ground truth, cut with the same box)
    # are black fill, not the person: no pixel metric counts them.
    valid = source.valid
    scores: dict[str, Any] = {
        "n_frames": len(outputs),
        "ssim_input": m.finite_mean(m.ssim(outputs, source.frames, valid)),
        "cycle_l1": m.finite_mean(m.l1(cycled, source.frames, valid)),
        "identity_sim": m.finite_mean(m.cosine_to_reference(descriptors, refs[tgt], center)),
        "identity_sim_source": m.finite_mean(m.cosine_to_reference(descriptors, refs[src], center)),
        "identity_cos": m.finite_mean(m.cosine_to_reference(descriptors, refs[tgt])),
        "identity_input": m.finite_mean(m.cosine_rows(descriptors, own)),
        "background_l1": m.finite_mean(m.background_l1(outputs, source.frames, source.masks, valid)),
        "landmark_nme": m.finite_mean(m.landmark_nme(found, source.landmarks)),
        "face_found": sum(p is not None for p in found) / len(found),
        "flicker": _finite(m.flicker(outputs, source.frames, valid)),
        "collapse": _finite(m.collapse(outputs, source.frames, valid=valid)),
    }
    if target_share is not None:
        scores["expression_success"] = float(target_share(outputs, target))
    if gt is not None:
        scores |= {
            "l1_gt": m.finite_mean(m.l1(outputs, gt, valid)),
            "psnr_gt": m.finite_mean(m.psnr(outputs, gt, valid)),
            "ssim_gt": m.finite_mean(m.ssim(outputs, gt, valid)),
        }
    return scores, outputs


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
) -> tuple[dict[str, Any], dict[str, PreparedSplit], dict[str, np.ndarray], dict[str, np.ndarray | None]]:
    """Translate both splits both ways and score them: (metrics, sources, outputs, ground truths).

    ``translate(direction, frames, masks)`` maps "AB" (A to B) and "BA"; None copies the input.
    ``embed(images, landmarks) -> (N, 128)`` gives identity descriptors and
    ``landmarks(image) -> (68, 2) | None`` finds a face's landmarks; ``target_share(outputs,
    target item)`` is the share a classifier assigns to the target. Each direction scores the
    first ``max_frames`` frames; ground-truth metrics only where the source split holds
    ``gt[<target name>]``. Top-level values are means over the two directions, ``n_frames``
    counts both.
    """
    translate = translate or copy_input
    if len(test_a) == 0 or len(test_b) == 0:
        raise ValueError(f"empty test split ({names[0]}: {len(test_a)}, {names[1]}: {len(test_b)} frames)")
    if crop_size is not None:
        test_a, test_b = center_crop(test_a, crop_size), center_crop(test_b, crop_size)
    sources = {"A2B": head(test_a, max_frames), "B2A": head(test_b, max_frames)}
    gts = {"A2B": sources["A2B"].gt.get(names[1]), "B2A": sources["B2A"].gt.get(names[0])}
    refs = {
        "A": m.reference_descriptor(embed(sources["A2B"].frames, sources["A2B"].landmarks)),
        "B": m.reference_descriptor(embed(sources["B2A"].frames, sources["B2A"].landmarks)),
    }
    targets = {"A2B": names[1], "B2A": names[0]}
    result: dict[str, Any] = {"names": {"A": names[0], "B": names[1]}, "copy_input": translate is copy_input}
    outputs = {}
    for d in DIRECTIONS:
        result[d], outputs[d] = _score_direction(
            translate,
            d,
            sources[d],
            gts[d],
            refs,
            (refs["A"] + refs["B"]) / 2,
            embed,
            landmarks,
            targets[d],
            target_share,
        )
    for key in METRICS:
        values = [result[d][key] for d in DIRECTIONS if result[d].get(key) is not None]
        result[key] = float(np.mean(values)) if values else None
    result["n_frames"] = sum(result[d]["n_frames"] for d in DIRECTIONS)
    return result, sources, outputs, gts


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
) -> dict[str, Any]:
    """Score ``translate`` (see :func:`score_pair`) and write metrics.json, faceoff.mp4, samples.png.

    ``extra_splits`` (e.g. ``{"val": (val_a, val_b)}``) are scored too and kept in metrics.json
    under their name (the portrait sweep is judged on the validation split). The video shows
    the first ``video_frames`` frames A -> B (source | output | truth). metrics.json is written
    last, so its presence means the evaluation finished.
    """
    out_dir = Path(out_dir)
    options = {"names": names, "crop_size": crop_size, "max_frames": max_frames, "target_share": target_share}
    result, sources, outputs, gts = score_pair(translate, test_a, test_b, embed, landmarks, **options)
    for split, (a, b) in (extra_splits or {}).items():
        scores = score_pair(translate, a, b, embed, landmarks, **options)[0]
        result[split] = {key: scores[key] for key in (*METRICS, "n_frames")}

    n = min(video_frames, len(outputs["A2B"]))
    panels = [sources["A2B"].frames[:n], outputs["A2B"][:n]]
    labels = [f"{names[0]} (source)", f"{names[0]} as {names[1]}"]
    if gts["A2B"] is not None:
        panels.append(gts["A2B"][:n])
        labels.append("ground truth")
    side_by_side_video(out_dir / "faceoff.mp4", panels, fps=fps, labels=labels)
    _write_samples(out_dir / "samples.png", sources, outputs, gts, names)
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


def evaluate_job(job: EvaluationJob) -> dict[str, Any]:
    """The ``translate`` kind's evaluation: :func:`evaluate_pair` of the run's ``translate`` (both
    ways), with the family's classifier and, when ``evaluate.val_split`` is set, the validation
    split scored too (the portrait sweep's criterion)."""
    a, b = job.pair
    extra = None
    if job.options.get("val_split"):
        extra = {"val": tuple(job.split(item, "val") for item in (a, b))}
    return evaluate_pair(
        None if job.model is None else job.model.translate,
        job.tests[a],
        job.tests[b],
        names=(a, b),
        target_share=job.classifier(),
        extra_splits=extra,
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
