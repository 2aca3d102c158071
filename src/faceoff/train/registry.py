"""Trainer registry: the ``model`` setting names the function that trains a run.

A trainer is ``fn(settings, data_a, data_b, out_dir, seed, device="cpu", progress=True) -> dict``
and writes model.pt, losses.csv, train.json and samples.png into ``out_dir``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Trainer = Callable[..., dict[str, Any]]

TRAINERS: dict[str, Trainer] = {}


def register_trainer(name: str) -> Callable[[Trainer], Trainer]:
    def decorate(fn: Trainer) -> Trainer:
        TRAINERS[name] = fn
        return fn

    return decorate


def get_trainer(name: str) -> Trainer:
    if name not in TRAINERS:
        raise ValueError(f"no trainer for model {name!r} (registered: {', '.join(sorted(TRAINERS))})")
    return TRAINERS[name]
