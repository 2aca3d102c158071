"""``faceoff apply``: a trained run applied to whole frames (video, image, folder of images).

The engine (:func:`apply_frames`) finds and cuts faces exactly as the run's training data was
cut, translates them in batches and pastes them back; :func:`apply_run` wires a run's model
and recorded settings to the files.
"""

from faceoff.apply.engine import (
    AppliedFrame,
    ApplyError,
    ApplyOptions,
    FaceCrop,
    annotation_lookup,
    apply_frames,
    cut,
)
from faceoff.apply.run import ApplySummary, apply_run, prepare_settings

__all__ = [
    "AppliedFrame",
    "ApplyError",
    "ApplyOptions",
    "ApplySummary",
    "FaceCrop",
    "annotation_lookup",
    "apply_frames",
    "apply_run",
    "cut",
    "prepare_settings",
]
