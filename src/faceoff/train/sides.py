"""Two independent halves of a training step run at once, each on its own share of the CPU threads.

A CycleGAN step is two mirror images: the A->B->A and B->A->B cycles of the generator update, and
the A and B discriminators' updates. At small sizes (64 px, ngf 16) each half is a long chain of
small operators that two intra-op threads barely speed up (per-operator overhead, not arithmetic),
so running the halves side by side, one thread each, nearly halves the step where splitting every
operator over two threads does not (``parallel_sides``, see :mod:`faceoff.train.runtime`).

Both halves run on worker threads made for the purpose, so the caller's thread keeps its own
intra-op thread count. Thread-local state does not cross: each half enters the run's autocast
itself. What a half computes depends on its inputs only, and a weight both halves reach gets
exactly one gradient from each, summed by autograd's accumulator: ``g1 + g2`` equals ``g2 + g1``
in floating point, so the result does not depend on which half finishes first. Networks that draw
random numbers as they run (dropout) would draw them in whichever order the threads reach them:
:func:`draws_at_random` tells a trainer to keep such a step in turn. Under a dispatch
mode of the calling thread (torch's FLOP counter), which would not see other threads, the halves
run in turn.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch
from torch import nn
from torch.utils._python_dispatch import any_torch_dispatch_mode_on_stack

T = TypeVar("T")
U = TypeVar("U")


class SidePair:
    """Runs ``first`` and ``second`` at once on two threads of ``threads`` each (or in turn)."""

    def __init__(self, parallel: bool, threads: int = 1) -> None:
        self.parallel, self.threads = parallel, threads
        self._pool: ThreadPoolExecutor | None = None

    def run(self, first: Callable[[], T], second: Callable[[], U]) -> tuple[T, U]:
        # A dispatch mode (torch's FLOP counter) is the calling thread's own: halves run elsewhere
        # would escape it.
        if not self.parallel or any_torch_dispatch_mode_on_stack():
            return first(), second()
        if self._pool is None:  # made at first use: building a trainer starts no thread
            self._pool = ThreadPoolExecutor(
                2,
                thread_name_prefix="faceoff-side",
                initializer=torch.set_num_threads,
                initargs=(self.threads,),
            )
        done_first, done_second = self._pool.submit(first), self._pool.submit(second)
        return done_first.result(), done_second.result()


def draws_at_random(*nets: nn.Module) -> bool:
    """Whether any of ``nets`` holds a dropout layer, whose draws two threads would race for."""
    return any(
        isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for net in nets for m in net.modules()
    )
