"""Prepare one 300VW video as in the reenactment study: a landmark-centred square crop per frame.

The whole video goes into its official split (``train`` or ``test``; the category is in the
report), with its landmarks in crop coordinates. Frames without a usable annotation (beyond
the last ``.pts``, a gap, a malformed file) are dropped and counted, never fatal.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from faceoff.datasets.person_videos import count_frames, iter_frames
from faceoff.datasets.prepared import PreparedSplit
from faceoff.datasets.vw300 import official_split, read_annotations, video_path
from faceoff.faces.crop import apply_affine, crop_and_resize
from faceoff.faces.detect import Box
from faceoff.faces.mask import face_mask
from faceoff.io.progress import progress_bar
from faceoff.io.video import VideoError
from faceoff.prepare.job import PrepareError, PrepareJob

DEFAULTS: dict[str, Any] = {"fps": None, "crop_scale": 1.4}


def clipped_square(landmarks: np.ndarray, scale: float, frame_shape: tuple[int, ...]) -> Box:
    """The square around the landmarks' box centre, ``scale`` x its longer side, moved inside the frame.

    A square larger than the frame shrinks to the frame's shorter side. Kept inside the frame, the
    crop never holds pixels from outside it (``valid`` is all ones): the reenactment loss compares
    an output with another frame, where a black corner would be something to paint.
    """
    height, width = frame_shape[:2]
    (x0, y0), (x1, y1) = landmarks.min(axis=0), landmarks.max(axis=0)
    side = min(scale * max(x1 - x0, y1 - y0), height, width)
    left = float(np.clip((x0 + x1 - side) / 2, 0, width - side))
    top = float(np.clip((y0 + y1 - side) / 2, 0, height - side))
    return left, top, left + side, top + side


def prepare_300vw(job: PrepareJob) -> dict[str, Any]:
    source, item = job.source, job.item
    settings = job.settings_with(DEFAULTS)
    size, timer = int(settings["size"]), job.timer
    video = video_path(source, item)
    annotations = read_annotations(source / item)
    lms = annotations.landmarks
    rows: dict[str, list[Any]] = {"frames": [], "landmarks": [], "masks": [], "index": []}
    decoded = after_last = unusable = 0
    frame_shape: tuple[int, ...] = ()
    frames = progress_bar(
        timer.iterate("decode", iter_frames(video, settings["fps"])),
        total=count_frames(video, settings["fps"]),
        desc=f"prepare 300vw {item}: crop",
        unit="frame",
        enabled=job.progress,
    )
    try:
        for index, frame in frames:
            decoded, frame_shape = decoded + 1, frame.shape
            if index >= len(lms):
                after_last += 1
                continue
            if not np.isfinite(lms[index]).all():
                unusable += 1
                continue
            with timer.step("crop"):
                crop, affine = crop_and_resize(
                    frame, clipped_square(lms[index], settings["crop_scale"], frame.shape), size
                )
                points = apply_affine(lms[index], affine)
            with timer.step("mask"):
                rows["masks"].append(face_mask(points, size))
            rows["frames"].append(crop)
            rows["landmarks"].append(points)
            rows["index"].append(index)
    except VideoError as exc:
        raise PrepareError(str(exc)) from exc
    if not rows["frames"]:
        raise PrepareError(
            f"{video}: none of its {decoded} frames has a usable annotation in {source / item / 'annot'}"
        )
    split, category = official_split(item)
    prepared = PreparedSplit(
        frames=np.stack(rows["frames"]),
        landmarks=np.stack(rows["landmarks"]),
        masks=np.stack(rows["masks"]),
        index=np.asarray(rows["index"], dtype=np.int64),
    )
    report = {
        "kind": "300vw",
        "item": item,
        "source": str(video),
        "settings": settings,
        "split": split,
        "category": category,
        "frame_size": list(frame_shape[:2]),
        "frames_decoded": decoded,
        "annotations": len(annotations.files),
        "count_mismatch": None
        if settings["fps"] is not None or decoded == len(lms)
        else f"{decoded} frames decoded, annotations up to frame {len(lms)}",
        "frames_kept": len(rows["frames"]),
        "frames_dropped": {"after_last_annotation": after_last, "bad_or_missing_annotation": unusable},
        "annotations_without_frame": max(0, len(lms) - decoded) if settings["fps"] is None else None,
        "bad_annotations": annotations.bad,
        "annotation_gaps": annotations.gaps,
    }
    return job.save({split: prepared}, report)
