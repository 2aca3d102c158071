"""Evaluation of trained translators: metrics, per-pair evaluation runs, result tables."""

from faceoff.evaluate.run import center_crop, copy_input, evaluate_pair
from faceoff.evaluate.table import build_table, summary_table, write_table

__all__ = ["build_table", "center_crop", "copy_input", "evaluate_pair", "summary_table", "write_table"]
