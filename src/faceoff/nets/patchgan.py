"""N-layer PatchGAN discriminator (pix2pix): one real/fake score per overlapping patch.

The 3-layer net at ndf 64 sees 70x70 patches. Inputs need sides of at least ``3 * 2 ** n_layers``
so that the last normalised feature map has more than one pixel.
"""

from __future__ import annotations

import torch
from torch import nn

from faceoff.nets.norm import conv_bias, norm_layer


def min_input_size(n_layers: int) -> int:
    return 3 * 2**n_layers


class PatchDiscriminator(nn.Module):
    """``n_layers`` stride-2 4x4 convolutions, one stride-1 convolution, then a 1-channel score map."""

    def __init__(self, n_layers: int = 3, ndf: int = 64, norm: str = "instance", channels: int = 3) -> None:
        super().__init__()
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for n in range(1, n_layers + 1):
            out = ndf * min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(width, out, 4, stride, 1, bias=bias),
                make_norm(out),
                nn.LeakyReLU(0.2, True),
            ]
            width = out
        layers.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
