"""Identity-preserving perceptual loss (portrait study): keep who the face is across a translation."""

from __future__ import annotations

import torch
from torch import nn


def identity_preserving_loss(network: nn.Module, output: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """``||E(G(x)) - E(x)||^2`` averaged over the batch, E a frozen face-identity network.

    ``output`` = G(x) carries the gradient; E(x) is a constant target. Both are face crops of the
    same geometry, so the descriptors are comparable without re-aligning (see
    :mod:`faceoff.faces.identity_net` for the input convention).
    """
    with torch.no_grad():
        target = network(source.float())
    return (network(output.float()) - target).pow(2).sum(dim=1).mean()
