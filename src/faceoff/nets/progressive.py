"""Growable generator and discriminator for the progressive CycleGAN (the study's section VI).

The study starts from a 2-layer generator (one downsampling, one upsampling layer) and a 2-layer
discriminator and, at each of five stages, adds two generator layers and one discriminator
layer, keeping what was trained; the final networks are those of the plain CycleGAN. Here:

- Generator at stage ``k`` of ``n_stages``: the outer ``k`` levels of the U-Net
  :class:`~faceoff.nets.unet.UnetGenerator` with ``n_stages`` levels (``k`` downsampling and
  ``k`` upsampling convolutions, ``2k`` layers). Growing adds the next level *inside*, at the
  bottleneck (the study's "intermediate layers"): every existing layer keeps its weights and
  shapes. Each upsampling layer is built with its full-size input (skip connection plus the
  output of the level below); until that level exists, the missing half is fed zeros and its
  weights start at zero, so growing does not change what the generator computes at that moment.
  At stage ``n_stages`` the net is exactly ``UnetGenerator(n_stages)`` (same modules and
  ``state_dict``; five stages give the ``unet_32`` architecture).
- Discriminator at stage ``k``: exactly ``PatchDiscriminator(k - 1)``: an input convolution,
  ``k - 1`` intermediate convolutions and the 1-channel score convolution (``k + 1`` layers);
  five stages end at the 4-layer PatchGAN (crops of at least 48 px). Growing keeps every
  convolution but the score layer, turns the last intermediate convolution from stride 1 into
  stride 2 (as it is in the deeper PatchGAN) and appends a new stride-1 layer and a new score
  layer (its input width changes, so like ProGAN's per-resolution RGB layers it is rebuilt).

- :class:`ProgressiveResnetGenerator` grows to CycleGAN's ResNet generator
  (:class:`~faceoff.nets.resnet.ResnetGenerator`, the study's "same architecture as the one used
  for CycleGAN"): stage 1 is its 7x7 input and output convolutions (2 layers), stages 2 and 3 add
  its two downsampling/upsampling pairs at the bottleneck (2 layers each, as the study grows),
  the remaining stages its residual blocks, split as evenly as possible (9 blocks over stages 4
  and 5: 5 and 4). A pair or block cannot start silent without breaking the path through it, so
  new layers fade in as in ProGAN: with ``alpha`` from 0 to 1 a new pair's output is blended with
  its input, ``(1 - alpha) * h + alpha * up(down(h))``, and a new block adds ``alpha * body(h)``.
  At ``alpha`` 1 in the last stage it computes exactly ``ResnetGenerator(n_blocks)`` (the same
  layers; growing keeps every earlier layer's name, so its module order differs).

New layers are initialised with :func:`~faceoff.nets.init.init_weights` from torch's global
random state: a trainer that seeds it before growing gets the same layers on every run.
"""

from __future__ import annotations

import torch
from torch import nn

from faceoff.nets.init import init_weights
from faceoff.nets.norm import conv_bias, norm_layer
from faceoff.nets.resnet import ResidualBlock


def _unet_widths(n_stages: int, ngf: int) -> list[int]:
    return [ngf * min(2**i, 8) for i in range(n_stages)]


def _conv_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]


def count_layers(net: nn.Module) -> int:
    """Convolutions (plain and transposed): the "layers" the study counts."""
    return len(_conv_layers(net))


def _check_stage(stage: int, n_stages: int) -> None:
    """A growing network is built at a stage of its own, 1 to ``n_stages``."""
    if not 1 <= stage <= n_stages:
        raise ValueError(f"stage must be in 1..{n_stages}, got {stage}")


