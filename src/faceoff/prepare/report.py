"""Per-step wall-clock accounting for the preparation report."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


class StepTimer:
    """Accumulates seconds per named step, so the report shows where preparation time goes."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def iterate(self, name: str, iterable: Iterable[T]) -> Iterator[T]:
        """Yield from ``iterable`` charging the time spent producing each item to ``name`` (e.g. decoding)."""
        iterator = iter(iterable)
        while True:
            with self.step(name):
                try:
                    item = next(iterator)
                except StopIteration:
                    return
            yield item

    def summary(self) -> dict[str, float]:
        return {name: round(seconds, 3) for name, seconds in sorted(self.seconds.items())}
