"""Optimisers and the CycleGAN learning-rate schedule (constant, then linear decay to zero)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

# Name -> factory (params, lr, betas, fused) of the optimisers a GAN's settings may name; a new
# one is one entry here. (Style transfer optimises pixels and keeps its own: adam or lbfgs.)
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": lambda params, lr, betas, fused: torch.optim.Adam(params, lr=lr, betas=betas, fused=fused),
    "rmsprop": lambda params, lr, betas, fused: torch.optim.RMSprop(params, lr=lr),
}


def make_optimizer(
    name: str,
    params: Iterable[torch.nn.Parameter],
    lr: float,
    betas: tuple[float, float],
    fused: bool = False,
) -> torch.optim.Optimizer:
    """``betas``: Adam's, from the settings (no hidden default); ``fused`` (Adam only): one kernel for
    all parameters instead of a few per tensor."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r} (choose from {', '.join(OPTIMIZERS)})")
    return OPTIMIZERS[name](params, lr, betas, fused)


def lr_factor(step: int, steps: int, steps_decay: int) -> float:
    """Multiplier of the base rate at 0-based ``step``: 1 for ``steps`` steps, then linear towards 0.

    A pure function of the step, so resuming needs no scheduler state.
    """
    return 1.0 - max(0, step + 1 - steps) / (steps_decay + 1)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
