"""What ``faceoff apply`` reads and writes: a video, one image, or a folder of images.

Output is the same kind as the input and keeps what a viewer notices: a video keeps its frame
rate, its frame size and its audio track (copied as is when the container is the same kind,
re-encoded to AAC otherwise); images keep their size, format and relative paths. Everything is
written next to its target and moved into place only when complete.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

from faceoff.apply.engine import ApplyError
from faceoff.datasets.stills import STILL_EXTENSIONS
from faceoff.io.atomic import atomic_path
from faceoff.io.video import _CONTAINERS, VIDEO_EXTENSIONS, read_frames, x264_options

KINDS = ("video", "image", "folder")


def media_kind(path: str | os.PathLike[str]) -> str:
    """``video``, ``image`` or ``folder`` by what ``path`` is and its suffix."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    if suffix in STILL_EXTENSIONS:
        return "image"
    raise ApplyError(
        f"{path}: not a video ({', '.join(VIDEO_EXTENSIONS)}), an image ({', '.join(STILL_EXTENSIONS)}) "
        "or a folder of images"
    )


@dataclass(frozen=True)
class VideoInfo:
    """What the output must keep: rate, size and whether there is sound; ``frames`` 0 = unknown."""

    rate: Fraction
    width: int
    height: int
    frames: int
    audio: bool


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    path = Path(path)
    if not path.is_file():
        raise ApplyError(f"{path}: input not found")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ApplyError(f"{path}: no video stream in the file")
            stream = container.streams.video[0]
            rate = Fraction(stream.average_rate or stream.guessed_rate or 25)
            return VideoInfo(
                rate, stream.width, stream.height, stream.frames or 0, bool(container.streams.audio)
            )
    except av.error.FFmpegError as exc:
        raise ApplyError(f"{path}: not a readable video ({exc})") from exc


def video_frames(path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """RGB frames of a video, every one (no resampling: the output keeps the input's rate)."""
    yield from read_frames(path)


def write_video(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    info: VideoInfo,
    audio_from: str | os.PathLike[str] | None = None,
    crf: int = 18,
) -> int:
    """Encode RGB frames (H.264) at ``info.rate`` with the audio track of ``audio_from``, atomically.

    Odd frame sizes are kept (4:4:4 chroma, which H.264 allows at any size). Returns the frames written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _CONTAINERS:
        raise ApplyError(
            f"{path}: cannot write {suffix or 'suffix-less'} videos (use {', '.join(_CONTAINERS)})"
        )
    n = 0
    with atomic_path(path, suffix=suffix) as tmp, av.open(str(tmp), "w", format=_CONTAINERS[suffix]) as out:
        source = av.open(str(audio_from)) if audio_from is not None else None
        try:
            audio_in = source.streams.audio[0] if source is not None and source.streams.audio else None
            copy_audio = audio_from is not None and Path(audio_from).suffix.lower() == suffix
            stream = None
            audio_out = None
            for frame in frames:
                if stream is None:
                    height, width = frame.shape[:2]
                    stream = out.add_stream("libx264", rate=info.rate)
                    stream.width, stream.height = width, height
                    stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
                    stream.options = x264_options(crf)
                    stream.codec_context.thread_count = 1  # bytes independent of the CPU count
                    if audio_in is not None:
                        audio_out = _audio_stream(out, audio_in, copy_audio)
                image = av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(frame, dtype=np.uint8), format="rgb24"
                )
                for packet in stream.encode(image):
                    out.mux(packet)
                n += 1
            if stream is None:
                raise ApplyError(f"{path}: no frames to write")
            for packet in stream.encode():
                out.mux(packet)
            if audio_in is not None and audio_out is not None:
                _copy_audio(source, audio_in, out, audio_out, copy_audio)
        finally:
            if source is not None:
                source.close()
    return n


def _audio_stream(
    out: av.container.OutputContainer, audio_in: av.audio.stream.AudioStream, copy: bool
) -> Any:
    if copy:
        return out.add_stream_from_template(audio_in)
    stream = out.add_stream("aac", rate=audio_in.rate)
    stream.layout = audio_in.layout.name
    return stream


def _copy_audio(
    source: av.container.InputContainer,
    audio_in: av.audio.stream.AudioStream,
    out: av.container.OutputContainer,
    audio_out: Any,
    copy: bool,
) -> None:
    """Packets as they are (same container kind) or decoded and re-encoded to AAC."""
    for packet in source.demux(audio_in):
        if packet.dts is None:
            continue
        if copy:
            packet.stream = audio_out
            out.mux(packet)
            continue
        for frame in packet.decode():
            frame.pts = None
            for encoded in audio_out.encode(frame):
                out.mux(encoded)
    if not copy:
        for encoded in audio_out.encode():
            out.mux(encoded)


def read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError, UnidentifiedImageError) as exc:
        raise ApplyError(f"{path}: not a readable image ({exc})") from exc


def write_image(path: Path, frame: np.ndarray) -> None:
    """Write atomically in the format the suffix names."""
    with atomic_path(path, suffix=path.suffix) as tmp:
        Image.fromarray(frame).save(tmp, format=Image.registered_extensions().get(path.suffix.lower()))


def image_files(folder: Path) -> list[Path]:
    """Every image under ``folder``, recursively, hidden files and folders skipped, sorted."""
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in STILL_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    if not files:
        raise ApplyError(f"{folder}: no images ({', '.join(STILL_EXTENSIONS)}) in the folder")
    return files
