"""The face-off engine: frames in, frames with the face translated out, streaming.

Each frame goes through the preprocessing's own steps (:func:`faceoff.prepare.persons.track_faces`
for detection every ``detect_every`` frames with landmark tracking in between; the box of
:func:`~faceoff.faces.crop.square_box` smoothed over a centred window as
:func:`~faceoff.faces.crop.smooth_boxes` does; :func:`~faceoff.faces.crop.crop_and_resize`), so a
face is cut exactly as the run's training data was. Crops are translated in batches and pasted
back (:mod:`faceoff.apply.blend`). Memory holds the smoothing window and one batch, never the video.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any

import cv2
import numpy as np

from faceoff.apply import blend
from faceoff.datasets.crops import center_offset
from faceoff.errors import FaceoffError
from faceoff.faces.crop import (
    apply_affine,
    crop_and_resize,
    inside_frame,
    landmark_box,
    smooth_boxes,
    square_box,
)
from faceoff.faces.detect import make_detector
from faceoff.faces.landmarks import make_landmarker
from faceoff.prepare.persons import DEFAULTS, _detect, track_faces
from faceoff.prepare.report import StepTimer

Box = tuple[float, float, float, float]
Landmarks = Callable[[int], "np.ndarray | None"]


class ApplyError(FaceoffError, RuntimeError):
    """Input, run or settings that ``faceoff apply`` cannot work with; the message says which."""


@dataclass(frozen=True)
class FaceCrop:
    """Where one face of one frame was cut: its smoothed box and landmarks in crop pixels.

    ``size`` is the prepared crop side (``datasets.<d>.prepare.size``); the model sees the
    central ``crop_size`` window of it, as training and evaluation do.
    """

    frame_index: int
    box: Box
    size: int
    crop_size: int
    landmarks: np.ndarray = field(compare=False, repr=False)  # float32 (68, 2), ``size`` crop coords
    face: int = 0  # 0: the main face; others only with ``all_faces``

    @property
    def offset(self) -> int:
        return center_offset(self.size, self.crop_size)

    @property
    def window_landmarks(self) -> np.ndarray:
        """Landmarks in the model's ``crop_size`` window."""
        return self.landmarks - self.offset

    @property
    def affine(self) -> np.ndarray:
        """2x3 map from frame coordinates to the ``crop_size`` window's."""
        x0, y0, x1, y1 = self.box
        sx, sy = self.size / (x1 - x0), self.size / (y1 - y0)
        return np.array([[sx, 0.0, -x0 * sx - self.offset], [0.0, sy, -y0 * sy - self.offset]])


def cut(frame: np.ndarray, face: FaceCrop, size: int | None = None) -> np.ndarray:
    """Cut any frame of the same shape exactly as ``face`` was cut: its central ``crop_size``
    window (``size`` None), or the whole prepared crop (``size == face.size``)."""
    crop = crop_and_resize(frame, face.box, face.size)[0]
    if size == face.size:
        return crop
    if size not in (None, face.crop_size):
        raise ValueError(f"size must be None, {face.crop_size} or {face.size}, got {size}")
    off = face.offset
    return crop[off : off + face.crop_size, off : off + face.crop_size]


Translate = Callable[[np.ndarray, Sequence[FaceCrop]], np.ndarray]


