"""Landmark-conditioned networks for face reenactment (the 300VW study, after pix2pix).

The generator sees the source image stacked with the target landmarks' heatmaps and draws the
source face with those landmarks; the discriminator judges an image together with the heatmaps
it should follow, so a realistic face with the wrong expression still counts as fake.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from faceoff.nets.norm import conv_bias, norm_layer
from faceoff.nets.resnet import ResidualBlock

N_DOWNS = 4
SIZE_MULTIPLE = 2**N_DOWNS


class ReenactGenerator(nn.Module):
    """U-Net: a stride-1 stem, four stride-2 blocks, one residual block at the bottleneck, four
    up-sampling blocks, each fed the encoder's output of its scale (the skips keep the source's
    appearance within reach, which is also why the study saw it collapse to copying its input).

    Widths 2ngf, 4ngf, 8ngf, 8ngf down; sides must be multiples of 16.
    """

    def __init__(
        self, ngf: int = 64, n_landmarks: int = 68, norm: str = "instance", channels: int = 3
    ) -> None:
        super().__init__()
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        widths = [ngf] + [ngf * min(2 ** (i + 1), 8) for i in range(N_DOWNS)]
        self.stem = nn.Sequential(
            nn.Conv2d(channels + n_landmarks, ngf, 3, 1, 1, bias=bias), make_norm(ngf), nn.ReLU(True)
        )
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(a, b, 4, 2, 1, bias=bias), make_norm(b), nn.LeakyReLU(0.2, True))
            for a, b in itertools.pairwise(widths)
        )
        self.bottleneck = ResidualBlock(widths[-1], norm)
        # Up block i takes [decoder, skip of scale i+1] and outputs scale i's width.
        self.up = nn.ModuleList(
            nn.Sequential(
                nn.ConvTranspose2d(widths[i + 1] * 2, widths[i], 4, 2, 1, bias=bias),
                make_norm(widths[i]),
                nn.ReLU(True),
            )
            for i in range(N_DOWNS)
        )
        self.head = nn.Sequential(nn.Conv2d(ngf * 2, channels, 3, 1, 1), nn.Tanh())

    def forward(self, image: torch.Tensor, heatmaps: torch.Tensor) -> torch.Tensor:
        """``image`` (N, 3, S, S) in [-1, 1], ``heatmaps`` (N, 68, S, S) of the wanted landmarks."""
        x = self.stem(torch.cat([image, heatmaps], 1))
        skips = [x]
        for block in self.down:
            x = block(x)
            skips.append(x)
        y = self.bottleneck(x)
        for i in range(N_DOWNS - 1, -1, -1):
            y = self.up[i](torch.cat([y, skips[i + 1]], 1))
        return self.head(torch.cat([y, skips[0]], 1))


class ReenactDiscriminator(nn.Module):
    """PatchGAN on image + heatmaps: ``n_layers`` stride-2 4x4 convolutions of ``ndf`` channels
    each (the study: 3 of 32), a 1-channel patch score map, averaged to one logit per image."""

    def __init__(
        self,
        ndf: int = 32,
        n_layers: int = 3,
        n_landmarks: int = 68,
        norm: str = "instance",
        channels: int = 3,
    ) -> None:
        super().__init__()
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = [nn.Conv2d(channels + n_landmarks, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for _ in range(n_layers - 1):
            layers += [nn.Conv2d(ndf, ndf, 4, 2, 1, bias=bias), make_norm(ndf), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf, 1, 3, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor, heatmaps: torch.Tensor) -> torch.Tensor:
        """(N,) logits: the mean patch score of each image given its landmarks."""
        return self.model(torch.cat([image, heatmaps], 1)).mean((1, 2, 3))
