"""Trainer registry: the ``model`` setting names the function that trains a run.

A trainer is ``fn(settings, data_a, data_b, out_dir, seed, device="cpu", progress=True) -> dict``
and writes model.pt, losses.csv, train.json and samples.png into ``out_dir``.

A trainer may also register its *stepper*, the class behind one training step,
``Stepper(settings, data_a, data_b, seed, device)`` with ``.batches(step)``, ``.train_step(step)``
and ``.rt`` (its :class:`~faceoff.train.runtime.Runtime`): what ``faceoff bench`` times.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Trainer = Callable[..., dict[str, Any]]

TRAINERS: dict[str, Trainer] = {}
STEPPERS: dict[str, type] = {}


def register_trainer(name: str, stepper: type | None = None) -> Callable[[Trainer], Trainer]:
    def decorate(fn: Trainer) -> Trainer:
        TRAINERS[name] = fn
        if stepper is not None:
            STEPPERS[name] = stepper
        return fn

    return decorate


def get_trainer(name: str) -> Trainer:
    if name not in TRAINERS:
        raise ValueError(f"no trainer for model {name!r} (registered: {', '.join(sorted(TRAINERS))})")
    return TRAINERS[name]
