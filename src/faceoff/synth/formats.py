"""Synthetic writers of the real dataset layouts, so every reader is tested on every machine.

A :data:`SynthWriter` ``(out_dir, spec: SynthSpec)`` renders a dataset into ``out_dir`` exactly
as its authors lay it out, plus the landmarks the ``annotations`` detector reads; each dataset
kind names its writer (``faceoff.datasets.registry.DatasetKind.synth``). Quirks of the real data
are reproduced on purpose (a 3-channel JAFFE file, a README, ``version: 1.0``, fewer annotations
than frames, nested folders, mixed extensions, duplicate files) so the readers meet them in tests.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from faceoff.io.atomic import write_json, write_text
from faceoff.io.progress import progress_bar
from faceoff.io.video import write_video
from faceoff.synth.params import (
    EXPRESSION_PRESETS,
    Lighting,
    Pose,
    sample_expression,
    sample_lighting,
    sample_pose,
)
from faceoff.synth.person_videos import person_identity, person_motion, write_person_videos
from faceoff.synth.render import render_face
from faceoff.synth.spec import SynthSpec

ANNOTATIONS = "annotations.json"  # still-image sets: {path relative to the source: 68 x [x, y], 0-based}
JAFFE_GROUNDTRUTH = "groundtruth"
JAFFE_SUBJECTS = ("KA", "KL", "KM", "KR", "MK", "NA", "NM", "TM", "UY", "YM")
JAFFE_CODES = ("AN", "DI", "FE", "HA", "NE", "SA", "SU")
FFPP_VIDEOS = Path("original_sequences", "youtube", "c23", "videos")

SynthWriter = Callable[[str | os.PathLike[str], SynthSpec], None]


def jaffe_groundtruth_name(file_name: str, other: str) -> str:
    """``KA.NE1.5.tiff`` rendered with expression ``HA`` -> ``KA.NE1.5_as_HA.tiff``."""
    return f"{Path(file_name).stem}_as_{other}.tiff"


def write_jaffe(out_dir: str | os.PathLike[str], spec: SynthSpec) -> None:
    """A flat JAFFE folder: ``n_frames`` grayscale TIFFs per expression over up to ten subjects.

    All seven expressions are written whatever ``items`` asks for, as in the real set; each
    ground-truth pair (src, tgt) renders every src image again with expression tgt, same subject,
    pose and light, as ``groundtruth/<stem>_as_<tgt>.tiff``.
    """
    out, n_frames, size, seed = Path(out_dir), spec.n_frames, spec.size, spec.seed
    pairs = list(spec.ground_truth_pairs)
    bar = progress_bar(total=n_frames * (len(JAFFE_CODES) + len(pairs)), desc="synth jaffe", unit="image")
    subjects = JAFFE_SUBJECTS[: max(1, min(len(JAFFE_SUBJECTS), n_frames))]
    landmarks: dict[str, list[list[float]]] = {}
    shots: dict[str, list[tuple[str, str, Pose, Lighting]]] = {code: [] for code in JAFFE_CODES}
    file_id = 0
    for k in range(n_frames):
        subject = subjects[k % len(subjects)]
        for code in JAFFE_CODES:
            file_id += 1
            name = f"{subject}.{code}{k // len(subjects) + 1}.{file_id}.tiff"
            rng = _rng(seed, name)
            pose = Pose(
                tx=float(rng.uniform(-0.02, 0.02)),
                ty=float(rng.uniform(-0.02, 0.02)),
                scale=float(rng.uniform(0.5, 0.55)),
                roll=float(rng.uniform(-0.05, 0.05)),
                yaw=float(rng.uniform(-0.08, 0.08)),
            )
            lighting = Lighting(azimuth=float(rng.uniform(1.2, 1.9)), elevation=0.5)
            face = render_face(
                person_identity(seed, f"jaffe-{subject}"), EXPRESSION_PRESETS[code], pose, lighting, size
            )
            gray = Image.fromarray(face.image).convert("L")
            # JAFFE ships a few files as 3-channel TIFFs: the reader must force them to grayscale.
            (gray.convert("RGB") if file_id == 2 else gray).save(_parent(out / name), format="TIFF")
            landmarks[name] = face.landmarks.round(3).tolist()
            shots[code].append((name, subject, pose, lighting))
            bar.update()
    for src, tgt in pairs:
        for name, subject, pose, lighting in shots[src]:
            face = render_face(
                person_identity(seed, f"jaffe-{subject}"), EXPRESSION_PRESETS[tgt], pose, lighting, size
            )
            path = _parent(out / JAFFE_GROUNDTRUTH / jaffe_groundtruth_name(name, tgt))
            Image.fromarray(face.image).convert("L").save(path, format="TIFF")
            bar.update()
    bar.close()
    write_text(
        out / "README_FIRST.txt", "Synthetic JAFFE-layout faces rendered by faceoff (not the real set).\n"
    )
    write_json(out / ANNOTATIONS, landmarks)


def write_300vw(out_dir: str | os.PathLike[str], spec: SynthSpec) -> None:
    """``NNN/vid.avi`` (4:3 frames) and ``NNN/annot/NNNNNN.pts`` (1-based) per video id.

    The second video's files say ``version: 1.0``; the last video lacks its final two
    annotations, like the 300VW test videos whose counts disagree. No ground truth is rendered.
    """
    out, items, n_frames, size = Path(out_dir), spec.items, spec.n_frames, spec.size
    fps, seed = spec.fps, spec.seed
    width = (size * 4 // 3) // 2 * 2
    pad = (width - size) // 2
    bar = progress_bar(total=n_frames * len(items), desc="synth 300vw", unit="frame")
    for k, item in enumerate(items):
        identity, motion = person_identity(seed, item), person_motion(seed, item, n_frames, fps)
        faces = []
        for f in motion:
            faces.append(render_face(identity, f.expression, f.pose, f.lighting, size))
            bar.update()
        frames = [np.pad(f.image, ((0, 0), (pad, width - size - pad), (0, 0)), mode="edge") for f in faces]
        write_video(out / item / "vid.avi", frames, fps)
        n_annotated = n_frames - 2 if k == len(items) - 1 and n_frames > 4 else n_frames
        version = "1.0" if k == 1 else "1"
        for index, face in enumerate(faces[:n_annotated]):
            points = face.landmarks + np.array([pad + 1.0, 1.0], dtype=np.float32)
            lines = "\n".join(f"{x:.3f} {y:.3f}" for x, y in points)
            write_text(
                out / item / "annot" / f"{index + 1:06d}.pts",
                f"version: {version}\nn_points:  68\n{{\n{lines}\n}}\n",
            )
    bar.close()


def write_portraits(out_dir: str | os.PathLike[str], spec: SynthSpec) -> None:
    """``photos/`` (renderer output) and ``paintings/`` (painted renderings of other people).

    ``n_frames`` distinct images per domain, spread over nested folders with mixed extensions,
    plus two byte-identical copies per domain under other names. No ground truth exists for
    unpaired domains, so none is rendered.
    """
    out, n_frames, size, seed = Path(out_dir), spec.n_frames, spec.size, spec.seed
    layout = ("", "set_a", "set_b/nested")
    extensions = (".jpg", ".png", ".jpeg", ".JPG")
    landmarks: dict[str, list[list[float]]] = {}
    bar = progress_bar(total=2 * n_frames, desc="synth portraits", unit="image")
    for folder, painted in (("photos", False), ("paintings", True)):
        written = []
        for k in range(n_frames):
            rng = _rng(seed, f"{folder}-{k}")
            face = render_face(
                person_identity(seed, f"{folder}-{k}"),
                sample_expression(rng),
                _frontal(sample_pose(rng)),
                sample_lighting(rng),
                size,
            )
            image = paint(face.image, rng) if painted else face.image
            relative = Path(folder, layout[k % len(layout)], f"{k:05d}{extensions[k % len(extensions)]}")
            _save_rgb(image, out / relative)
            landmarks[relative.as_posix()] = face.landmarks.round(3).tolist()
            written.append(relative)
            bar.update()
        for k, relative in enumerate(written[:2]):
            copy = relative.with_name(f"copy_{k}_{relative.name}")
            shutil.copyfile(out / relative, out / copy)
            landmarks[copy.as_posix()] = landmarks[relative.as_posix()]
    bar.close()
    write_json(out / ANNOTATIONS, landmarks)


def write_ffpp(out_dir: str | os.PathLike[str], spec: SynthSpec) -> None:
    """``original_sequences/youtube/c23/videos/NNN.mp4`` and ``splits/{train,val,test}.json``.

    Consecutive ids form the manipulation pairs, dealt to train, val, test in turn (an odd last
    id is paired with itself). Landmarks and ground truth sit beside the videos as for person
    videos (``NNN.landmarks.npy``, ``groundtruth/<src>_as_<tgt>.mp4``).
    """
    out, items = Path(out_dir), spec.items
    write_person_videos(out / FFPP_VIDEOS, spec, "synth ffpp")
    pairs = [list(items[k : k + 2]) for k in range(0, len(items), 2)]
    pairs = [p if len(p) == 2 else p * 2 for p in pairs]
    for k, name in enumerate(("train", "val", "test")):
        write_text(out / "splits" / f"{name}.json", json.dumps(pairs[k::3]) + "\n")


def paint(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A painted look: a shifted, reduced palette, brush strokes along a flowing direction, canvas grain."""
    height, width = image.shape[:2]
    quantized = Image.fromarray(image).quantize(
        colors=int(rng.integers(12, 28)), method=Image.Quantize.MEDIANCUT
    )
    out = np.asarray(quantized.convert("RGB"), dtype=np.float32)
    warm = np.array([[0.95, 0.12, 0.0], [0.05, 0.85, 0.08], [0.0, 0.1, 0.7]], dtype=np.float32)
    out = out @ (warm + rng.normal(0, 0.04, (3, 3)).astype(np.float32)).T + rng.uniform(5, 25, 3).astype(
        np.float32
    )
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    coarse = rng.uniform(0, np.pi, (4, 4)).astype(np.float32)
    angle = np.asarray(Image.fromarray(coarse, mode="F").resize((width, height), Image.BICUBIC))
    along = xx * np.cos(angle) + yy * np.sin(angle)
    across = -xx * np.sin(angle) + yy * np.cos(angle)
    strokes = np.sin(across * 1.7 + 2.0 * np.sin(along * 0.25)) * (0.5 + 0.5 * np.sin(along * 0.11))
    weave = 0.5 * (np.sin(xx * 2.1) + np.sin(yy * 2.1))
    gain = 1 + 0.07 * strokes + 0.03 * weave
    out = out * gain[..., None] + rng.normal(0, 3, out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _frontal(pose: Pose) -> Pose:
    """Portrait sets are mostly frontal head-and-shoulders shots, larger than in talking-head videos."""
    return Pose(tx=pose.tx / 2, ty=pose.ty / 2, scale=pose.scale * 1.15, roll=pose.roll / 2, yaw=pose.yaw / 2)


def _parent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _save_rgb(image: np.ndarray, path: Path) -> None:
    Image.fromarray(image).save(
        _parent(path), format="PNG" if path.suffix.lower() == ".png" else "JPEG", quality=92
    )
