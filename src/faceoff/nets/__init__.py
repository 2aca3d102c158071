"""Generators and discriminators for image-to-image translation.

Every module of this package is imported here, so the generators each registers are known as
soon as ``faceoff.nets`` is.
"""

from faceoff.config.plugins import import_submodules
from faceoff.nets.patchgan import PatchDiscriminator, min_input_size
from faceoff.nets.registry import (
    GENERATORS,
    SIZE_MULTIPLE,
    build_discriminator,
    build_generator,
    count_parameters,
    register_generator,
)
from faceoff.nets.resnet import ResnetGenerator
from faceoff.nets.unet import UnetGenerator

__all__ = [
    "GENERATORS",
    "SIZE_MULTIPLE",
    "PatchDiscriminator",
    "ResnetGenerator",
    "UnetGenerator",
    "build_discriminator",
    "build_generator",
    "count_parameters",
    "min_input_size",
    "register_generator",
]

import_submodules(__name__)
