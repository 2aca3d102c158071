"""Evaluation of trained translators: metrics, per-pair evaluation runs, result tables.

The package imports nothing itself: the Snakefile reads its torch-free modules (claims, glossary)
while it parses, and importing :mod:`faceoff.evaluate.run` would bring torch with it.
"""
