"""ResNet generator (Johnson et al. 2016) as in CycleGAN: 2 downsamplings, n residual blocks, 2 up."""

from __future__ import annotations

import torch
from torch import nn

from faceoff.nets.norm import conv_bias, norm_layer
from faceoff.nets.registry import register_generator


class ResidualBlock(nn.Module):
    """Two reflect-padded 3x3 convolutions with an identity shortcut."""

    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            make_norm(channels),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            make_norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Image-to-image generator; input sides must be multiples of 4 (two stride-2 stages)."""

    def __init__(self, n_blocks: int, ngf: int = 64, norm: str = "instance", channels: int = 3) -> None:
        super().__init__()
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(channels, ngf, 7, bias=bias),
            make_norm(ngf),
            nn.ReLU(True),
        ]
        width = ngf
        for _ in range(2):
            layers += [nn.Conv2d(width, width * 2, 3, 2, 1, bias=bias), make_norm(width * 2), nn.ReLU(True)]
            width *= 2
        layers += [ResidualBlock(width, norm) for _ in range(n_blocks)]
        for _ in range(2):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 3, 2, 1, output_padding=1, bias=bias),
                make_norm(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


register_generator("resnet_6blocks", lambda ngf, norm: ResnetGenerator(6, ngf, norm), 4)
register_generator("resnet_9blocks", lambda ngf, norm: ResnetGenerator(9, ngf, norm), 4)
