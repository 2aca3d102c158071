"""Frozen feature networks for perceptual losses: the activations at named layers, shallow to deep.

VGG19 (ImageNet) is what the studies use; its weights are a separate download (torch hub's
cache) and a run that names it stops, saying which file to put where, when they are missing: a
network is never swapped silently. dlib's face ResNet ships with face_recognition_models, so a
configuration that must run offline names it (``feature_net: dlib_resnet``) and its stages
instead. FaceNet needs its own cached weights.

Layer names: VGG19's ``relu<block>_<conv>`` (``relu1_1`` .. ``relu5_4``, torchvision's
``vgg19().features``); the face networks' four resolution stages ``stage1`` .. ``stage4``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from faceoff.faces.identity import IDENTITY_NETS

FEATURE_NETS = ("vgg19", *IDENTITY_NETS)
VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's IMAGENET1K_V1 weights
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FACE_STAGES = ("stage1", "stage2", "stage3", "stage4")
# Four maps, shallow to deep, for users that index them (neural style transfer): VGG19's last ReLU
# of the first four blocks, and the face nets' stages.
DEFAULT_LAYERS = {
    "vgg19": ("relu1_2", "relu2_2", "relu3_4", "relu4_4"),
    **dict.fromkeys(IDENTITY_NETS, FACE_STAGES),
}
_Net = TypeVar("_Net", bound="FrozenNet")


def _vgg19_relus() -> dict[str, int]:
    """``relu<b>_<i>`` -> the index just after that ReLU in torchvision's ``vgg19().features``
    (config "E": each convolution is a Conv2d and a ReLU, each "M" a max-pool)."""
    from torchvision.models.vgg import cfgs

    cuts, block, conv, index = {}, 1, 0, 0
    for entry in cfgs["E"]:
        if entry == "M":
            block, conv, index = block + 1, 0, index + 1
        else:
            conv, index = conv + 1, index + 2
            cuts[f"relu{block}_{conv}"] = index
    return cuts


def feature_net_names() -> list[str]:
    return list(FEATURE_NETS)


def layer_names(net: str) -> tuple[str, ...]:
    """The layers ``net`` can return, shallow to deep."""
    if net not in FEATURE_NETS:
        raise ValueError(f"unknown feature net {net!r} (choose from {', '.join(FEATURE_NETS)})")
    return tuple(_vgg19_relus()) if net == "vgg19" else FACE_STAGES


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


def networks_needed(settings: Mapping[str, Any]) -> list[str]:
    """The frozen networks (names of :mod:`faceoff.faces.weights`) that a run with these settings
    loads: a ``train`` block resolved for one variant, or an ``evaluate`` block (no ``model``). A
    term whose weight is 0 loads nothing."""
    model = settings.get("model")
    nets = []
    if model == "reenact":
        identity = float(settings.get("lambda_identity", 1.0)) > 0
        descriptor = settings.get("identity_loss", "feature_l1") == "descriptor"
        if float(settings.get("lambda_perceptual", 1.0)) > 0 or (identity and not descriptor):
            nets.append(settings.get("feature_net", "vgg19"))
        if identity and descriptor:
            nets.append(settings.get("identity_net", "dlib_resnet"))
    elif model == "nst":
        nets.append(settings.get("feature_net", "vgg19"))
    elif model is None:
        if "identity_net" in settings:
            nets.append(settings["identity_net"])
    elif float(settings.get("lambda_p", 0.0)) > 0:
        nets.append(settings.get("identity_net", "dlib_resnet"))
    return list(dict.fromkeys(nets))


def missing_weights(settings: Mapping[str, Any]) -> list[str]:
    """One message per network of ``settings`` whose weights are not on this machine, naming the
    file, the folder it goes in and how to get it; empty when everything is there."""
    from faceoff.faces.weights import missing

    return [w.problem() or w.network for w in missing(networks_needed(settings))]


class FeatureNet(FrozenNet):
    """``forward(x) -> [feature maps at self.layers]`` for x float NCHW RGB in [-1, 1]; ``name`` is
    the network."""

    name: str
    layers: tuple[str, ...]


class VGG19Features(FeatureNet):
    """VGG19 activations at the named ReLU layers, at the input's own resolution."""

    def __init__(self, layers: Sequence[str]) -> None:
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers

        relus = _vgg19_relus()
        unknown = [name for name in layers if name not in relus]
        if unknown or not layers:
            raise ValueError(f"vgg19 has no layers {unknown or '[]'} (choose from {', '.join(relus)})")
        from faceoff.faces.weights import require

        path = require("vgg19")  # MissingWeightsError naming the file and its folder
        self.name, self.layers = "vgg19", tuple(layers)
        self._cuts = [relus[name] for name in self.layers]
        # Only the layers up to the deepest one asked for are built and loaded: the classifier is
        # most of the 548 MB file.
        self.body = make_layers(cfgs["E"])[: max(self._cuts)]
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.body.load_state_dict({name: state[f"features.{name}"] for name in self.body.state_dict()})
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((x + 1) / 2 - self.mean) / self.std
        at: dict[int, torch.Tensor] = {}
        for index, layer in enumerate(self.body, start=1):
            x = layer(x)
            if index in self._cuts:
                at[index] = x
        return [at[cut] for cut in self._cuts]


class FaceNetFeatures(FeatureNet):
    """Stages of a face-recognition net (dlib's ResNet or FaceNet), run at the net's own input
    size: its filters were learnt on faces at that scale."""

    def __init__(self, name: str, layers: Sequence[str] = FACE_STAGES) -> None:
        super().__init__()
        unknown = [layer for layer in layers if layer not in FACE_STAGES]
        if unknown or not layers:
            raise ValueError(f"{name} has no layers {unknown or '[]'} (choose from {', '.join(FACE_STAGES)})")
        if name == "dlib_resnet":
            from faceoff.faces.dlib_resnet import INPUT_SIZE, load_dlib_resnet

            self.net: nn.Module = load_dlib_resnet()
        else:
            from faceoff.faces.facenet import INPUT_SIZE, load_facenet

            self.net = load_facenet()
        self.name, self.layers, self.size = name, tuple(layers), INPUT_SIZE
        self._picks = [FACE_STAGES.index(layer) for layer in self.layers]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        stages = self.net.stages((resize(x, self.size) + 1) * 127.5)
        return [stages[i] for i in self._picks]


def build_feature_net(
    name: str, layers: Sequence[str] | None = None, device: str | torch.device = "cpu"
) -> FeatureNet:
    """The frozen feature net ``name`` returning ``layers`` (default :data:`DEFAULT_LAYERS`); a
    missing weights file raises MissingWeightsError naming it and the folder it goes in."""
    if name not in FEATURE_NETS:
        raise ValueError(f"unknown feature net {name!r} (choose from {', '.join(FEATURE_NETS)})")
    layers = DEFAULT_LAYERS[name] if layers is None else tuple(layers)
    net = VGG19Features(layers) if name == "vgg19" else FaceNetFeatures(name, layers)
    return net.freeze(device)
