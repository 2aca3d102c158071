"""Video decoding and encoding with PyAV (ffmpeg's libraries, no ffmpeg binary needed).

Frames are RGB ``uint8`` arrays of shape (H, W, 3) everywhere in faceoff.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np

from faceoff.errors import FaceoffError
from faceoff.io.atomic import atomic_path

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}


class VideoError(FaceoffError, RuntimeError):
    """A video that is missing, empty or cannot be decoded; the message names the file."""


def probe_fps(path: str | os.PathLike[str]) -> float:
    """Average frame rate of the first video stream."""
    path = _existing(path)
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            rate = stream.average_rate or stream.guessed_rate
            return float(rate) if rate else 25.0
    except av.error.FFmpegError as exc:
        raise VideoError(f"{path}: cannot be decoded ({exc})") from exc


def probe_frame_count(path: str | os.PathLike[str]) -> int | None:
    """Frames the first video stream declares (None when the container does not say): a progress
    bar's total, not a promise: a file that cannot be read says nothing here, its reader says why."""
    try:
        with av.open(str(_existing(path))) as container:
            return _video_stream(container, Path(path)).frames or None
    except (VideoError, av.error.FFmpegError):
        return None


def read_frames(path: str | os.PathLike[str], fps: float | None = None) -> Iterator[np.ndarray]:
    """Yield RGB frames, optionally resampled to ``fps`` by dropping frames.

    A stream that breaks part-way stops the iteration after the last good frame; a file with
    no decodable frame at all raises :class:`VideoError`.
    """
    path = _existing(path)
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise VideoError(f"{path}: not a readable video ({exc})") from exc
    n_out = 0
    try:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        src_fps = float(stream.average_rate or stream.guessed_rate or 25.0)
        step = 1.0 if fps is None or fps >= src_fps else src_fps / fps
        next_pick = 0.0
        try:
            for index, frame in enumerate(container.decode(stream)):
                if index + 1e-9 >= next_pick:
                    next_pick += step
                    n_out += 1
                    yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            if n_out == 0:
                raise VideoError(f"{path}: no decodable frame ({exc})") from exc
    finally:
        container.close()
    if n_out == 0:
        raise VideoError(f"{path}: the video holds no frames")


class DecodeCheck(NamedTuple):
    """What decoding a whole video found: frames decoded, frames declared (0: unknown), error."""

    frames: int
    declared: int
    error: str | None


def decode_to_end(path: str | os.PathLike[str]) -> DecodeCheck:
    """Decode every frame, without colour conversion, and say where decoding stopped and why.

    :func:`read_frames` stops quietly where a stream breaks, so that prepare keeps what decodes;
    ``ingest`` calls this instead to report such files. The declared count is the container's
    frame count, else its duration times its rate. A file that does not open raises
    :class:`VideoError`; a decoder error part-way is returned, with the frames decoded before it.
    """
    path = _existing(path)
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise VideoError(f"{path}: not a readable video ({exc})") from exc
    decoded, error = 0, None
    with container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        declared = stream.frames
        rate = stream.average_rate or stream.guessed_rate
        if not declared and rate:
            if stream.duration and stream.time_base:
                seconds = float(stream.duration * stream.time_base)
            else:
                seconds = (container.duration or 0) / av.time_base
            declared = round(seconds * float(rate))
        try:
            for _ in container.decode(stream):
                decoded += 1
        except av.error.FFmpegError as exc:
            error = str(exc)
    return DecodeCheck(decoded, declared, error)


def x264_options(crf: int) -> dict[str, str]:
    """libx264 options that make the bytes a pure function of the frames (with one encoder thread).

    Two sources of variation are switched off. Threads: by default libx264 cuts each frame into one
    slice per CPU the process may use (up to one per 4 macroblock rows), so the bytes and decoded
    pixels of frames 128 px and taller depended on the machine's CPU set: callers also set the
    codec context's ``thread_count = 1``. The macroblock tree (``mbtree``): with it on, encoding
    the same small (64 px) frames twice in one process gave other bytes, and other decoded pixels
    (up to 39 levels), in about 1 of 15 runs; with it off, 300 of 300 were identical.
    """
    return {"crf": str(crf), "preset": "veryfast", "x264-params": "mbtree=0"}


def write_video(
    path: str | os.PathLike[str], frames: Iterable[np.ndarray], fps: float = 25.0, crf: int = 18
) -> int:
    """Encode RGB frames to H.264 atomically; the container follows the suffix (mp4, mkv, avi, mov).

    Returns the number of frames written.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _CONTAINERS:
        raise VideoError(
            f"{path}: cannot write {suffix or 'suffix-less'} videos (use {', '.join(_CONTAINERS)})"
        )
    n = 0
    with (
        atomic_path(path, suffix=suffix) as tmp,
        av.open(str(tmp), mode="w", format=_CONTAINERS[suffix]) as container,
    ):
        stream = None
        for frame in frames:
            frame = np.ascontiguousarray(frame, dtype=np.uint8)
            if stream is None:
                height, width = frame.shape[:2]
                stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
                stream.width, stream.height = width - width % 2, height - height % 2
                stream.pix_fmt = "yuv420p"
                stream.options = x264_options(crf)
                stream.codec_context.thread_count = 1  # see x264_options
            frame = frame[: stream.height, : stream.width]
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
            n += 1
        if stream is None:
            raise VideoError(f"{path}: refusing to write a video with no frames")
        for packet in stream.encode():
            container.mux(packet)
    return n


def _existing(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: video file not found")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: video file is empty (0 bytes)")
    return path


def _video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise VideoError(f"{path}: no video stream in the file")
    return container.streams.video[0]
