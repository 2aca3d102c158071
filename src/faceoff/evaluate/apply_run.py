"""A trained run applied to whole frames (`faceoff apply`), scored against the full-frame truth.

The DAG applies every face-off and swap run to the held-out (test) segment of its source
person's raw video and scores the frames a user would get (:mod:`faceoff.evaluate.apply_metrics`).
Two references go through the very same paste-back, so each run is bracketed by what the
paste-back can do at best and what doing nothing gives: the ground-truth crop pasted back
(the translator replaced by a cut of the truth frame) and the input copied.

The paste-back comes in as arguments (``faceoff.apply.apply_frames`` with the run's options bound,
and ``faceoff.apply.cut``) rather than as an import: the scores do not depend on the engine's code,
so a change of the engine reruns the apply step only, not every evaluation of the DAG.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice, takewhile
from pathlib import Path
from typing import Any

import numpy as np

from faceoff.datasets.person_videos import iter_frames
from faceoff.evaluate.apply_metrics import apply_scores
from faceoff.faces.mask import face_mask
from faceoff.io.atomic import write_json
from faceoff.io.progress import progress_bar
from faceoff.io.video import read_frames, write_video
from faceoff.plots.video import side_by_side_video

Landmarks = Callable[[int], np.ndarray | None]
# faceoff.apply's types, by what this module uses of them: a FaceCrop has frame_index, box, size and
# landmarks (in its crop); an AppliedFrame has frame, mask (the blend weight), faces and face_found.
FaceCrop = Any
Translate = Callable[[np.ndarray, Sequence[FaceCrop]], np.ndarray]  # crops, their faces -> crops
Paste = Callable[[np.ndarray, Translate], Iterable[Any]]  # frames, translate -> AppliedFrames
Cut = Callable[[np.ndarray, FaceCrop], np.ndarray]  # any frame -> its crop, cut as the face was
REFERENCES = ("groundtruth_paste", "copy_input")


@dataclass(frozen=True)
class Segment:
    """Frames of a source video, the same frames rendered as the target (synthetic data only), and
    the source's landmarks by position in the segment (when its faces come from annotations)."""

    frames: np.ndarray  # (N, H, W, 3) uint8
    index: np.ndarray  # (N,) source frame index of each
    truth: np.ndarray | None
    landmarks: Landmarks | None


def read_segment(
    source: str | os.PathLike[str],
    first: int,
    last: int,
    fps: float | None = None,
    truth: str | os.PathLike[str] | None = None,
    landmarks: Landmarks | None = None,
    max_frames: int | None = None,
) -> Segment:
    """The frames of ``source`` (video or frames folder, resampled to ``fps`` as prepare resamples it)
    whose source index lies in ``first`` .. ``last`` (at most ``max_frames``), the ``truth`` video's
    frames at the same indices, and ``landmarks`` (by source index) looked up by segment position."""
    held_out = (p for p in takewhile(lambda p: p[0] <= last, iter_frames(source, fps)) if p[0] >= first)
    picked = list(islice(held_out, max_frames))
    if not picked:
        raise ValueError(f"{source}: no frame between {first} and {last}")
    index = np.array([i for i, _ in picked])
    frames = np.stack([f for _, f in picked])
    truth_frames = None
    if truth is not None:
        wanted = set(index.tolist())
        found = [f for i, f in enumerate(islice(read_frames(truth), int(index[-1]) + 1)) if i in wanted]
        truth_frames = np.stack(found) if found else None
        if truth_frames is None or truth_frames.shape != frames.shape:
            shape = None if truth_frames is None else truth_frames.shape
            raise ValueError(f"{truth}: frames {first}..{last} are {shape}, {source}'s {frames.shape}")
    shifted = None if landmarks is None else (lambda k: landmarks(int(index[k])))
    return Segment(frames, index, truth_frames, shifted)


def truth_paste(truth: np.ndarray, cut: Cut) -> Translate:
    """The ideal translator: the truth frame cut exactly as the face was."""

    def translate(crops: np.ndarray, faces: Sequence[FaceCrop]) -> np.ndarray:
        return np.stack([cut(truth[face.frame_index], face) for face in faces])

    return translate


def frame_landmarks(face: FaceCrop) -> np.ndarray:
    """A face's landmarks in frame coordinates (its crop's landmarks mapped back through its box)."""
    x0, y0, x1, y1 = face.box
    scale = np.array([(x1 - x0) / face.size, (y1 - y0) / face.size])
    return np.asarray(face.landmarks, dtype=np.float64) * scale + np.array([x0, y0])


@dataclass(frozen=True)
class Applied:
    """One pass of the paste-back over a segment: outputs, blend weights, face masks, faces found."""

    outputs: np.ndarray
    blend: np.ndarray
    face: np.ndarray
    found: np.ndarray

    @classmethod
    def of(cls, applied_frames: Iterable[Any], shape: tuple[int, ...]) -> Applied:
        frames = list(applied_frames)
        face = np.zeros((len(frames), *shape[:2]), np.uint8)
        for k, applied in enumerate(frames):
            for crop in applied.faces:
                face[k] |= face_mask(frame_landmarks(crop), shape[:2])
        return cls(
            np.stack([a.frame for a in frames]),
            np.stack([a.mask for a in frames]).astype(np.float32),
            face,
            np.array([a.face_found for a in frames]),
        )


def evaluate_apply(
    translate: Translate,
    paste: Paste,
    cut: Cut,
    segment: Segment,
    out_dir: str | os.PathLike[str],
    names: tuple[str, str] = ("A", "B"),
    fps: float = 25.0,
) -> dict[str, Any]:
    """Paste ``translate``'s faces back into ``segment`` (``paste``), score the frames and the two
    references, and write apply.mp4 (the run's output), apply_side_by_side.mp4 (input | run |
    ground-truth paste | truth) and, last, apply_metrics.json: ``{"run": scores,
    "groundtruth_paste": scores, "copy_input": scores, ...}`` (the ground-truth paste only where the
    segment has a truth)."""
    out_dir = Path(out_dir)
    frames, shape = segment.frames, segment.frames.shape[1:]
    run = Applied.of(
        progress_bar(paste(frames, translate), desc="apply run", total=len(frames), unit="frame"), shape
    )
    result: dict[str, Any] = {
        "names": {"A": names[0], "B": names[1]},
        "segment": {"first": int(segment.index[0]), "last": int(segment.index[-1]), "frames": len(frames)},
        "run": apply_scores(run.outputs, segment.truth, frames, run.face, run.blend, run.found),
        # Doing nothing, scored in the run's blend region and face.
        "copy_input": apply_scores(frames, segment.truth, frames, run.face, run.blend, run.found),
    }
    panels, labels = [frames, run.outputs], [f"{names[0]} (source)", f"{names[0]} as {names[1]}"]
    if segment.truth is not None:
        pasted = paste(frames, truth_paste(segment.truth, cut))
        best = Applied.of(
            progress_bar(pasted, desc="apply ground truth", total=len(frames), unit="frame"), shape
        )
        result["groundtruth_paste"] = apply_scores(
            best.outputs, segment.truth, frames, best.face, best.blend, best.found
        )
        panels += [best.outputs, segment.truth]
        labels += ["truth pasted", "ground truth"]
    write_video(out_dir / "apply.mp4", iter(run.outputs), fps=fps)
    side_by_side_video(out_dir / "apply_side_by_side.mp4", panels, fps=fps, labels=labels)
    write_json(out_dir / "apply_metrics.json", result)
    return result
