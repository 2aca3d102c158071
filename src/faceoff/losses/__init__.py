"""Training objectives: adversarial and reconstruction losses."""

from faceoff.losses.adversarial import GAN_MODES, AdversarialLoss, gradient_penalty
from faceoff.losses.reconstruction import cycle_loss, identity_loss, masked_l1, ssim_loss

__all__ = [
    "GAN_MODES",
    "AdversarialLoss",
    "cycle_loss",
    "gradient_penalty",
    "identity_loss",
    "masked_l1",
    "ssim_loss",
]
