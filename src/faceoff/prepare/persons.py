"""Prepare one person's video: steady square face crops, landmarks, masks and a train/test split.

Two passes over the video keep memory bounded by the kept crops, not the decoded frames:
pass 1 finds a face and its landmarks in every frame; the crop boxes are then smoothed over
time and the split chosen; pass 2 decodes again and cuts only the frames the split keeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from faceoff.datasets.person_videos import (
    SourceError,
    count_frames,
    find_person_sources,
    frame_files,
    iter_frames,
)
from faceoff.datasets.prepared import PreparedSplit, save_split
from faceoff.faces.crop import (
    apply_affine,
    crop_and_resize,
    inside_frame,
    landmark_box,
    smooth_boxes,
    square_box,
)
from faceoff.faces.detect import Box, Detection, Detector, make_detector, pick_face
from faceoff.faces.landmarks import Landmarker, make_landmarker
from faceoff.faces.mask import face_mask
from faceoff.faces.track import BoxFollower
from faceoff.io.atomic import atomic_dir, write_json
from faceoff.io.progress import progress_bar
from faceoff.io.video import VideoError, read_frames
from faceoff.prepare.job import PrepareError, PrepareJob
from faceoff.prepare.report import StepTimer

DEFAULTS: dict[str, Any] = {
    "fps": None,
    "margin": 0.5,
    "detector": "mtcnn",
    "landmarks": "dlib",
    "smooth": 1,
    # The detector (MTCNN: most of a frame's cost) runs every k frames and the box follows the
    # landmarks in between (faceoff.faces.track), re-detecting at once where the track degrades;
    # 1 runs it on every frame. 10 (0.4 s at 25 fps) keeps the crop boxes within the jitter of
    # every-frame detection (`faceoff bench --what prepare` reports the IoU) at >100 frames/s per core.
    "detect_every": 10,
    # Longer side of the frame the detector sees (None: as decoded). MTCNN's cost grows with the
    # pixels it scans; a talking head stays far above its 20 px smallest face at 128-160 px, but
    # a small face in a wide shot would be lost, so downscaling is opt-in.
    "detect_size": None,
}
BATCH = 8  # frames per detector call; MTCNN runs several frames far faster than one by one


@dataclass
class _Track:
    """Pass 1's findings, one row per decoded frame."""

    index: np.ndarray  # int64 (T,) source frame index
    landmarks: np.ndarray  # float32 (T, 68, 2) frame coords, NaN where no face
    frame_shape: tuple[int, ...]
    several: int  # frames where several faces were found and one was kept
    detector_runs: int


def prepare_person_item(job: PrepareJob) -> dict[str, Any]:
    """The person-videos kind's preparer: the item's video or frames folder in the source."""
    video = find_person_sources(job.source, [job.item])[job.item]
    return prepare_person(
        video, job.item, job.out_dir, dict(job.settings), dict(job.groundtruth) or None, job.progress
    )


