"""Perceptual losses on feature maps of a frozen network (see faceoff.faces.features)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C) channel correlations normalised by C*H*W, so layers of different
    width and resolution contribute on the same scale."""
    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def feature_l1(feats_x: Sequence[torch.Tensor], feats_y: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean over layers of the mean absolute feature difference (content loss)."""
    if len(feats_x) != len(feats_y) or not feats_x:
        raise ValueError(
            f"expected two equally long, non-empty feature lists, got {len(feats_x)}, {len(feats_y)}"
        )
    return torch.stack([(a - b).abs().mean() for a, b in zip(feats_x, feats_y, strict=True)]).mean()


def style_loss(
    feats_x: Sequence[torch.Tensor], feats_y: Sequence[torch.Tensor], layers: Sequence[int]
) -> torch.Tensor:
    """Mean over ``layers`` (indices into the feature lists) of the MSE between Gram matrices; a mean,
    like feature_l1, so the loss weight does not depend on how many layers are chosen."""
    if not layers:
        raise ValueError("style_loss needs at least one layer index")
    return torch.stack([F.mse_loss(gram_matrix(feats_x[i]), gram_matrix(feats_y[i])) for i in layers]).mean()
