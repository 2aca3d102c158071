"""Generators and discriminators: reference parameter counts, shapes, initialisation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from faceoff.nets import build_discriminator, build_generator, count_parameters

# pytorch-CycleGAN-and-pix2pix's printed counts; they hold for norm="instance" (no affine
# parameters, convolutions keep their bias) and equally for norm="none".
REFERENCE_COUNTS = {
    ("G", "resnet_9blocks"): 11_378_179,
    ("G", "unet_256"): 54_409_603,
    ("D", 3): 2_764_737,
    ("D", 5): 11_154_369,
}


@pytest.mark.parametrize("norm", ["instance", "none"])
@pytest.mark.parametrize(("kind", "arch"), list(REFERENCE_COUNTS))
def test_reference_parameter_counts(kind: str, arch: str | int, norm: str) -> None:
    net = build_generator(arch, 64, norm) if kind == "G" else build_discriminator(arch, 64, norm)
    assert count_parameters(net) == REFERENCE_COUNTS[(kind, arch)]


def test_batch_norm_changes_counts() -> None:
    """Batch norm drops the convolution biases but adds a scale and shift per channel."""
    assert count_parameters(build_generator("resnet_9blocks", 64, "batch")) == 11_383_427
    assert count_parameters(build_discriminator(3, 64, "batch")) == 2_765_633


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("resnet_6blocks", 32),
        ("resnet_9blocks", 36),
        ("unet_32", 96),
        ("unet_64", 64),
        ("unet_128", 128),
        ("unet_256", 256),
    ],
)
def test_generators_keep_shape_and_range(name: str, size: int) -> None:
    net = build_generator(name, ngf=4)
    out = net(torch.randn(2, 3, size, size))
    assert out.shape == (2, 3, size, size)
    assert out.abs().max() <= 1


@pytest.mark.parametrize(("n_layers", "size", "patches"), [(1, 32, 14), (3, 32, 2), (3, 256, 30), (5, 96, 1)])
def test_patchgan_output_grid(n_layers: int, size: int, patches: int) -> None:
    assert build_discriminator(n_layers, ndf=4)(torch.randn(2, 3, size, size)).shape == (
        2,
        1,
        patches,
        patches,
    )


def test_normal_init_gain() -> None:
    torch.manual_seed(0)
    net = build_generator("resnet_9blocks", ngf=32)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    weights = torch.cat([m.weight.flatten() for m in convs])
    assert weights.mean().abs() < 1e-3
    assert weights.std().item() == pytest.approx(0.02, rel=0.02)
    assert all(m.bias is None or not m.bias.any() for m in convs)


def test_unknown_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="resnet_12blocks"):
        build_generator("resnet_12blocks")
    with pytest.raises(ValueError, match="unknown norm"):
        build_generator("resnet_6blocks", norm="layer")