@dataclass
class ApplyOptions:
    """How faces are found and cut (the run's prepare settings) and how they are pasted back."""

    size: int
    crop_size: int
    margin: float = DEFAULTS["margin"]
    detector: str = DEFAULTS["detector"]
    landmarks: str = DEFAULTS["landmarks"]
    smooth: int = DEFAULTS["smooth"]
    detect_every: int = DEFAULTS["detect_every"]
    detect_size: int | None = DEFAULTS["detect_size"]
    batch_size: int = 8
    all_faces: bool = False
    independent: bool = False  # unrelated images (a photo folder): no tracking, no smoothing
    blend: str = "feather"
    color_match: str = "none"  # "ring": remove a colour cast seen just outside the face
    color_momentum: float = 0.8
    feather: float = 0.08  # blur width, share of the crop side

    @classmethod
    def from_prepare(cls, settings: Mapping[str, Any], crop_size: int, **overrides: Any) -> ApplyOptions:
        """Options from a dataset's prepare settings (unknown keys such as ``split`` ignored)."""
        names = {f.name for f in fields(cls)}
        chosen = {k: v for k, v in {**DEFAULTS, **settings}.items() if k in names}
        chosen.update({k: v for k, v in overrides.items() if v is not None})
        return cls(crop_size=crop_size, **chosen)

    def __post_init__(self) -> None:
        if self.crop_size > self.size:
            raise ApplyError(
                f"the model takes {self.crop_size} px crops, larger than the {self.size} px faces its "
                "dataset was prepared at: the model and the crop settings do not match"
            )
        if self.blend not in blend.BLENDS:
            raise ApplyError(f"unknown blend {self.blend!r} (choose from {', '.join(blend.BLENDS)})")
        if self.color_match not in blend.COLOR_MATCHES:
            raise ApplyError(
                f"unknown colour match {self.color_match!r} (choose from {', '.join(blend.COLOR_MATCHES)})"
            )


@dataclass
class AppliedFrame:
    """One output frame; ``mask`` is the blend alpha (0 where the frame is untouched)."""

    index: int
    frame: np.ndarray
    mask: np.ndarray
    faces: list[FaceCrop]
    original: np.ndarray  # the input frame

    @property
    def face_found(self) -> bool:
        return bool(self.faces)


def annotation_lookup(path: Any) -> Landmarks:
    """Given landmarks (``<item>.landmarks.npy``: (T, 68, 2), NaN rows where no face) per frame."""
    try:
        table = np.load(path)
    except (OSError, ValueError) as exc:
        raise ApplyError(f"{path}: landmark annotations cannot be read ({exc})") from exc

    def lookup(index: int) -> np.ndarray | None:
        if index >= len(table):
            raise ApplyError(f"{path}: {len(table)} rows of landmarks, but the video has frame {index}")
        row = table[index]
        return row if np.isfinite(row).all() else None

    return lookup


def locate(
    frames: Iterable[np.ndarray],
    options: ApplyOptions,
    landmarks: Landmarks | None = None,
    timer: StepTimer | None = None,
) -> Iterator[tuple[int, np.ndarray, list[FaceCrop]]]:
    """``(index, frame, faces)`` for every frame: where its faces are cut (no face: an empty list).

    ``landmarks`` gives a frame's (68, 2) landmarks by its index (detector or landmarks
    ``annotations``).
    """
    timer = timer or StepTimer()
    annotated = "annotations" in (options.detector, options.landmarks)
    if annotated and landmarks is None:
        raise ApplyError(
            f"the run's faces come from landmark annotations (detector {options.detector!r}, landmarks "
            f"{options.landmarks!r}), which this input does not have: choose a detector and a landmark "
            "predictor (e.g. --detector mtcnn --landmarks dlib)"
        )
    with timer.step("load_models"):
        detector = None if options.detector == "annotations" else make_detector(options.detector)
        landmarker = None if options.landmarks == "annotations" else make_landmarker(options.landmarks)
    given = landmarks if annotated else None
    indexed = enumerate(frames)
    if options.all_faces:
        found = _all_faces(indexed, detector, landmarker, given, options, timer)
    elif options.independent:
        found = (
            (t.index, t.frame, [] if t.landmarks is None else [t.landmarks])
            for pair in indexed
            for t in track_faces([pair], detector, landmarker, given, 1, options.detect_size, timer)
        )
    else:
        tracked = track_faces(
            indexed, detector, landmarker, given, options.detect_every, options.detect_size, timer
        )
        found = ((t.index, t.frame, [] if t.landmarks is None else [t.landmarks]) for t in tracked)
    window = 1 if options.independent or options.all_faces else options.smooth
    for index, frame, boxes, points in _smoothed(found, options.margin, window):
        with timer.step("crop"):
            faces = [
                _face_crop(index, frame, box, lm, options, k)
                for k, (box, lm) in enumerate(zip(boxes, points, strict=True))
            ]
        yield index, frame, faces


