"""A small CNN image classifier: the expression classifier that scores translated faces.

Small on purpose: JAFFE has about 200 images, and the classifier must train in under a minute on
two CPU cores. Global average pooling makes it work at any input size (32-256 px crops).
"""

from __future__ import annotations

import torch
from torch import nn


class SmallClassifier(nn.Module):
    """``n_blocks`` of (3x3 conv, batch norm, ReLU, 2x2 max pool), global average pool, linear.

    The width doubles per block from ``width`` up to ``8 * width``; the output is raw logits.
    """

    def __init__(self, n_classes: int, width: int = 16, n_blocks: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {n_classes}")
        layers: list[nn.Module] = []
        channels = 3
        for k in range(n_blocks):
            out = width * min(2**k, 8)
            layers += [
                nn.Conv2d(channels, out, 3, 1, 1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> (B, n_classes) logits."""
        return self.head(self.features(x).mean((2, 3)))
