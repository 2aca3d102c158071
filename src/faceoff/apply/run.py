"""``faceoff apply``: a trained run applied to a video, an image or a folder of images.

Faces are found and cut with the settings the run's training data was prepared with (read from
the prepared item's ``report.json``, else the dataset's ``prepare`` block), translated with the
run's model in batches and pasted back. The output is written atomically: a failure leaves no
OUTPUT behind.
"""

from __future__ import annotations

import logging
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from faceoff.apply.engine import (
    AppliedFrame,
    ApplyError,
    ApplyOptions,
    FaceCrop,
    Landmarks,
    annotation_lookup,
    apply_frames,
    locate,
)
from faceoff.apply.source import (
    image_files,
    media_kind,
    probe_video,
    read_image,
    video_frames,
    write_image,
    write_video,
)
from faceoff.config import Layout, get_run
from faceoff.faces.mask import face_mask
from faceoff.io.atomic import atomic_dir, read_json
from faceoff.io.progress import progress_bar
from faceoff.prepare.report import StepTimer

log = logging.getLogger(__name__)

DIRECTIONS = {"A2B": "AB", "B2A": "BA"}
STAGES = ("decode", "detect", "landmarks", "crop", "translate", "translate_wait", "blend", "encode")


@dataclass
class ApplySummary:
    """What an apply did: frames, faces, skipped frames (no face) and seconds per stage."""

    input: str
    output: str
    kind: str
    run: str
    direction: str
    frames: int = 0
    faces_found: int = 0  # frames with at least one face
    faces_pasted: int = 0
    skipped: int = 0  # frames passed through unchanged (no face)
    unreadable: int = 0  # images of a folder that could not be read
    seconds: dict[str, float] = field(default_factory=dict)
    total_s: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.total_s if self.total_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fps": round(self.fps, 3)}

    def line(self) -> str:
        stages = ", ".join(f"{k} {self.seconds[k]:.1f}s" for k in STAGES if k in self.seconds)
        return (
            f"{self.output}: {self.frames} frames, {self.faces_found} with a face, {self.skipped} "
            f"passed unchanged{f', {self.unreadable} unreadable' if self.unreadable else ''}; "
            f"{self.total_s:.1f} s ({self.fps:.1f} frames/s): {stages}"
        )


def prepare_settings(params: Mapping[str, Any], dataset: str, item: str) -> dict[str, Any]:
    """The settings the item was prepared with: its ``report.json`` (defaults filled in), else the
    dataset's ``prepare`` block."""
    report = Layout.of(params).prepared(dataset, item) / "report.json"
    if report.is_file():
        try:
            return dict(read_json(report)["settings"])
        except (ValueError, KeyError, TypeError):
            log.warning("%s: unreadable, using datasets.%s.prepare", report, dataset)
    return dict(params["datasets"][dataset].get("prepare", {}))


def load_run_model(
    path: Path, run_key: str, device: str, items: tuple[str, str]
) -> tuple[Any, dict[str, Any]]:
    """The run's translator and its recorded training settings; a missing, damaged or
    non-translating model is an :class:`ApplyError` naming the file."""
    import torch

    from faceoff.train import get_model, load_translator

    remake = f"faceoff train --run {run_key}"
    if not path.is_file():
        raise ApplyError(f"{path}: trained model not found: the run is not trained, run `{remake}` first")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
        settings = dict(torch.load(path, map_location="cpu", weights_only=True)["settings"])
    except (zipfile.BadZipFile, OSError, RuntimeError, KeyError) as exc:
        damaged = str(exc)
    if damaged is not None:
        raise ApplyError(f"{path}: not a complete model file ({damaged}): delete it and run `{remake}` again")
    kind = get_model(str(settings.get("model", "cyclegan"))).evaluation
    try:
        model = load_translator(path, device, items=items)
    except (ValueError, RuntimeError) as exc:  # a model without a translator; weights that do not fit
        raise ApplyError(f"{path}: cannot be applied ({exc})") from exc
    settings["evaluation"] = kind
    return model, settings