def apply_frames(
    frames: Iterable[np.ndarray],
    translate: Translate,
    options: ApplyOptions,
    landmarks: Landmarks | None = None,
    timer: StepTimer | None = None,
) -> Iterator[AppliedFrame]:
    """Translate the face(s) of every frame and paste them back; frames without a face pass as they are.

    ``landmarks`` as for :func:`locate`. ``translate`` maps (N, crop, crop, 3) uint8 crops and
    their :class:`FaceCrop` to (N, crop, crop, 3) uint8.
    """
    timer = timer or StepTimer()
    paster = _Paster(options)
    batch: list[tuple[int, np.ndarray, list[FaceCrop]]] = []
    pending: _Batch | None = None
    # The translator runs on a worker thread while the next batch is decoded, detected and cut
    # (torch, OpenCV, dlib and PyAV release the GIL): two cores do twice the work of one.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceoff-translate") as worker:
        for index, frame, faces in locate(frames, options, landmarks, timer):
            batch.append((index, frame, faces))
            if sum(len(f) for _, _, f in batch) >= options.batch_size:
                submitted = _submit(batch, translate, worker, timer)
                if pending is not None:
                    yield from _paste(pending, paster, timer)
                pending, batch = submitted, []
        if pending is not None:
            yield from _paste(pending, paster, timer)
        yield from _paste(_submit(batch, translate, worker, timer), paster, timer)


def _all_faces(
    indexed: Iterable[tuple[int, np.ndarray]],
    detector: Any,
    landmarker: Any,
    given: Landmarks | None,
    options: ApplyOptions,
    timer: StepTimer,
) -> Iterator[tuple[int, np.ndarray, list[np.ndarray]]]:
    """Every face of every frame (detector on each frame; annotations know one face)."""
    for index, frame in indexed:
        if detector is None:
            points = None if given is None else given(index)
            yield index, frame, [] if points is None else [points]
            continue
        with timer.step("detect"):
            detections = _detect(detector, [frame], options.detect_size)[0]
        faces = []
        for detection in sorted(detections, key=lambda d: -d.score):
            with timer.step("landmarks"):
                faces.append(given(index) if landmarker is None else landmarker.predict(frame, detection.box))
        yield index, frame, [np.asarray(f, dtype=np.float32) for f in faces if f is not None]


def _smoothed(
    found: Iterable[tuple[int, np.ndarray, list[np.ndarray]]], margin: float, window: int
) -> Iterator[tuple[int, np.ndarray, list[Box], list[np.ndarray]]]:
    """Each frame's square boxes, the main face's averaged over a centred window of ``window``
    frames exactly as prepare's :func:`smooth_boxes` (a buffer of window // 2 frames ahead)."""
    half = (window | 1) // 2 if window > 1 else 0
    buffer: deque[tuple[int, np.ndarray, list[np.ndarray], list[Box]]] = deque()
    centre = 0

    def emit(k: int) -> tuple[int, np.ndarray, list[Box], list[np.ndarray]]:
        index, frame, points, boxes = buffer[k]
        if half and boxes:
            raw = np.array([b[0] if b else (np.nan,) * 4 for *_, b in buffer], dtype=np.float64)
            valid = np.array([bool(b) for *_, b in buffer])
            boxes = [tuple(map(float, smooth_boxes(raw, window, valid)[k])), *boxes[1:]]
        return index, frame, boxes, points

    for index, frame, points in found:
        buffer.append((index, frame, points, [square_box(landmark_box(p), margin) for p in points]))
        while len(buffer) - 1 - centre >= half:
            yield emit(centre)
            centre += 1
            if centre > half:
                buffer.popleft()
                centre -= 1
    while centre < len(buffer):
        yield emit(centre)
        centre += 1