class ProgressiveGenerator(nn.Module):
    """U-Net that grows from its outermost level inwards; inputs: multiples of ``2 ** n_stages``."""

    def __init__(
        self, n_stages: int = 5, ngf: int = 64, norm: str = "instance", stage: int = 1, channels: int = 3
    ) -> None:
        super().__init__()
        _check_stage(stage, n_stages)
        self.n_stages, self.norm, self.channels = n_stages, norm, channels
        self.widths = _unet_widths(n_stages, ngf)
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        for _ in range(stage):
            self.grow()

    @property
    def stage(self) -> int:
        return len(self.down)

    def grow(self) -> None:
        """Add the next level at the bottleneck (one downsampling and one upsampling layer)."""
        i = self.stage
        if i == self.n_stages:
            raise ValueError(f"the generator is already at its last stage ({self.n_stages})")
        make_norm, bias, w, last = norm_layer(self.norm), conv_bias(self.norm), self.widths, self.n_stages - 1
        width_in = w[i] if i == last else 2 * w[i]  # skip connection + the level below, once it exists
        if i == 0:
            down: nn.Module = nn.Conv2d(self.channels, w[0], 4, 2, 1, bias=bias)
            up = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(width_in, self.channels, 4, 2, 1), nn.Tanh())
        else:
            stage: list[nn.Module] = [nn.LeakyReLU(0.2), nn.Conv2d(w[i - 1], w[i], 4, 2, 1, bias=bias)]
            if i < last:
                stage.append(make_norm(w[i]))
            down = nn.Sequential(*stage)
            up = nn.Sequential(
                nn.ReLU(), nn.ConvTranspose2d(width_in, w[i - 1], 4, 2, 1, bias=bias), make_norm(w[i - 1])
            )
        init_weights(down)
        init_weights(up)
        if i < last:
            with torch.no_grad():  # inputs from the level below: silent until that level is grown
                up[1].weight[w[i] :].zero_()
        self.down.append(down)
        self.up.append(up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level in self.down:
            x = level(x)
            skips.append(x)
        y = None if self.stage == self.n_stages else torch.zeros_like(skips[-1])
        for i in range(self.stage - 1, -1, -1):
            y = self.up[i](skips[i] if y is None else torch.cat([skips[i], y], 1))
        return y


def resnet_block_stages(n_stages: int, n_blocks: int) -> list[int]:
    """Residual blocks added at stages 4 .. ``n_stages`` (as even as possible, larger groups first)."""
    groups = n_stages - 3
    if groups < 1 or (n_blocks and groups > n_blocks):
        raise ValueError(f"{n_blocks} residual blocks cannot be grown over stages 4..{n_stages}")
    return [n_blocks // groups + (i < n_blocks % groups) for i in range(groups)]


class ProgressiveResnetGenerator(nn.Module):
    """CycleGAN's ResNet generator grown in ``n_stages`` stages; inputs: multiples of 4.

    ``alpha`` (set by the trainer) is how far the layers added last have faded in.
    """

    def __init__(
        self,
        n_blocks: int = 9,
        n_stages: int = 5,
        ngf: int = 64,
        norm: str = "instance",
        stage: int = 1,
        channels: int = 3,
    ) -> None:
        super().__init__()
        _check_stage(stage, n_stages)
        self.n_stages, self.ngf, self.norm = n_stages, ngf, norm
        self.block_stages = resnet_block_stages(n_stages, n_blocks)
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        self.stem = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(channels, ngf, 7, bias=bias), make_norm(ngf), nn.ReLU(True)
        )
        self.down = nn.ModuleList()
        self.blocks = nn.ModuleList()
        self.up = nn.ModuleList()  # in growth order (the outermost first), applied in reverse
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(ngf, channels, 7), nn.Tanh())
        init_weights(self)
        self.alpha = 1.0
        self._new_blocks = 0  # blocks added by the last growth (0: it added a pair, or none)
        self.stage = 1
        while self.stage < stage:
            self.grow()

    def grow(self) -> None:
        """Add the next stage's layers at the bottleneck; they start faded out (``alpha`` 0)."""
        if self.stage == self.n_stages:
            raise ValueError(f"the generator is already at its last stage ({self.n_stages})")
        make_norm, bias = norm_layer(self.norm), conv_bias(self.norm)
        if len(self.down) < 2:
            width = self.ngf * 2 ** len(self.down)
            down = nn.Sequential(
                nn.Conv2d(width, 2 * width, 3, 2, 1, bias=bias), make_norm(2 * width), nn.ReLU(True)
            )
            up = nn.Sequential(
                nn.ConvTranspose2d(2 * width, width, 3, 2, 1, output_padding=1, bias=bias),
                make_norm(width),
                nn.ReLU(True),
            )
            init_weights(down)
            init_weights(up)
            self.down.append(down)
            self.up.append(up)
            self._new_blocks = 0
        else:
            n = self.block_stages[self.stage - 3]
            new = [ResidualBlock(self.ngf * 4, self.norm) for _ in range(n)]
            for block in new:
                init_weights(block)
                self.blocks.append(block)
            self._new_blocks = n
        self.stage += 1
        self.alpha = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        inputs = []
        for level in self.down:
            inputs.append(h)
            h = level(h)
        first_new = len(self.blocks) - self._new_blocks
        for j, block in enumerate(self.blocks):
            h = h + (self.alpha if j >= first_new else 1.0) * block.body(h)
        for k, level in enumerate(reversed(self.up)):
            h = level(h)
            if k == 0 and not self._new_blocks and self.alpha < 1:  # the newest pair fades in
                h = (1 - self.alpha) * inputs[-1] + self.alpha * h
        return self.head(h)


class ProgressiveDiscriminator(nn.Module):
    """PatchGAN one intermediate layer deeper per stage; stage ``k`` is ``PatchDiscriminator(k - 1)``."""

    def __init__(
        self, n_stages: int = 5, ndf: int = 64, norm: str = "instance", stage: int = 1, channels: int = 3
    ) -> None:
        super().__init__()
        _check_stage(stage, n_stages)
        self.n_stages, self.ndf, self.norm = n_stages, ndf, norm
        self.model = nn.Sequential(
            nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True), self._score(ndf)
        )
        init_weights(self.model)
        self.stage = 1
        while self.stage < stage:
            self.grow()

    @staticmethod
    def _score(width: int) -> nn.Conv2d:
        return nn.Conv2d(width, 1, 4, 1, 1)

    def grow(self) -> None:
        """Deepen by one intermediate layer; the score layer is rebuilt for the new width."""
        if self.stage == self.n_stages:
            raise ValueError(f"the discriminator is already at its last stage ({self.n_stages})")
        n = self.stage  # index of the new intermediate layer, 1-based as in PatchDiscriminator
        kept = list(self.model)[:-1]
        if n > 1:
            kept[-3].stride = (2, 2)  # the former last intermediate convolution now downsamples
        width_in, width = self.ndf * min(2 ** (n - 1), 8), self.ndf * min(2**n, 8)
        new = [
            nn.Conv2d(width_in, width, 4, 1, 1, bias=conv_bias(self.norm)),
            norm_layer(self.norm)(width),
            nn.LeakyReLU(0.2, True),
            self._score(width),
        ]
        init_weights(nn.Sequential(*new))
        self.model = nn.Sequential(*kept, *new)
        self.stage = n + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
