"""Reconstruction losses: cycle consistency (L1, optional mask weighting and SSIM) and identity."""

from __future__ import annotations

import torch
from pytorch_msssim import ms_ssim, ssim

# The face-off study's cycle term is MS-SSIM over 5 scales (its eq. 3); pytorch_msssim needs the
# smaller image side above (11 - 1) * 2**4 for that. Single-scale SSIM is the small-crop substitute.
SSIM_FORMS = ("ms_ssim", "ssim")
MS_SSIM_MIN_SIZE = 161


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


def ssim_loss(output: torch.Tensor, target: torch.Tensor, form: str = "ssim") -> torch.Tensor:
    """``1 - SSIM`` (or ``1 - MS-SSIM``) of images in [-1, 1], measured on [0, 1]."""
    index = ms_ssim if form == "ms_ssim" else ssim
    return 1 - index((output + 1) / 2, (target + 1) / 2, data_range=1.0, size_average=True)


def cycle_loss(
    reconstruction: torch.Tensor,
    real: torch.Tensor,
    lambda_cycle: float,
    lambda_ssim: float = 0.0,
    mask: torch.Tensor | None = None,
    mask_weight: float = 0.0,
    ssim_form: str = "ssim",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The (L1, SSIM) parts of one direction's cycle loss, each already weighted."""
    l1 = lambda_cycle * masked_l1(reconstruction, real, mask, mask_weight)
    structural = (
        lambda_ssim * ssim_loss(reconstruction.float(), real.float(), ssim_form)
        if lambda_ssim
        else l1.new_zeros(())
    )
    return l1, structural


def identity_loss(output: torch.Tensor, target: torch.Tensor, weight: float) -> torch.Tensor:
    """``weight * L1``: a generator fed an image of its target domain should leave it unchanged."""
    return weight * (output - target).abs().mean()