def _face_crop(
    index: int, frame: np.ndarray, box: Box, points: np.ndarray, options: ApplyOptions, face: int
) -> FaceCrop:
    size = options.size
    sx, sy = size / (box[2] - box[0]), size / (box[3] - box[1])
    affine = np.array([[sx, 0.0, -box[0] * sx], [0.0, sy, -box[1] * sy]])
    return FaceCrop(index, box, size, options.crop_size, apply_affine(points, affine), face)


@dataclass
class _Batch:
    frames: list[tuple[int, np.ndarray, list[FaceCrop]]]
    crops: np.ndarray
    outputs: Future[np.ndarray] | None


def _submit(
    frames: list[tuple[int, np.ndarray, list[FaceCrop]]],
    translate: Translate,
    worker: ThreadPoolExecutor,
    timer: StepTimer,
) -> _Batch:
    """Cut a batch's faces and hand them to the translator thread (its time counts as "translate")."""
    faces = [f for _, _, fs in frames for f in fs]
    if not faces:
        return _Batch(frames, np.empty((0, 0, 0, 3), dtype=np.uint8), None)
    with timer.step("crop"):
        crops = np.stack([cut(frame, f) for _, frame, fs in frames for f in fs])

    def run() -> np.ndarray:
        with timer.step("translate"):
            return np.asarray(translate(crops, faces))

    return _Batch(frames, crops, worker.submit(run))


def _paste(batch: _Batch, paster: _Paster, timer: StepTimer) -> Iterator[AppliedFrame]:
    """Wait for a batch's translations and paste each back into its frame."""
    outputs = batch.crops
    if batch.outputs is not None:
        with timer.step("translate_wait"):
            outputs = batch.outputs.result()
        if outputs.shape != batch.crops.shape:
            raise ApplyError(f"the translator returned {outputs.shape} for crops of {batch.crops.shape}")
    k = 0
    for index, frame, fs in batch.frames:
        out = frame.copy()
        alpha = np.zeros(frame.shape[:2], dtype=np.float32)
        with timer.step("blend"):
            for face in fs:
                paster.paste(out, alpha, frame, face, batch.crops[k], outputs[k])
                k += 1
        yield AppliedFrame(index, out, alpha, fs, frame)


class _Paster:
    """Warps translated windows back into frames, with the colour-match state of each face."""

    def __init__(self, options: ApplyOptions) -> None:
        self.options = options
        self.matcher = blend.ColorMatcher(options.color_momentum) if options.color_match == "ring" else None

    def paste(
        self,
        out: np.ndarray,
        alpha_total: np.ndarray,
        frame: np.ndarray,
        face: FaceCrop,
        crop: np.ndarray,
        translated: np.ndarray,
    ) -> None:
        size = face.crop_size
        alpha = blend.feathered_mask(face.window_landmarks, size, self.options.feather)
        if self.matcher is not None:
            valid = inside_frame(frame.shape, face.box, face.size)[face.offset :, face.offset :][:size, :size]
            ring = blend.surroundings(face.window_landmarks, size, self.options.feather, valid)
            translated = self.matcher(face.face, translated, crop, ring)
        rect = blend.region(face.affine, size, frame.shape)
        if rect is None:
            return
        face_px = blend.warp_back(translated, face.affine, rect, cv2.INTER_CUBIC)
        weight = blend.warp_back(alpha, face.affine, rect, cv2.INTER_LINEAR)
        if self.options.blend == "seamless":
            face_px = blend.seamless(out, face_px, weight, rect)
        blend.composite(out, face_px, weight, rect)
        x0, y0, x1, y1 = rect
        np.maximum(alpha_total[y0:y1, x0:x1], weight, out=alpha_total[y0:y1, x0:x1])
