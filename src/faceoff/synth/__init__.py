"""Parametric synthetic faces with exact iBUG-68 landmarks, so the pipeline runs without datasets."""

from faceoff.synth.geometry import build_geometry, canonical_landmarks
from faceoff.synth.params import (
    EXPRESSION_PRESETS,
    Expression,
    Identity,
    Lighting,
    Pose,
    sample_expression,
    sample_identity,
    sample_lighting,
    sample_pose,
)
from faceoff.synth.person_videos import person_identity, person_motion, read_person, write_person_videos
from faceoff.synth.render import RenderedFace, render_face
from faceoff.synth.sequence import FrameParams, recorded_like, talking_head_sequence
from faceoff.synth.spec import SynthSpec

__all__ = [
    "EXPRESSION_PRESETS",
    "Expression",
    "FrameParams",
    "Identity",
    "Lighting",
    "Pose",
    "RenderedFace",
    "SynthSpec",
    "build_geometry",
    "canonical_landmarks",
    "person_identity",
    "person_motion",
    "read_person",
    "recorded_like",
    "render_face",
    "sample_expression",
    "sample_identity",
    "sample_lighting",
    "sample_pose",
    "talking_head_sequence",
    "write_person_videos",
]
