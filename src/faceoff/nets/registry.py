"""Network registry: generators by name, discriminators by depth; every net comes initialised.

A generator module registers its architectures with :func:`register_generator` on import;
``faceoff.nets`` imports every module of its package, so adding a generator is adding its
module (or a plugin the params name).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from faceoff.config.plugins import import_submodules
from faceoff.nets.init import init_weights
from faceoff.nets.patchgan import PatchDiscriminator

# (ngf, norm) -> an uninitialised generator
GeneratorFactory = Callable[[int, str], nn.Module]

GENERATORS: dict[str, GeneratorFactory] = {}
# Input sides must be multiples of these (stride-2 stages of each generator).
SIZE_MULTIPLE: dict[str, int] = {}


def register_generator(name: str, factory: GeneratorFactory, size_multiple: int) -> None:
    """Add a generator architecture so that settings can name it (its module calls this on import)."""
    if name in GENERATORS:
        raise ValueError(f"generator {name!r} registered twice")
    GENERATORS[name] = factory
    SIZE_MULTIPLE[name] = size_multiple


def generator_names() -> list[str]:
    import_submodules("faceoff.nets")
    return list(GENERATORS)


def build_generator(name: str, ngf: int = 64, norm: str = "instance", init_gain: float = 0.02) -> nn.Module:
    if name not in generator_names():
        raise ValueError(f"unknown generator {name!r} (choose from {', '.join(generator_names())})")
    return init_weights(GENERATORS[name](ngf, norm), init_gain)


def build_discriminator(
    n_layers: int = 3, ndf: int = 64, norm: str = "instance", init_gain: float = 0.02
) -> nn.Module:
    if n_layers < 1:
        raise ValueError(f"a PatchGAN needs at least one layer, got {n_layers}")
    return init_weights(PatchDiscriminator(n_layers, ndf, norm), init_gain)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
