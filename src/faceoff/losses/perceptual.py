"""Perceptual losses on feature maps of a frozen network (see faceoff.faces.features).

Two forms of the style term: ``frobenius``, the reenactment study's Frobenius norm of the Gram
matrices' difference (after Johnson et al., whose Gram matrices are normalised by C*H*W), and
``gram_mse``, the mean squared difference of those matrices, which is that norm squared over C^2:
smaller gradients where the styles are close, and the same scale for layers of any width.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

STYLES = ("frobenius", "gram_mse")


def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C) channel correlations normalised by C*H*W, so layers of different
    width and resolution contribute on the same scale."""
    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def feature_l1(feats_x: Sequence[torch.Tensor], feats_y: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum over layers of the mean absolute feature difference (the study's ``sum_l |phi_l(I) -
    phi_l(I')|_1``, each norm a mean over its elements as in pix2pix's L1)."""
    if len(feats_x) != len(feats_y) or not feats_x:
        raise ValueError(
            f"expected two equally long, non-empty feature lists, got {len(feats_x)}, {len(feats_y)}"
        )
    return torch.stack([(a - b).abs().mean() for a, b in zip(feats_x, feats_y, strict=True)]).sum()


def gram_frobenius(f_x: torch.Tensor, f_y: torch.Tensor) -> torch.Tensor:
    """Frobenius norm of the difference of two feature maps' Gram matrices, averaged over the batch."""
    return torch.linalg.matrix_norm(gram_matrix(f_x) - gram_matrix(f_y), ord="fro").mean()


def gram_mse(f_x: torch.Tensor, f_y: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of two feature maps' Gram matrices."""
    return F.mse_loss(gram_matrix(f_x), gram_matrix(f_y))


def style_loss(
    feats_x: Sequence[torch.Tensor],
    feats_y: Sequence[torch.Tensor],
    layers: Sequence[int],
    style: str = "frobenius",
) -> torch.Tensor:
    """Mean over ``layers`` (indices into the feature lists) of the ``style`` term (see :data:`STYLES`)."""
    if not layers:
        raise ValueError("style_loss needs at least one layer index")
    if style not in STYLES:
        raise ValueError(f"unknown style term {style!r} (choose from {', '.join(STYLES)})")
    term = gram_frobenius if style == "frobenius" else gram_mse
    return torch.stack([term(feats_x[i], feats_y[i]) for i in layers]).mean()
