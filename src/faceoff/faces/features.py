"""Frozen feature networks for perceptual losses: four feature maps, shallow to deep.

VGG19 (ImageNet) is the classic choice, but its weights are a separate download; dlib's face ResNet
ships with face_recognition_models, so "auto" falls back to it on offline machines without the VGG
file. The face nets give identity-aware features (FaceNet needs its own cached weights).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_NETS = ("auto", "vgg19", "dlib_resnet", "facenet")
VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's IMAGENET1K_V1 weights
# relu1_2, relu2_2, relu3_4, relu4_4: the indices in torchvision's vgg19().features just after them.
VGG19_CUTS = (4, 9, 18, 27)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_Net = TypeVar("_Net", bound="FrozenNet")


class FrozenNet(nn.Module):
    """A network used only as a fixed measure: no gradients for its weights, always in eval mode
    (``train()`` is a no-op, so a Stepper switching its own nets to train mode cannot turn on
    FaceNet's batch-norm statistics updates)."""

    def freeze(self: _Net, device: str | torch.device) -> _Net:
        self.requires_grad_(False)
        return self.to(device).eval()

    def train(self: _Net, mode: bool = True) -> _Net:
        return super().train(False)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Differentiable bilinear resize to size x size (no antialiasing, so cheap on the backward pass)."""
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False)


def vgg19_weights_path() -> Path:
    """Where torchvision caches VGG19's ImageNet weights: torch hub's checkpoint folder
    (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE


class FeatureNet(FrozenNet):
    """``forward(x) -> [4 feature maps]`` for x float NCHW RGB in [-1, 1]; ``name`` is the network."""

    name: str


class VGG19Features(FeatureNet):
    """VGG19 activations after relu1_2, relu2_2, relu3_4 and relu4_4 at the input's own resolution."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers

        path = vgg19_weights_path()
        if not path.is_file():
            raise FileNotFoundError(
                f"VGG19 weights not found: expected {path.name} in {path.parent} (torch hub's checkpoint "
                "folder, $TORCH_HOME/hub/checkpoints). Download them on a machine with internet access with "
                "torchvision.models.vgg19(weights='IMAGENET1K_V1') and copy the file there, or use the "
                "feature net 'dlib_resnet', which needs no extra download."
            )
        # Only the layers up to relu4_4 are built and loaded: the classifier is most of the 548 MB file.
        layers = make_layers(cfgs["E"])[: VGG19_CUTS[-1]]
        state = torch.load(path, map_location="cpu", weights_only=True)
        wanted = {f"features.{name}": name for name in layers.state_dict()}
        layers.load_state_dict({name: state[key] for key, name in wanted.items() if key in state})
        self.name = "vgg19"
        bounds = (0, *VGG19_CUTS)
        self.blocks = nn.ModuleList(layers[a:b] for a, b in pairwise(bounds))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((x + 1) / 2 - self.mean) / self.std
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


class FaceNetFeatures(FeatureNet):
    """Four stages of a face-recognition net (dlib's ResNet or FaceNet), run at the net's own input
    size: its filters were learnt on faces at that scale."""

    def __init__(self, name: str) -> None:
        super().__init__()
        if name == "dlib_resnet":
            from faceoff.faces.dlib_resnet import INPUT_SIZE, load_dlib_resnet

            self.net: nn.Module = load_dlib_resnet()
        else:
            from faceoff.faces.facenet import INPUT_SIZE, load_facenet

            self.net = load_facenet()
        self.name = name
        self.size = INPUT_SIZE

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.net.stages((resize(x, self.size) + 1) * 127.5)


def build_feature_net(name: str = "auto", device: str | torch.device = "cpu") -> FeatureNet:
    """The frozen feature net ``name``; "auto" is VGG19 when its weights are cached, else dlib's ResNet."""
    if name not in FEATURE_NETS:
        raise ValueError(f"unknown feature net {name!r} (choose from {', '.join(FEATURE_NETS)})")
    if name == "auto":
        name = "vgg19" if vgg19_weights_path().is_file() else "dlib_resnet"
    net = VGG19Features() if name == "vgg19" else FaceNetFeatures(name)
    return net.freeze(device)