def prepare_person(
    source: Path,
    item: str,
    out_dir: Path,
    settings: dict[str, Any],
    groundtruth: dict[str, Path] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Prepare ``source`` (video or frames folder) of ``item`` into ``out_dir``; returns the report.

    ``groundtruth`` maps other items to videos of these frames rendered as them; they are cut
    with the same boxes and saved as ``gt_<other>``. On any failure ``out_dir`` is left as it was.
    """
    source, out_dir = Path(source), Path(out_dir)
    settings = {**DEFAULTS, **settings}
    for key in ("size", "split"):
        if key not in settings:
            raise PrepareError(f"{item}: prepare setting {key!r} is missing")
    timer = StepTimer()
    start = time.perf_counter()
    try:
        track = _track_faces(source, item, settings, timer, progress)
        valid = ~np.isnan(track.landmarks).any(axis=(1, 2))
        if not valid.any():
            raise PrepareError(f"{source}: no face found in any of its {len(valid)} decoded frames")
        with timer.step("smooth"):
            boxes = boxes_from_landmarks(track.landmarks, settings)
        splits, split_info = _choose_split(source, np.flatnonzero(valid), settings["split"])
        with atomic_dir(out_dir) as tmp:
            prepared = _cut_splits(source, splits, boxes, track, settings, groundtruth or {}, timer, progress)
            with timer.step("write"):
                for name, data in prepared.items():
                    save_split(tmp, name, data)
            split_info["index_range"] = {
                name: [int(i) for i in track.index[o][[0, -1]]] for name, o in splits.items()
            }
            report = _report(source, item, settings, track, valid, split_info, groundtruth or {})
            total = time.perf_counter() - start
            report["timing_s"] = {**timer.summary(), "total": round(total, 3)}
            report["frames_per_second"] = round(len(valid) / total, 2)
            write_json(tmp / "report.json", report)
    except (VideoError, SourceError) as exc:
        raise PrepareError(str(exc)) from exc
    return report


def crop_boxes(source: Path, item: str, settings: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Pass 1 alone: the source frame indices (T,) and the crop boxes (T, 4) prepare would cut, NaN
    where no face; what ``faceoff bench`` compares between settings."""
    settings = {**DEFAULTS, **settings}
    try:
        track = _track_faces(Path(source), item, settings, StepTimer(), progress=False)
    except (VideoError, SourceError) as exc:
        raise PrepareError(str(exc)) from exc
    return track.index, boxes_from_landmarks(track.landmarks, settings)


def boxes_from_landmarks(landmarks: np.ndarray, settings: dict[str, Any]) -> np.ndarray:
    """The smoothed square crop box of every frame's landmarks (T, 68, 2), NaN rows where none,
    as prepare cuts them with ``settings`` (``margin``, ``smooth``)."""
    valid = ~np.isnan(landmarks).any(axis=(1, 2))
    raw = np.full((len(valid), 4), np.nan)
    raw[valid] = [square_box(landmark_box(lm), settings["margin"]) for lm in landmarks[valid]]
    return smooth_boxes(raw, settings["smooth"], valid)


def _track_faces(
    source: Path, item: str, settings: dict[str, Any], timer: StepTimer, progress: bool
) -> _Track:
    """Pass 1: a face box and landmarks per frame; between detector runs the box follows the landmarks."""
    annotations, annotations_path = None, source.parent / f"{item}.landmarks.npy"
    if "annotations" in (settings["detector"], settings["landmarks"]):
        if not annotations_path.is_file():
            raise PrepareError(
                f"{annotations_path}: landmark annotations not found (needed by 'annotations')"
            )
        annotations = np.load(annotations_path)
    frames = timer.iterate("decode", iter_frames(source, settings["fps"]))
    first = next(frames, None)  # an unreadable source fails here, before the models load
    if first is None:
        raise PrepareError(f"{source}: not a single frame could be decoded")
    with timer.step("load_models"):
        detector = None if settings["detector"] == "annotations" else make_detector(settings["detector"])
        landmarker = (
            None if settings["landmarks"] == "annotations" else make_landmarker(settings["landmarks"])
        )
    every = settings["detect_every"]
    indices: list[int] = []
    landmarks: list[np.ndarray] = []
    missing = np.full((68, 2), np.nan, dtype=np.float32)
    several = runs = 0
    frame_shape: tuple[int, ...] = ()

    def annotated(index: int) -> np.ndarray | None:
        assert annotations is not None
        if index >= len(annotations):
            raise PrepareError(f"{annotations_path}: {len(annotations)} rows, but {source} has frame {index}")
        return annotations[index] if np.isfinite(annotations[index]).all() else None

    bar = progress_bar(
        chain([first], frames),
        total=count_frames(source, settings["fps"]),
        desc=f"prepare {item}: detect",
        unit="frame",
        enabled=progress,
    )
    tracked = track_faces(
        bar,
        detector,
        landmarker,
        None if annotations is None else annotated,
        every,
        settings["detect_size"],
        timer,
    )
    for found in tracked:
        frame_shape = found.frame.shape
        several += found.several
        runs += found.detector_runs
        indices.append(found.index)
        landmarks.append(missing if found.landmarks is None else found.landmarks)
    return _Track(np.asarray(indices, dtype=np.int64), np.stack(landmarks), frame_shape, several, runs)


@dataclass
class Tracked:
    """One frame as :func:`track_faces` saw it: its main face's landmarks (None: no face)."""

    index: int
    frame: np.ndarray
    landmarks: np.ndarray | None  # float32 (68, 2) frame coords
    several: bool  # several faces were found and this one kept
    detector_runs: int  # detector passes spent on this frame (0 between detections)


def track_faces(
    frames: Iterable[tuple[int, np.ndarray]],
    detector: Detector | None,
    landmarker: Landmarker | None,
    annotated: Callable[[int], np.ndarray | None] | None,
    every: int,
    detect_size: int | None,
    timer: StepTimer,
) -> Iterator[Tracked]:
    """The main face of every ``(index, frame)``, streaming; shared by prepare and ``faceoff apply``.

    The detector runs on every ``every``-th frame (batched); in between the box follows the
    landmarks (:class:`~faceoff.faces.track.BoxFollower`), and the detector runs at once where
    the track is lost or the landmarks stop fitting it. ``detector`` or ``landmarker`` None means
    ``annotated(index)`` gives them.
    """
    counted = 0
    follower = BoxFollower()
    for chunk in _chunks(iter(frames), BATCH):
        scheduled = [k for k in range(len(chunk)) if (counted + k) % every == 0]
        counted += len(chunk)
        found: dict[int, list[Detection]] = {}
        if detector is not None and scheduled:
            with timer.step("detect"):
                views = _detect(detector, [chunk[k][1] for k in scheduled], detect_size)
                found = dict(zip(scheduled, views, strict=True))
        for k, (index, frame) in enumerate(chunk):
            given = None if annotated is None else annotated(index)
            if detector is None:
                points, several, runs = given, False, 0
                if given is not None and landmarker is not None:
                    points = _landmarks(landmarker, frame, landmark_box(given), timer)
            else:
                if k not in found and follower.box is None:  # lost track: detect now rather than wait
                    with timer.step("detect"):
                        found[k] = _detect(detector, [frame], detect_size)[0]
                points, several, runs = _follow(follower, found.get(k), frame, landmarker, given, timer)
                if runs == 0 and not follower.follow(points, frame):  # the fit degraded
                    with timer.step("detect"):
                        again = _detect(detector, [frame], detect_size)[0]
                    points, several, runs = _follow(follower, again, frame, landmarker, given, timer)
            yield Tracked(
                index, frame, None if points is None else np.asarray(points, dtype=np.float32), several, runs
            )


def _follow(
    follower: BoxFollower,
    detections: list[Detection] | None,
    frame: np.ndarray,
    landmarker: Landmarker | None,
    given: np.ndarray | None,
    timer: StepTimer,
) -> tuple[np.ndarray | None, bool, int]:
    """Landmarks in the follower's box, after a detector run when ``detections`` are given.

    Returns the landmarks, whether several faces were found, and the detector runs (0 or 1);
    after a detector run the follower has already taken the landmarks.
    """
    several = False
    if detections is not None:
        pick = pick_face(detections, frame.shape)
        several = pick.several
        follower.detected(None if pick.detection is None else pick.detection.box)
    box = follower.box
    points = None
    if box is not None:
        points = given if landmarker is None else _landmarks(landmarker, frame, box, timer)
    if detections is not None:
        follower.follow(points, frame)
    return points, several, int(detections is not None)


def _landmarks(landmarker: Landmarker, frame: np.ndarray, box: Box, timer: StepTimer) -> np.ndarray:
    with timer.step("landmarks"):
        return landmarker.predict(frame, box)


def _detect(detector: Detector, frames: list[np.ndarray], detect_size: int | None) -> list[list[Detection]]:
    """Detect on frames downscaled to a longer side of ``detect_size`` (None: as is), boxes in frame px."""
    views, backs = [], []
    for frame in frames:
        height, width = frame.shape[:2]
        scale = 1.0 if detect_size is None else min(1.0, detect_size / max(height, width))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        views.append(
            frame if scale == 1.0 else np.asarray(Image.fromarray(frame).resize(size, Image.BILINEAR))
        )
        backs.append((width / size[0], height / size[1]) * 2)
    return [
        [Detection(tuple(v * k for v, k in zip(d.box, back, strict=True)), d.score) for d in found]
        for found, back in zip(detector.detect_batch(views), backs, strict=True)
    ]


def _choose_split(
    source: Path, with_face: np.ndarray, wanted: dict[str, int]
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Test = the last frames with a face, train = those just before: no neighbouring frames across splits."""
    n_train, n_test = int(wanted["train"]), int(wanted["test"])
    total = len(with_face)
    if total < 2:
        raise PrepareError(f"{source}: only {total} frame with a face; a train and a test split need 2")
    info: dict[str, Any] = {"requested": {"train": n_train, "test": n_test}, "shrunk": False}
    if total < n_train + n_test:
        n_test = max(1, min(total - 1, round(total * n_test / (n_train + n_test))))
        n_train = total - n_test
        info["shrunk"] = True
        info["note"] = (
            f"only {total} frames with a face for {wanted['train']}+{wanted['test']} requested: "
            f"both splits shrunk proportionally to {n_train}+{n_test}"
        )
    splits = {
        "train": with_face[total - n_test - n_train : total - n_test],
        "test": with_face[total - n_test :],
    }
    info.update({name: len(ordinals) for name, ordinals in splits.items()})
    return splits, info


def _cut_splits(
    source: Path,
    splits: dict[str, np.ndarray],
    boxes: np.ndarray,
    track: _Track,
    settings: dict[str, Any],
    groundtruth: dict[str, Path],
    timer: StepTimer,
    progress: bool,
) -> dict[str, PreparedSplit]:
    """Pass 2: decode again and cut the kept frames (and their ground truth) with the smoothed boxes."""
    size = settings["size"]
    split_of = {int(o): name for name, ordinals in splits.items() for o in ordinals}
    kept = sorted(split_of)
    rows: dict[str, dict[str, list[np.ndarray]]] = {
        name: {
            "frames": [],
            "landmarks": [],
            "masks": [],
            "valid": [],
            **{f"gt_{o}": [] for o in groundtruth},
        }
        for name in splits
    }
    gt_frames = {
        other: timer.iterate("decode", _frames_at(path, track.index[kept], track.frame_shape))
        for other, path in groundtruth.items()
    }
    frames = timer.iterate("decode", islice(iter_frames(source, settings["fps"]), kept[-1] + 1))
    bar = progress_bar(
        frames, desc=f"prepare {source.stem}: crop", total=kept[-1] + 1, unit="frame", enabled=progress
    )
    for ordinal, (index, frame) in enumerate(bar):
        if ordinal not in split_of:
            continue
        if index != track.index[ordinal]:
            raise PrepareError(
                f"{source}: decoding is not repeatable (frame {index} where {track.index[ordinal]} was)"
            )
        row = rows[split_of[ordinal]]
        box = tuple(boxes[ordinal])
        with timer.step("crop"):
            crop, affine = crop_and_resize(frame, box, size)
            points = apply_affine(track.landmarks[ordinal], affine)
        for other, gt in gt_frames.items():
            gt_frame = next(gt)
            with timer.step("crop"):
                row[f"gt_{other}"].append(crop_and_resize(gt_frame, box, size)[0])
        with timer.step("mask"):
            row["masks"].append(face_mask(points, size))
        row["frames"].append(crop)
        row["valid"].append(inside_frame(frame.shape, box, size))
        row["landmarks"].append(points)
    return {
        name: PreparedSplit(
            frames=np.stack(rows[name]["frames"]),
            landmarks=np.stack(rows[name]["landmarks"]),
            masks=np.stack(rows[name]["masks"]),
            index=track.index[splits[name]],
            gt={other: np.stack(rows[name][f"gt_{other}"]) for other in groundtruth},
            valid=np.stack(rows[name]["valid"]),
        )
        for name in splits
    }


def _frames_at(path: Path, indices: Sequence[int], shape: tuple[int, ...]) -> Iterator[np.ndarray]:
    """Yield the frames of a ground-truth video at increasing source ``indices``."""
    wanted = iter(indices)
    target = next(wanted, None)
    for index, frame in enumerate(read_frames(path)):
        if target is None:
            return
        if index == target:
            if frame.shape != shape:
                raise PrepareError(f"{path}: ground-truth frames are {frame.shape}, the source's {shape}")
            yield frame
            target = next(wanted, None)
    if target is not None:
        raise PrepareError(f"{path}: ground-truth video ends before frame {target}")


def _chunks(iterable: Iterator[Any] | tqdm, size: int) -> Iterator[list[Any]]:
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _report(
    source: Path,
    item: str,
    settings: dict[str, Any],
    track: _Track,
    valid: np.ndarray,
    split_info: dict[str, Any],
    groundtruth: dict[str, Path],
) -> dict[str, Any]:
    n_split = split_info["train"] + split_info["test"]
    return {
        "item": item,
        "source": str(source),
        "settings": settings,
        "frame_size": list(track.frame_shape[:2]),
        "frames_decoded": len(valid),
        "faces_found": int(valid.sum()),
        "frames_dropped": {
            "no_face": int((~valid).sum()),
            "outside_split": int(valid.sum()) - n_split,
            # frames-folder images that could not be read (a video's decoder stops at damage)
            "unreadable": len(frame_files(source)) - len(valid) if source.is_dir() else 0,
        },
        "several_faces_kept_one": track.several,
        "detector_runs": track.detector_runs,
        "split": split_info,
        "groundtruth": {other: str(path) for other, path in sorted(groundtruth.items())},
    }