def apply_run(
    params: Mapping[str, Any],
    run_id: str,
    input_path: str | Path,
    output_path: str | Path,
    direction: str = "A2B",
    side_by_side: bool = False,
    all_faces: bool = False,
    driver: str | Path | None = None,
    progress: bool = True,
    overrides: Mapping[str, Any] | None = None,
    device: str = "cpu",
    precision: str = "fp32",
    on_frame: Callable[[AppliedFrame], None] | None = None,
) -> ApplySummary:
    """Apply run ``run_id`` (``family/pair-variant-sS``) to INPUT and write OUTPUT of the same kind.

    ``overrides`` replaces :class:`ApplyOptions` fields (e.g. ``detector`` for footage without
    annotations, ``blend``, ``color_match``, ``batch_size``); ``on_frame`` sees every applied
    frame (with its blend mask) before it is written. ``precision`` as for training (fp32 unless
    asked: lower precision changes the pixels).
    """
    run = get_run(params, run_id)
    if direction not in DIRECTIONS:
        raise ApplyError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    source_item = run.items[0] if direction == "A2B" else run.items[1]
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.exists():
        raise ApplyError(f"{input_path}: input not found")
    kind = media_kind(input_path)
    _check_output(kind, input_path, output_path)
    settings = prepare_settings(params, run.dataset, source_item)
    if "size" not in settings:
        raise ApplyError(f"datasets.{run.dataset}.prepare.size is not set: the crop size of the run's faces")
    model_path = Layout.of(params).train(run.family, run.id) / "model.pt"
    model, trained = load_run_model(model_path, run.key, device, run.items)
    reenact = trained["evaluation"] == "reenact"
    if reenact and driver is None:
        raise ApplyError(f"run {run.key} is a reenactment run: give the video to follow with --driver VIDEO")
    if driver is not None and not reenact:
        raise ApplyError(f"--driver is for reenactment runs; run {run.key} translates faces on its own")
    crop_size = int(trained.get("crop_size", run.settings.get("crop_size", settings["size"])))
    options = ApplyOptions.from_prepare(
        settings, crop_size, all_faces=all_faces, independent=kind != "video", **dict(overrides or {})
    )
    if reenact:
        translate = reenactor(model, driving_landmarks(Path(driver), options))
    else:
        translate = translator(model, DIRECTIONS[direction], crop_size, precision, device)
    summary = ApplySummary(
        str(input_path),
        str(output_path),
        kind,
        run.key,
        direction,
        settings=asdict(options),
    )
    return apply_media(input_path, output_path, translate, options, summary, side_by_side, progress, on_frame)


def apply_media(
    input_path: Path,
    output_path: Path,
    translate: Callable[[np.ndarray, Sequence[FaceCrop]], np.ndarray],
    options: ApplyOptions,
    summary: ApplySummary,
    side_by_side: bool = False,
    progress: bool = True,
    on_frame: Callable[[AppliedFrame], None] | None = None,
) -> ApplySummary:
    """Read ``summary.kind`` media, apply, write atomically; fills and returns ``summary``
    (``faceoff bench --apply`` times the command through this)."""
    start = time.perf_counter()
    kind = summary.kind
    timer = StepTimer()
    if kind == "video":
        info = probe_video(input_path)
        landmarks = _annotations(input_path, options)
        frames = timer.iterate("decode", video_frames(input_path))
        applied = _counted(
            apply_frames(frames, translate, options, landmarks, timer), summary, timer, on_frame
        )
        shown = _shown(_progress(applied, info.frames, progress, str(input_path)), side_by_side)
        write_video(output_path, shown, info, audio_from=input_path if info.audio else None)
    elif kind == "image":
        frames = timer.iterate("decode", [read_image(input_path)])
        applied = _counted(apply_frames(frames, translate, options, None, timer), summary, timer, on_frame)
        for frame in _shown(applied, side_by_side):
            write_image(output_path, frame)
    else:
        files = image_files(input_path)
        readable: list[Path] = []

        def decoded() -> Iterator[np.ndarray]:
            for file in files:
                try:
                    image = read_image(file)
                except ApplyError as exc:
                    log.warning("%s: skipped", exc)
                    summary.unreadable += 1
                    continue
                readable.append(file)
                yield image

        with atomic_dir(output_path) as folder:
            applied = _counted(
                apply_frames(timer.iterate("decode", decoded()), translate, options, None, timer),
                summary,
                timer,
                on_frame,
            )
            shown = _shown(_progress(applied, len(files), progress, str(input_path)), side_by_side)
            for k, frame in enumerate(shown):
                write_image(folder / readable[k].relative_to(input_path), frame)
    summary.total_s = round(time.perf_counter() - start, 3)
    summary.seconds = {k: round(v, 3) for k, v in timer.summary().items()}
    log.info("%s", summary.line())
    return summary


def _check_output(kind: str, input_path: Path, output_path: Path) -> None:
    if output_path.resolve() == input_path.resolve():
        raise ApplyError(f"{output_path}: the output would overwrite the input")
    if kind == "folder":
        if output_path.exists() and not output_path.is_dir():
            raise ApplyError(f"{output_path}: the input is a folder, so the output must be a folder too")
        if output_path.resolve().is_relative_to(input_path.resolve()):
            raise ApplyError(f"{output_path}: the output folder must not lie inside the input folder")
        return
    if output_path.is_dir():
        raise ApplyError(f"{output_path}: is a folder; the input is one {kind}, name an output file")
    out_kind = media_kind(output_path) if output_path.suffix else "none"
    if out_kind != kind:
        raise ApplyError(
            f"{output_path}: not the kind of the input ({kind} {input_path}): name a {kind} output"
        )


