"""Figures and videos of training and evaluation results."""

from faceoff.plots.curves import loss_curves
from faceoff.plots.grids import comparison_figure, sample_grid
from faceoff.plots.video import side_by_side_video

__all__ = ["comparison_figure", "loss_curves", "sample_grid", "side_by_side_video"]
