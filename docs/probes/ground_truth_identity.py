"""How the face-off metrics read the ground truth itself, sharp and degraded (README, *Demo numbers*).

Scores the copy-input baseline and a translator that returns each test frame's rendered ground
truth (A's frames as B, B's as A), optionally blurred or downscaled, with the evaluation the
face-off family runs (:func:`faceoff.evaluate.run.score_pair`, dlib's identity network and
landmarks, the face-off family's crop size, frame count and identity references from the
parameters). Run it after `make demo`:

    .venv/bin/python docs/probes/ground_truth_identity.py results/demo/prepared/persons

``--reference-frames 0`` makes each person's identity reference of the scored test frames, as the
evaluation did before ``evaluate.identity_reference_frames``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from faceoff.config import load_params
from faceoff.datasets.prepared import load_split
from faceoff.evaluate.run import REFERENCE_FRAMES, center_crop, reference_frames, score_pair
from faceoff.faces.identity import make_embedder
from faceoff.faces.landmarks import LandmarkFinder


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


def _truth_translator(
    truth: dict[bytes, np.ndarray], degrade: Callable[[np.ndarray], np.ndarray]
) -> Callable[..., np.ndarray]:
    """A translator returning each frame's degraded ground truth; the way back (outputs to
    sources) has none, so those frames pass unchanged."""

    def translate(direction: str, frames: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        return np.stack([degrade(truth[f.tobytes()]) if f.tobytes() in truth else f for f in frames])

    return translate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("prepared", type=Path, help="the prepared persons dataset (items A and B)")
    parser.add_argument(
        "-c", dest="params", action="append", help="parameter files (default: params.yaml, config/demo.yaml)"
    )
    parser.add_argument(
        "--reference-frames",
        type=int,
        help="evaluate.identity_reference_frames to use instead of the parameters' (0: the test frames)",
    )
    args = parser.parse_args()
    faceoff = load_params(args.params or ["params.yaml", "config/demo.yaml"])["families"]["faceoff"]
    crop, frames = faceoff["train"]["crop_size"], faceoff["evaluate"]["max_frames"]
    n_refs = faceoff["evaluate"].get("identity_reference_frames", REFERENCE_FRAMES)
    n_refs = n_refs if args.reference_frames is None else args.reference_frames
    test_a, test_b = (load_split(args.prepared / item, "test") for item in ("A", "B"))
    references = None
    if n_refs:
        references = tuple(
            reference_frames(load_split(args.prepared / item, "train"), n_refs) for item in "AB"
        )
    truth: dict[bytes, np.ndarray] = {}  # a cropped source frame's bytes -> its cropped ground truth
    for split, target in ((center_crop(test_a, crop), "B"), (center_crop(test_b, crop), "A")):
        truth |= {frame.tobytes(): gt for frame, gt in zip(split.frames, split.gt[target], strict=True)}
    embed, landmarks = make_embedder("dlib_resnet").embed, LandmarkFinder()
    translators = {"copy input": None} | {k: _truth_translator(truth, d) for k, d in DEGRADATIONS.items()}
    for name, translate in translators.items():
        scores = score_pair(
            translate,
            test_a,
            test_b,
            embed,
            landmarks,
            crop_size=crop,
            max_frames=frames,
            references=references,
        )[0]
        print(f"{name:14s} l1_gt {scores['l1_gt']:.4f}  identity_sim {scores['identity_sim']:+.4f}")


if __name__ == "__main__":
    main()
