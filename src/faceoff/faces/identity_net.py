"""Differentiable face-identity networks for identity-preserving losses.

Crop convention: training images are face crops with a margin (the prepared frames), not the
eye-aligned chips the networks were trained on. The identity loss compares E(G(x)) with E(x) on
the same crop geometry, so it only needs the descriptor to be consistent between the two, not
the alignment that makes it comparable across photos; the crops are simply resized to the
network's input size. The metric embedder (faceoff.faces.identity.make_embedder) aligns properly.
"""

from __future__ import annotations

import torch
from torch import nn

from faceoff.faces.features import FrozenNet, resize
from faceoff.faces.identity import IDENTITY_NETS


class IdentityNet(FrozenNet):
    """``forward(x) -> (N, dim)`` for x float NCHW RGB in [-1, 1] of any size; ``dim`` is 128 for
    dlib's ResNet (unnormalised, as dlib returns them) and 512 for FaceNet (unit length)."""

    def __init__(self, name: str, net: nn.Module, size: int, dim: int) -> None:
        super().__init__()
        self.name, self.net, self.size, self.dim = name, net, size, dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((resize(x, self.size) + 1) * 127.5)


def build_identity_net(name: str = "dlib_resnet", device: str | torch.device = "cpu") -> IdentityNet:
    """The frozen identity network ``name`` (see IDENTITY_NETS) on ``device``."""
    if name == "dlib_resnet":
        from faceoff.faces.dlib_resnet import DESCRIPTOR_DIM, INPUT_SIZE, load_dlib_resnet

        net: nn.Module = load_dlib_resnet()
    elif name == "facenet":
        from faceoff.faces.facenet import DESCRIPTOR_DIM, INPUT_SIZE, load_facenet

        net = load_facenet()
    else:
        raise ValueError(f"unknown identity net {name!r} (choose from {', '.join(IDENTITY_NETS)})")
    return IdentityNet(name, net, INPUT_SIZE, DESCRIPTOR_DIM).freeze(device)
