"""FaceNet (Inception-ResNet-v1 trained on VGGFace2, from facenet-pytorch) with offline-only weights.

facenet-pytorch downloads its weights on first use; on offline cluster nodes that fails mid-run,
so the weights are only ever read from the folder where facenet-pytorch caches them.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

INPUT_SIZE = 160
DESCRIPTOR_DIM = 512
# The name facenet-pytorch's load_weights gives the VGGFace2 checkpoint it downloads.
FACENET_FILE = "20180402-114759-vggface2.pt"


def facenet_weights_path() -> Path:
    """facenet-pytorch's cache: ``$TORCH_HOME/checkpoints`` (not torch hub's ``hub/checkpoints``).
    Found without importing facenet-pytorch, which imports torchvision (seconds per evaluation)."""
    return Path(torch.hub.get_dir()).parent / "checkpoints" / FACENET_FILE


class FaceNet(nn.Module):
    """``forward(x)`` maps float RGB (N, 3, 160, 160) in 0..255 (a face crop with a small margin) to
    L2-normalised (N, 512) descriptors."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    @staticmethod
    def standardize(x: torch.Tensor) -> torch.Tensor:
        """facenet-pytorch's fixed_image_standardization, which the VGGFace2 weights were trained with."""
        return (x - 127.5) / 128.0

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Four feature maps for perceptual losses: the stem's last conv and the three Inception-ResNet
        stages (at 160 px: 64 channels at 77x77, 256 at 17x17, 896 at 8x8, 1792 at 3x3)."""
        n = self.net
        x = n.conv2d_2b(n.conv2d_2a(n.conv2d_1a(self.standardize(x))))
        feats = [x]
        x = n.repeat_1(n.conv2d_4b(n.conv2d_4a(n.conv2d_3b(n.maxpool_3a(x)))))
        feats.append(x)
        x = n.repeat_2(n.mixed_6a(x))
        feats.append(x)
        feats.append(n.block8(n.repeat_3(n.mixed_7a(x))))
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.standardize(x))


def load_facenet() -> FaceNet:
    """FaceNet with the cached VGGFace2 weights, in eval mode; never downloads."""
    from facenet_pytorch import InceptionResnetV1

    from faceoff.faces.weights import require

    path = require("facenet")
    net = InceptionResnetV1(pretrained=None, classify=False)
    state = torch.load(path, map_location="cpu", weights_only=True)
    # The released checkpoint includes the VGGFace2 classifier, which embeddings do not use.
    net.load_state_dict({k: v for k, v in state.items() if not k.startswith("logits.")})
    return FaceNet(net).eval()
