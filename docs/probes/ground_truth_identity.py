"""How the face-off metrics read the ground truth itself: sharp, degraded and in part (README,
*Demo numbers*).

Scores, with the evaluation the face-off family runs (:func:`faceoff.evaluate.run.score_pair`,
the family's identity network, crop size and frame count from the parameters, dlib's landmarks),
translators that return

- each test frame's rendered ground truth (A's frames as B, B's as A), as rendered, blurred or
  downscaled (both directions; the copy-input baseline beside them);
- with ``--traits``, A's test frames rendered again with only some of B's traits (colours, hair
  and background, face geometry, B's recording's light), cut with A's own crop boxes as the
  ground truth is (A2B only).

Every row is scored against both kinds of identity reference: each person's mean descriptor over
the scored test frames (the evaluation before ``evaluate.identity_reference_frames``) and over the
train frames the evaluation now uses. Run it after `make demo` (``--traits`` renders and prepares
A's video again, about a minute):

    .venv/bin/python docs/probes/ground_truth_identity.py results/demo/prepared/persons --traits
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceoff.config import load_params
from faceoff.datasets.prepared import PreparedSplit, load_split
from faceoff.evaluate.run import REFERENCE_FRAMES, center_crop, reference_frames, score_pair
from faceoff.faces.identity import make_embedder
from faceoff.faces.landmarks import LandmarkFinder
from faceoff.io.video import write_video
from faceoff.prepare.persons import prepare_person
from faceoff.synth import Identity, person_identity, person_motion, recorded_like
from faceoff.synth.render import render_face


def _blur(sigma: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda image: cv2.GaussianBlur(image, (0, 0), sigma)


def _down(factor: int) -> Callable[[np.ndarray], np.ndarray]:
    def degrade(image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        small = cv2.resize(image, (width // factor, height // factor), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)

    return degrade


DEGRADATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "as rendered": lambda image: image,
    "blur sigma 1": _blur(1),
    "blur sigma 2": _blur(2),
    "blur sigma 3": _blur(3),
    "down 2x": _down(2),
    "down 4x": _down(4),
}
COLOURS = ("skin", "lip_colour", "hair_colour", "iris_colour", "texture_seed")
HAIR_AND_SCENE = ("hair_style", "hair_volume", "shirt_colour", "background_top", "background_bottom")
GEOMETRY = tuple(f.name for f in dataclasses.fields(Identity) if f.name not in COLOURS + HAIR_AND_SCENE)
# A's frames rendered with these of B's identity fields (the rest stay A's), in A's recording
# (its light) or, where the flag is set, in B's (faceoff.synth.sequence.recorded_like).
TRAITS: dict[str, tuple[tuple[str, ...], bool]] = {
    "colours": (COLOURS, False),
    "colours_hair_scene": (COLOURS + HAIR_AND_SCENE, False),
    "colours_hair_scene_light": (COLOURS + HAIR_AND_SCENE, True),
    "geometry": (GEOMETRY, False),
    "everything but the light": (COLOURS + HAIR_AND_SCENE + GEOMETRY, False),
    "everything": (COLOURS + HAIR_AND_SCENE + GEOMETRY, True),
}


def _truth_translator(
    truth: dict[bytes, np.ndarray], degrade: Callable[[np.ndarray], np.ndarray] = lambda image: image
) -> Callable[..., np.ndarray]:
    """A translator returning each frame's degraded ground truth; the way back (outputs to
    sources) has none, so those frames pass unchanged."""

    def translate(direction: str, frames: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        return np.stack([degrade(truth[f.tobytes()]) if f.tobytes() in truth else f for f in frames])

    return translate


def _trait_renders(raw: Path, settings: dict[str, Any], out: Path) -> PreparedSplit:
    """A's test split, prepared again with one ground truth per :data:`TRAITS` entry beside B's."""
    meta = json.loads((raw / "A.json").read_text())
    a, b = person_identity(meta["seed"], "A"), person_identity(meta["seed"], "B")
    n, fps = len(meta["frames"]), meta["fps"]
    own = person_motion(meta["seed"], "A", n, fps)
    in_b = recorded_like(own, person_motion(meta["seed"], "B", n, fps))
    videos = {"B": raw / "groundtruth" / "A_as_B.mp4"}
    for name, (keys, light) in TRAITS.items():
        hybrid = dataclasses.replace(a, **{k: getattr(b, k) for k in keys})
        motion = in_b if light else own
        frames = (render_face(hybrid, f.expression, f.pose, f.lighting, meta["size"]).image for f in motion)
        videos[name] = out / f"A_as_{name}.mp4"
        write_video(videos[name], frames, meta["fps"])
    prepare_person(raw / "A.mp4", "A", out / "A", settings, videos, progress=False)
    return load_split(out / "A", "test")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("prepared", type=Path, help="the prepared persons dataset (items A and B)")
    parser.add_argument(
        "-c", dest="params", action="append", help="parameter files (default: params.yaml, config/demo.yaml)"
    )
    parser.add_argument("--traits", action="store_true", help="also score A's frames with some of B's traits")
    args = parser.parse_args()
    params = load_params(args.params or ["params.yaml", "config/demo.yaml"])
    faceoff = params["families"]["faceoff"]
    crop, frames = faceoff["train"]["crop_size"], faceoff["evaluate"]["max_frames"]
    n_refs = faceoff["evaluate"].get("identity_reference_frames", REFERENCE_FRAMES) or REFERENCE_FRAMES
    test_a, test_b = (load_split(args.prepared / item, "test") for item in "AB")
    references = {
        "test frames": None,
        f"{n_refs} train frames": tuple(
            reference_frames(load_split(args.prepared / item, "train"), n_refs) for item in "AB"
        ),
    }
    # The family's identity network for metrics, as the evaluation step chooses it.
    embed = make_embedder(faceoff["evaluate"].get("identity_net", "dlib_resnet")).embed
    landmarks = LandmarkFinder()

    def row(
        name: str, translate: Callable[..., np.ndarray] | None, source: PreparedSplit, key: str = ""
    ) -> None:
        values = []
        for refs in references.values():
            scores = score_pair(
                translate,
                source,
                test_b,
                embed,
                landmarks,
                crop_size=crop,
                max_frames=frames,
                references=refs,
            )[0]
            scores = scores[key] if key else scores
            values.append(f"{scores['identity_sim']:+.4f}")
        print(f"{name:32s} {scores['l1_gt']:.4f}  " + "  ".join(values), flush=True)

    print(f"{'outputs':32s} l1_gt   identity_sim against each person's mean over: {', '.join(references)}")
    truth: dict[bytes, np.ndarray] = {}  # a cropped source frame's bytes -> its cropped ground truth
    for split, target in ((center_crop(test_a, crop), "B"), (center_crop(test_b, crop), "A")):
        truth |= {frame.tobytes(): gt for frame, gt in zip(split.frames, split.gt[target], strict=True)}
    row("copy input", None, test_a)
    for name, degrade in DEGRADATIONS.items():
        row(name, _truth_translator(truth, degrade), test_a)
    if args.traits:
        settings = params["datasets"]["persons"]["prepare"]
        with tempfile.TemporaryDirectory() as tmp:
            traits = _trait_renders(Path(params["datasets"]["persons"]["source"]), settings, Path(tmp))
            cropped = center_crop(traits, crop)
            for name in TRAITS:
                hybrid = {f.tobytes(): gt for f, gt in zip(cropped.frames, cropped.gt[name], strict=True)}
                row(f"A2B, B's {name}", _truth_translator(hybrid), traits, key="A2B")


if __name__ == "__main__":
    main()
