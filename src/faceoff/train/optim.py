"""Optimisers and the CycleGAN learning-rate schedule (constant, then linear decay to zero)."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def make_optimizer(
    name: str,
    params: Iterable[torch.nn.Parameter],
    lr: float,
    betas: tuple[float, float],
    fused: bool = False,
) -> torch.optim.Optimizer:
    """``betas``: Adam's, from the settings (no hidden default); ``fused`` (Adam only): one kernel for
    all parameters instead of a few per tensor."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, fused=fused)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r} (choose from adam, rmsprop)")


def lr_factor(step: int, steps: int, steps_decay: int) -> float:
    """Multiplier of the base rate at 0-based ``step``: 1 for ``steps`` steps, then linear towards 0.

    A pure function of the step, so resuming needs no scheduler state.
    """
    return 1.0 - max(0, step + 1 - steps) / (steps_decay + 1)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
