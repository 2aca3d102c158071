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

While a step's halves run at once, the calling thread keeps only one half's share of the
threads for its own short work (batches, optimiser updates, image pools; :meth:`SidePair.step`):
left at all of them, the team of threads it wakes for that work spins on after it, on the cores
the halves need (one half took twice the other's time), and a small fused Adam update is quicker
on one thread than on two. What the calling thread computes is the same at either count (weights
and losses of parallel steps, WGAN-GP with two critic steps included, equal to the bit).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

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

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """A step whose halves run at once: the calling thread at one half's share of the threads
        meanwhile, its own count restored after (a no-op when the halves run in turn)."""
        before = torch.get_num_threads()
        if not self.parallel or before == self.threads:
            yield
            return
        torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)


class _HasSides(Protocol):
    sides: SidePair


S = TypeVar("S", bound=_HasSides)


def step_of_sides(train_step: Callable[[S, int], T]) -> Callable[[S, int], T]:
    """A stepper's ``train_step`` run inside its ``sides``' :meth:`SidePair.step`."""

    @functools.wraps(train_step)
    def run(self: S, step: int) -> T:
        with self.sides.step():
            return train_step(self, step)

    return run


def draws_at_random(*nets: nn.Module) -> bool:
    """Whether any of ``nets`` holds a dropout layer, whose draws two threads would race for."""
    return any(
        isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for net in nets for m in net.modules()
    )
