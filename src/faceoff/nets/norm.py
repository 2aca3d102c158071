"""Normalisation layer factory shared by every network.

CycleGAN uses instance norm without affine parameters or running statistics; convolutions
followed by such a norm keep their bias, whereas batch norm's own shift makes the bias redundant.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

NORMS = ("instance", "batch", "none")

NormFactory = Callable[[int], nn.Module]


def norm_layer(name: str) -> NormFactory:
    """A constructor ``channels -> module`` for the named normalisation."""
    if name == "instance":
        return lambda channels: nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if name == "batch":
        return lambda channels: nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if name == "none":
        return lambda channels: nn.Identity()
    raise ValueError(f"unknown norm {name!r} (choose from {', '.join(NORMS)})")


def conv_bias(name: str) -> bool:
    """Whether a convolution followed by this norm needs its own bias."""
    return name != "batch"
