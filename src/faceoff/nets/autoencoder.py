"""Deepfakes-style face-swap autoencoder: one encoder shared by both people, one decoder per person.

The encoder squeezes a face crop through a dense bottleneck (``latent`` units). Pixel-level
details cannot pass such a bottleneck, so the code has to describe pose and expression in terms
both decoders understand; a person's decoder then draws *their* face with that pose and
expression, which is the swap.

Widths double from ``ngf`` at each of the ``n_downs`` stride-2 5x5 convolutions; the encoder
ends by upsampling once, and each decoder upsamples ``n_downs - 1`` times back to the crop size
(3x3 convolution to four times the channels, then pixel shuffle). Activations are LeakyReLU(0.1)
with no normalisation, as in the original deepfakes network; outputs are tanh images in [-1, 1].
The crop side must be a multiple of ``2 ** n_downs`` (64 and 96 px with the default 4).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


def _widths(ngf: int, n_downs: int) -> list[int]:
    return [ngf * 2**i for i in range(n_downs)]


def _upscale(channels: int, out: int) -> nn.Sequential:
    """Double the side: a 3x3 convolution to ``4 * out`` channels rearranged by pixel shuffle."""
    return nn.Sequential(nn.Conv2d(channels, 4 * out, 3, 1, 1), nn.LeakyReLU(0.1, True), nn.PixelShuffle(2))


class SharedEncoder(nn.Module):
    """Face crop (N, 3, S, S) -> code (N, ``out_channels``, 2S / 2**n_downs, 2S / 2**n_downs)."""

    def __init__(
        self, crop_size: int = 64, ngf: int = 128, n_downs: int = 4, latent: int = 1024, channels: int = 3
    ) -> None:
        super().__init__()
        if n_downs < 2 or crop_size % 2**n_downs:
            raise ValueError(f"crop_size {crop_size} must be a multiple of 2**n_downs ({n_downs} >= 2)")
        widths = _widths(ngf, n_downs)
        layers: list[nn.Module] = []
        for width_in, width in zip([channels, *widths[:-1]], widths, strict=True):
            layers += [nn.Conv2d(width_in, width, 5, 2, 2), nn.LeakyReLU(0.1, True)]
        side = crop_size // 2**n_downs
        flat = widths[-1] * side * side
        self.out_channels = widths[-2]
        self.model = nn.Sequential(
            *layers,
            nn.Flatten(),
            nn.Linear(flat, latent),
            nn.Linear(latent, flat),
            nn.Unflatten(1, (widths[-1], side, side)),
            _upscale(widths[-1], self.out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Decoder(nn.Module):
    """Code of a :class:`SharedEncoder` with the same ``ngf`` and ``n_downs`` -> one person's face."""

    def __init__(self, ngf: int = 128, n_downs: int = 4, channels: int = 3) -> None:
        super().__init__()
        widths = _widths(ngf, n_downs)
        path = [*widths[-2::-1], max(ngf // 2, 1)]  # widths[-2] (the code) down to ngf, then ngf / 2
        layers: list[nn.Module] = [_upscale(w_in, w) for w_in, w in itertools.pairwise(path)]
        self.model = nn.Sequential(*layers, nn.Conv2d(path[-1], channels, 5, 1, 2), nn.Tanh())

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.model(code)
