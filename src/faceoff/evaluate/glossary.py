"""What each column of a family table means: one glossary per evaluation kind.

A model declares its evaluation kind (:attr:`faceoff.train.registry.ModelSpec.evaluation`); each
kind (:mod:`faceoff.evaluate.kinds`) carries the definitions of the metrics it writes. The report
shows a family the glossary of its own kind. One name means one thing in every kind:
:func:`clashes` finds a metric whose name another kind already defines differently, and a kind
with one is not registered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# metrics.json blocks of other splits, tabulated as <split>_<metric>
SCORED_SPLITS = {"val": "on the validation split"}

# The columns of every family table besides its metrics (which run, train.json's facts, and the
# per-variant summary's counts).
COLUMNS = {
    "run": "run id: <pair>-<variant>-s<seed>, or <pair>-copy for the copy-input baseline, or "
    "<pair>-groundtruth-paste for the ground-truth crop pasted back by `faceoff apply` (apply columns only)",
    "pair": "the run's two items, <source>2<target>",
    "variant": "the family's variant the run trains (copy input: the output is the input, no model; "
    "ground-truth paste: the best `faceoff apply` can do)",
    "seed": "the training seed",
    "precision": "the arithmetic the run trained in, as resolved on its machine: fp32, or bf16/fp16 "
    "autocast (train.json; empty for copy input, which trains nothing)",
    "feature_net": "the feature network of the run's perceptual/style losses (train.json): vgg19 as in "
    "the studies, or a named substitute such as dlib_resnet; empty when no such loss ran",
    "identity_net": "the identity network of the run's identity loss (train.json); empty when none ran",
    "metric_identity_net": "the identity network the identity metrics were computed with "
    "(families.<family>.evaluate.identity_net)",
    "kid_features": "the feature network of kid/fid: inception_v3 (the papers' pool3 features) or "
    "dlib_resnet (its 256-d pooled layer, where Inception-v3 weights are absent); KIDs on different "
    "features do not compare",
    "id_retrieval_net": "the identity network of id_retrieval: one other than the network the run's identity "
    "loss trained with (faceoff.evaluate.retrieval.retrieval_net)",
    "n_frames": "test frames scored, summed over the directions (or videos) of the evaluation",
    "steps": "training steps done",
    "diverged": "training stopped at a non-finite loss",
    "diverged_step": "the step at which the loss became non-finite",
    "wall_time_s": "training wall time in seconds",
    "sec_per_step": "training seconds per step",
    "runs": "summary: the runs averaged in the row (pairs x seeds)",
    "pairs": "summary: the distinct pairs among them",
    "n_seeds": "summary: the training seeds behind the row's means (0 for copy input, which trains nothing)",
    "interval": "summary: what the 95% interval of each mean (<metric>_lo, <metric>_hi) resampled: "
    "'seeds, frames' (hierarchical bootstrap: seeds, then the test frames of each seed's pair directions) "
    "or 'frames' (one seed: the test frames' spread only, not the training's); empty without per_sample.csv",
}

# The columns `faceoff apply-eval` adds to the face-off and swap tables (faceoff.evaluate.apply_metrics):
# the run applied with `faceoff apply` to the held-out segment of the source person's raw video
# (whole frames), scored against the same frames in the target's recording (its identity and
# light). The copy-input row holds the input copied (the worst case), the <pair>-groundtruth-paste
# row the ground-truth crop pasted back by the same code (the best this paste-back can do). All on
# [0, 1] pixel values, means over the segment's frames; "face" = the landmark hull of the face the
# paste-back found; "blend" = the paste-back's weight w (output = w * pasted + (1 - w) * input).
APPLY = {
    "apply_frames": "apply: frames of the held-out segment the run was applied to",
    "apply_face_found": "apply: share of those frames in which the paste-back found a face",
    "apply_l1_gt": "apply: mean |output - truth| over the whole frame (lower is better; truth itself: 0)",
    "apply_ssim_gt": "apply: SSIM of output and truth over the whole frame (11 px Gaussian window; "
    "higher is better; truth itself: 1)",
    "apply_l1_gt_face": "apply: mean |output - truth| inside the face (lower is better)",
    "apply_ssim_gt_face": "apply: SSIM of output and truth averaged over the windows lying wholly inside "
    "the face (higher is better)",
    "apply_background_l1": "apply: mean |output - input| where the blend weight is below 0.5/255 (too "
    "small to change an 8-bit pixel), i.e. outside the blend region (the paste-back must leave it: 0)",
    "apply_flicker": "apply: mean over consecutive frames t, t+1 of mean |(output[t+1] - output[t]) - "
    "(truth[t+1] - truth[t])| over the face of either frame: change over time the truth does not have "
    "(lower is better; truth itself: 0)",
    "apply_seam": "apply: gradient energy (squared 3x3 Sobel of the luminance) of the output over that of "
    "the truth, summed over the seam band (blend weights from 0.5/255 to 1 - 0.5/255, plus "
    "the pixels either side of the 0.5 contour) of every frame (1 = no more edge than the truth; "
    "> 1: a visible seam; < 1: blurred)",
}


@dataclass(frozen=True)
class Glossary:
    """The metrics of one evaluation kind; ``intro`` says what they are computed on."""

    kind: str
    intro: str
    metrics: Mapping[str, str]

    def columns(self) -> dict[str, str]:
        """Every column a table of this kind can have: metrics, per-split metrics and :data:`COLUMNS`."""
        split_columns = {
            f"{split}_{name}": f"{text}, {where}"
            for split, where in SCORED_SPLITS.items()
            for name, text in self.metrics.items()
        }
        bounds = {
            f"{name}_{end}": f"summary: {side} end of the 95% interval of {name}'s mean"
            for name in self.metrics
            for end, side in (("lo", "lower"), ("hi", "upper"))
        }
        return {**COLUMNS, **self.metrics, **split_columns, **bounds, **APPLY}


def clashes(glossary: Glossary, others: Iterable[Glossary]) -> list[str]:
    """The metrics of ``glossary`` whose name a table column or another glossary defines otherwise."""
    found = [name for name in glossary.metrics if name in COLUMNS or name in APPLY]
    for other in others:
        found += [
            f"{name} ({other.kind})"
            for name, text in glossary.metrics.items()
            if other.metrics.get(name, text) != text
        ]
    return found


def all_glossaries() -> dict[str, Glossary]:
    """Every evaluation kind's glossary, by kind (:mod:`faceoff.evaluate.kinds` registers them)."""
    from faceoff.evaluate.kinds import all_evaluations

    return {name: kind.glossary for name, kind in all_evaluations().items()}


def get_glossary(kind: str) -> Glossary:
    from faceoff.evaluate.kinds import get_evaluation

    return get_evaluation(kind).glossary
