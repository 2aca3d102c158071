"""Network registry: generators by name, discriminators by depth; every net comes initialised."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from faceoff.nets.init import init_weights
from faceoff.nets.patchgan import PatchDiscriminator
from faceoff.nets.resnet import ResnetGenerator
from faceoff.nets.unet import UnetGenerator

GeneratorFactory = Callable[[int, str], nn.Module]

GENERATORS: dict[str, GeneratorFactory] = {
    "resnet_6blocks": lambda ngf, norm: ResnetGenerator(6, ngf, norm),
    "resnet_9blocks": lambda ngf, norm: ResnetGenerator(9, ngf, norm),
    "unet_32": lambda ngf, norm: UnetGenerator(5, ngf, norm),  # small demo crops (multiples of 32)
    "unet_64": lambda ngf, norm: UnetGenerator(6, ngf, norm),
    "unet_128": lambda ngf, norm: UnetGenerator(7, ngf, norm),
    "unet_256": lambda ngf, norm: UnetGenerator(8, ngf, norm),
}

# Input sides must be multiples of these (stride-2 stages of each generator).
SIZE_MULTIPLE = {
    "resnet_6blocks": 4,
    "resnet_9blocks": 4,
    "unet_32": 32,
    "unet_64": 64,
    "unet_128": 128,
    "unet_256": 256,
}


def register_generator(name: str, factory: GeneratorFactory, size_multiple: int) -> None:
    """Add a generator architecture so that settings can name it."""
    GENERATORS[name] = factory
    SIZE_MULTIPLE[name] = size_multiple


def build_generator(name: str, ngf: int = 64, norm: str = "instance", init_gain: float = 0.02) -> nn.Module:
    if name not in GENERATORS:
        raise ValueError(f"unknown generator {name!r} (choose from {', '.join(sorted(GENERATORS))})")
    return init_weights(GENERATORS[name](ngf, norm), init_gain)


def build_discriminator(
    n_layers: int = 3, ndf: int = 64, norm: str = "instance", init_gain: float = 0.02
) -> nn.Module:
    if n_layers < 1:
        raise ValueError(f"a PatchGAN needs at least one layer, got {n_layers}")
    return init_weights(PatchDiscriminator(n_layers, ndf, norm), init_gain)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
