"""Write a synthetic person-video dataset in the same on-disk format as real data.

<out>/<item>.mp4                     the person's talking-head video
<out>/<item>.landmarks.npy           (N, 68, 2) float32 exact landmarks
<out>/<item>.json                    identity + per-frame parameters (enough to re-render)
<out>/groundtruth/<src>_as_<tgt>.mp4 src's frames as tgt's recording: tgt's identity and light
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from faceoff.io.atomic import read_json, save_npy, write_json
from faceoff.io.progress import progress_bar
from faceoff.io.video import write_video
from faceoff.synth.params import Expression, Identity, Lighting, Pose, from_dict, sample_identity, to_dict
from faceoff.synth.render import render_face
from faceoff.synth.sequence import FrameParams, recorded_like, talking_head_sequence
from faceoff.synth.spec import SynthSpec


def _item_rng(seed: int, item: str, stream: int) -> np.random.Generator:
    """Stable across runs and item orderings (Python's str hash is salted, crc32 is not)."""
    return np.random.default_rng([seed, zlib.crc32(item.encode()), stream])


def person_identity(seed: int, item: str) -> Identity:
    """The person called ``item`` in the dataset rendered with ``seed``."""
    return sample_identity(_item_rng(seed, item, 0))


def person_motion(seed: int, item: str, n_frames: int, fps: float) -> list[FrameParams]:
    """The per-frame parameters of ``item``'s video; ground truths replay them in another's recording."""
    return talking_head_sequence(_item_rng(seed, item, 1), n_frames, fps)


def write_person_videos(
    out_dir: str | os.PathLike[str], spec: SynthSpec, desc: str = "synth person videos"
) -> None:
    """Render every item's video, landmarks and parameters, then the requested ground truths
    (a progress bar ``desc`` counts the frames)."""
    out, items, n_frames, size = Path(out_dir), spec.items, spec.n_frames, spec.size
    fps, seed = spec.fps, spec.seed
    pairs = list(spec.ground_truth_pairs)
    bar = progress_bar(total=n_frames * (len(items) + len(pairs)), desc=desc, unit="frame")
    for item in items:
        identity, motion = person_identity(seed, item), person_motion(seed, item, n_frames, fps)
        landmarks: list[np.ndarray] = []
        bar.set_postfix_str(item)
        write_video(out / f"{item}.mp4", _frames(identity, motion, size, bar, landmarks), fps)
        save_npy(out / f"{item}.landmarks.npy", np.stack(landmarks).astype(np.float32))
        write_json(
            out / f"{item}.json",
            {
                "item": item,
                "seed": seed,
                "size": size,
                "fps": fps,
                "identity": to_dict(identity),
                "frames": [
                    {k: to_dict(getattr(f, k)) for k in ("expression", "pose", "lighting")} for f in motion
                ],
            },
        )
    for src, tgt in pairs:
        motion = recorded_like(
            person_motion(seed, src, n_frames, fps), person_motion(seed, tgt, n_frames, fps)
        )
        bar.set_postfix_str(f"ground truth {src} as {tgt}")
        write_video(
            out / "groundtruth" / f"{src}_as_{tgt}.mp4",
            _frames(person_identity(seed, tgt), motion, size, bar),
            fps,
        )
    bar.close()


def read_person(path: str | os.PathLike[str]) -> tuple[Identity, list[FrameParams], int]:
    """Identity, frame parameters and size from a ``<item>.json``, to re-render its frames."""
    data: dict[str, Any] = read_json(path)
    frames = [
        FrameParams(
            expression=from_dict(Expression, f["expression"]),
            pose=from_dict(Pose, f["pose"]),
            lighting=from_dict(Lighting, f["lighting"]),
        )
        for f in data["frames"]
    ]
    return from_dict(Identity, data["identity"]), frames, int(data["size"])


def _frames(
    identity: Identity,
    motion: Sequence[FrameParams],
    size: int,
    bar: tqdm,
    landmarks: list[np.ndarray] | None = None,
) -> Iterator[np.ndarray]:
    for f in motion:
        face = render_face(identity, f.expression, f.pose, f.lighting, size)
        if landmarks is not None:
            landmarks.append(face.landmarks)
        bar.update()
        yield face.image