def _annotations(input_path: Path, options: ApplyOptions) -> Landmarks | None:
    """The synthetic renderer's ``<stem>.landmarks.npy`` beside the video, when the run uses annotations."""
    if "annotations" not in (options.detector, options.landmarks):
        return None
    path = input_path.with_name(f"{input_path.stem}.landmarks.npy")
    return annotation_lookup(path) if path.is_file() else None


def translator(
    model: Any, code: str, crop_size: int, precision: str = "fp32", device: str = "cpu"
) -> Callable[[np.ndarray, Sequence[FaceCrop]], np.ndarray]:
    """A model's ``translate(direction, crops, masks)`` as the engine calls it: face masks from the
    crops' landmarks (for models trained on masked input); fp32 unless ``precision`` asks for an
    autocast type (``auto``: bf16 where the device computes it natively; it changes the pixels)."""
    import torch

    from faceoff.train.runtime import AUTOCAST_DTYPES, resolve_precision

    dtype = AUTOCAST_DTYPES[resolve_precision(precision, device)]
    device_type = torch.device(device).type

    def translate(crops: np.ndarray, faces: Sequence[FaceCrop]) -> np.ndarray:
        masks = np.stack([face_mask(f.window_landmarks, crop_size) for f in faces])
        with torch.autocast(device_type, dtype=dtype, enabled=dtype is not None):
            return model.translate(code, crops, masks)

    return translate


def driving_landmarks(driver: Path, options: ApplyOptions) -> list[np.ndarray | None]:
    """The driver's main-face landmarks per frame in the model's crop window (None: no face),
    found and cut with the same settings as the input's faces."""
    kind = media_kind(driver) if driver.exists() else "missing"
    if kind not in ("video", "image"):
        raise ApplyError(f"{driver}: the driver must be a video or an image ({kind})")
    frames = video_frames(driver) if kind == "video" else iter([read_image(driver)])
    lookup = _annotations(driver, options) if kind == "video" else None
    single = replace(options, all_faces=False, independent=kind == "image")
    found = [faces[0].window_landmarks if faces else None for _, _, faces in locate(frames, single, lookup)]
    if not any(f is not None for f in found):
        raise ApplyError(f"{driver}: no face found in any of the driver's {len(found)} frames")
    return found


def reenactor(
    model: Any, driving: Sequence[np.ndarray | None]
) -> Callable[[np.ndarray, Sequence[FaceCrop]], np.ndarray]:
    """Input frame k takes the expression and pose of driver frame k (the driver's last frame once it
    ends; a driver frame without a face keeps the landmarks of the one before)."""
    held: list[np.ndarray] = []
    last = next(f for f in driving if f is not None)
    for points in driving:
        last = last if points is None else points
        held.append(last)

    def translate(crops: np.ndarray, faces: Sequence[FaceCrop]) -> np.ndarray:
        points = np.stack([held[min(f.frame_index, len(held) - 1)] for f in faces])
        return model.reenact(crops, points)

    return translate


def _counted(
    applied: Iterable[AppliedFrame],
    summary: ApplySummary,
    timer: StepTimer,
    on_frame: Callable[[AppliedFrame], None] | None,
) -> Iterator[AppliedFrame]:
    """Count frames and faces; the time the consumer spends between frames is encoding. No face
    in any frame stops before the output is moved into place."""
    for frame in applied:
        summary.frames += 1
        summary.faces_found += frame.face_found
        summary.faces_pasted += len(frame.faces)
        summary.skipped += not frame.face_found
        if on_frame is not None:
            on_frame(frame)
        with timer.step("encode"):
            yield frame
    if summary.frames == 0:
        raise ApplyError(f"{summary.input}: not a single frame could be read")
    if summary.faces_found == 0:
        detector = summary.settings.get("detector")
        raise ApplyError(
            f"{summary.input}: no face found in any of its {summary.frames} frames (detector {detector!r}); "
            "nothing was written"
        )


def _shown(applied: Iterable[AppliedFrame], side_by_side: bool) -> Iterator[np.ndarray]:
    for item in applied:
        yield np.concatenate([item.original, item.frame], axis=1) if side_by_side else item.frame


def _progress(
    applied: Iterable[AppliedFrame], total: int, progress: bool, name: str
) -> Iterator[AppliedFrame]:
    """A bar (frames, frames/s, ETA) on a terminal; elsewhere a log line at the start, at least every
    30 s and at the end (:func:`faceoff.io.progress.progress_bar`)."""
    yield from progress_bar(
        applied, desc=f"apply {Path(name).name}", total=total or None, unit="frame", enabled=progress
    )
