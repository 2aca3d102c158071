"""Reconstruction losses: cycle consistency (L1, optional mask weighting and SSIM) and identity."""

from __future__ import annotations

import torch
from pytorch_msssim import ssim


def masked_l1(
    output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, mask_weight: float = 0.0
) -> torch.Tensor:
    """Mean absolute error with per-pixel weight ``mask_weight * mask + 1`` (face pixels count more).

    ``mask`` is (N, 1, H, W) in {0, 1}; the mean is over all pixels, so the weighting raises the
    loss rather than renormalising it.
    """
    error = (output - target).abs()
    if mask is not None and mask_weight:
        error = error * (mask_weight * mask + 1)
    return error.mean()


def ssim_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - SSIM`` of images in [-1, 1], measured on [0, 1]."""
    return 1 - ssim((output + 1) / 2, (target + 1) / 2, data_range=1.0, size_average=True)


def cycle_loss(
    reconstruction: torch.Tensor,
    real: torch.Tensor,
    lambda_cycle: float,
    lambda_ssim: float = 0.0,
    mask: torch.Tensor | None = None,
    mask_weight: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The (L1, SSIM) parts of one direction's cycle loss, each already weighted."""
    l1 = lambda_cycle * masked_l1(reconstruction, real, mask, mask_weight)
    structural = (
        lambda_ssim * ssim_loss(reconstruction.float(), real.float()) if lambda_ssim else l1.new_zeros(())
    )
    return l1, structural


def identity_loss(output: torch.Tensor, target: torch.Tensor, weight: float) -> torch.Tensor:
    """``weight * L1``: a generator fed an image of its target domain should leave it unchanged."""
    return weight * (output - target).abs().mean()
