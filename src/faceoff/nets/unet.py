"""U-Net generator (pix2pix): ``n_downs`` stride-2 stages with skip connections at every scale.

Input sides must be multiples of ``2 ** n_downs`` (128 for unet_128, 256 for unet_256): the
innermost feature map is 1x1.
"""

from __future__ import annotations

import torch
from torch import nn

from faceoff.nets.norm import conv_bias, norm_layer
from faceoff.nets.registry import register_generator


class UnetGenerator(nn.Module):
    """Encoder widths ngf, 2ngf, 4ngf, then 8ngf for every further level; the decoder mirrors them."""

    def __init__(self, n_downs: int, ngf: int = 64, norm: str = "instance", channels: int = 3) -> None:
        super().__init__()
        if n_downs < 5:
            raise ValueError(f"a U-Net needs at least 5 downsamplings, got {n_downs}")
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        widths = [ngf * min(2**i, 8) for i in range(n_downs)]
        last = n_downs - 1
        down: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1, bias=bias)]
        for i in range(1, n_downs):
            stage: list[nn.Module] = [
                nn.LeakyReLU(0.2),
                nn.Conv2d(widths[i - 1], widths[i], 4, 2, 1, bias=bias),
            ]
            if i < last:
                stage.append(make_norm(widths[i]))
            down.append(nn.Sequential(*stage))
        up: list[nn.Module] = [
            nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(widths[0] * 2, channels, 4, 2, 1), nn.Tanh())
        ]
        for i in range(1, n_downs):
            width_in = widths[i] if i == last else widths[i] * 2
            up.append(
                nn.Sequential(
                    nn.ReLU(),
                    nn.ConvTranspose2d(width_in, widths[i - 1], 4, 2, 1, bias=bias),
                    make_norm(widths[i - 1]),
                )
            )
        self.down = nn.ModuleList(down)
        self.up = nn.ModuleList(up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for stage in self.down:
            x = stage(x)
            skips.append(x)
        y = self.up[-1](skips[-1])
        for i in range(len(self.up) - 2, -1, -1):
            y = self.up[i](torch.cat([skips[i], y], 1))
        return y


# n_downs stride-2 stages: input sides must be multiples of 2**n_downs.
register_generator("unet_32", lambda ngf, norm: UnetGenerator(5, ngf, norm), 32)  # small demo crops
register_generator("unet_64", lambda ngf, norm: UnetGenerator(6, ngf, norm), 64)
register_generator("unet_128", lambda ngf, norm: UnetGenerator(7, ngf, norm), 128)
register_generator("unet_256", lambda ngf, norm: UnetGenerator(8, ngf, norm), 256)
