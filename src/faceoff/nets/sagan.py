"""Self-attention GAN networks (Zhang et al. 2018) for class-conditional image-to-image translation.

SAGAN's ingredients, as the FacePaint study used them: self-attention blocks (1x1 convolution
query/key/value, softmax attention over all positions, output ``x + gamma * o`` with a learnt
``gamma`` starting at 0, so a fresh block is the identity) in the generator and the
discriminator, and spectral norm on every convolution and linear layer of both networks.

The generator is an image-to-image ResNet (3x3 stem, two stride-2 stages, residual blocks,
attention at the bottleneck, two transposed-convolution stages, 3x3 output; 3x3 rather than
CycleGAN's 7x7 ends, as in SAGAN, because full-resolution convolutions with few channels
dominate a CPU step) whose input is the image concatenated with a one-hot map of the target
class, as the study conditioned it ("concatenated images with randomly selected class labels"),
and whose normalisations are class-conditional (see :class:`SAGenerator`).
The discriminator is a stride-2 convolution stack with attention after its second stage, global
sum pooling and one linear layer with ``n_outputs`` logits; the training objective decides
what the logits mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

# Input sides must be multiples of this (the generator's two stride-2 stages).
GENERATOR_MULTIPLE = 4


def min_discriminator_size(n_layers: int) -> int:
    """Smallest input side for ``n_layers`` stride-2 stages (the last map is at least 1x1)."""
    return 2**n_layers


class SelfAttention(nn.Module):
    """SAGAN attention: ``y_j = x_j + gamma * sum_i softmax_i(q_j . k_i) v_i`` over all positions."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        self.query = spectral_norm(nn.Conv2d(channels, inner, 1))
        self.key = spectral_norm(nn.Conv2d(channels, inner, 1))
        self.value = spectral_norm(nn.Conv2d(channels, channels, 1))
        self.gamma = nn.Parameter(torch.zeros(1))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, N) weights, N = H*W; row j is where position j looks (each row sums to 1)."""
        q = self.query(x).flatten(2)  # (B, C', N)
        k = self.key(x).flatten(2)
        return torch.softmax(q.transpose(1, 2) @ k, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.value(x).flatten(2) @ self.attention(x).transpose(1, 2)  # (B, C, N)
        return x + self.gamma * out.view_as(x)


class ConditionalInstanceNorm(nn.Module):
    """Instance norm whose scale and shift are looked up per class (SAGAN's conditional norm).

    Starts as plain instance norm (scale 1, shift 0 for every class).
    """

    def __init__(self, channels: int, n_classes: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.scale = nn.Embedding(n_classes, channels)
        self.shift = nn.Embedding(n_classes, channels)
        nn.init.ones_(self.scale.weight)
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.norm(x) * self.scale(labels)[:, :, None, None] + self.shift(labels)[:, :, None, None]


class _Stage(nn.Module):
    """Spectral-normalised convolution, class-conditional instance norm, ReLU."""

    def __init__(self, conv: nn.Module, channels: int, n_classes: int, relu: bool = True) -> None:
        super().__init__()
        self.conv = spectral_norm(conv)
        self.norm = ConditionalInstanceNorm(channels, n_classes)
        self.relu = relu

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(x), labels)
        return F.relu(x) if self.relu else x


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int, n_classes: int) -> None:
        super().__init__()
        self.first = _Stage(
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect"), channels, n_classes
        )
        self.second = _Stage(
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect"),
            channels,
            n_classes,
            relu=False,
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return x + self.second(self.first(x, labels), labels)


def one_hot_map(labels: torch.Tensor, n_classes: int, size: tuple[int, int]) -> torch.Tensor:
    """(B,) class indices -> (B, n_classes, H, W) constant one-hot planes."""
    planes = F.one_hot(labels, n_classes).to(torch.float32)
    return planes[:, :, None, None].expand(-1, -1, *size)


class SAGenerator(nn.Module):
    """``G(x, c)``: image x (B, 3, H, W) in [-1, 1] rendered with class c (B,); sides multiple of 4.

    The class enters twice. As the study did, one-hot planes are concatenated to the image; the
    stem has no normalisation, because a constant plane convolves to a per-channel constant that
    instance norm would subtract exactly, erasing the class. And every later normalisation is
    class-conditional, as in SAGAN's generator, so the class reaches every stage.
    """

    def __init__(self, n_classes: int, ngf: int = 32, n_blocks: int = 3, attention: bool = True) -> None:
        super().__init__()
        self.n_classes = n_classes
        k, width = n_classes, ngf * 4
        self.stem = spectral_norm(nn.Conv2d(3 + k, ngf, 3, padding=1, padding_mode="reflect"))
        self.down = nn.ModuleList(
            [
                _Stage(nn.Conv2d(ngf, ngf * 2, 4, 2, 1), ngf * 2, k),
                _Stage(nn.Conv2d(ngf * 2, width, 4, 2, 1), width, k),
            ]
        )
        self.blocks = nn.ModuleList(_ResidualBlock(width, k) for _ in range(n_blocks))
        self.attention = SelfAttention(width) if attention else nn.Identity()
        self.up = nn.ModuleList(
            [
                _Stage(nn.ConvTranspose2d(width, ngf * 2, 4, 2, 1), ngf * 2, k),
                _Stage(nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1), ngf, k),
            ]
        )
        self.out = spectral_norm(nn.Conv2d(ngf, 3, 3, padding=1, padding_mode="reflect"))

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % GENERATOR_MULTIPLE or x.shape[-2] % GENERATOR_MULTIPLE:
            raise ValueError(f"input sides {tuple(x.shape[-2:])} must be multiples of {GENERATOR_MULTIPLE}")
        condition = one_hot_map(labels, self.n_classes, x.shape[-2:]).to(x)
        h = F.relu(self.stem(torch.cat([x, condition], 1)))
        for stage in self.down:
            h = stage(h, labels)
        for block in self.blocks:
            h = block(h, labels)
        h = self.attention(h)
        for stage in self.up:
            h = stage(h, labels)
        return torch.tanh(self.out(h))


class SADiscriminator(nn.Module):
    """``n_layers`` stride-2 4x4 convolutions (LeakyReLU 0.1), attention after the second, then
    global sum pooling and a linear layer: (B, 3, H, W) -> (B, n_outputs) logits.

    Sum pooling, as SAGAN: with every layer spectrally normalised, averaging would shrink the
    logits by the map's area (on synthetic JAFFE faces, D's class accuracy on real faces after 300
    steps was 24% with averaging, 38% with sums).
    """

    def __init__(self, n_outputs: int, ndf: int = 32, n_layers: int = 4, attention: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for k in range(n_layers):
            out = ndf * min(2**k, 8)
            layers += [spectral_norm(nn.Conv2d(channels, out, 4, 2, 1)), nn.LeakyReLU(0.1, True)]
            channels = out
            if attention and k == min(1, n_layers - 1):
                layers.append(SelfAttention(channels))
        self.features = nn.Sequential(*layers)
        self.head = spectral_norm(nn.Linear(channels, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).sum((2, 3)))
