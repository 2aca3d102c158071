"""Training objectives: adversarial (a registry of ``gan_mode``) and reconstruction losses."""

from faceoff.losses.adversarial import (
    GAN_OBJECTIVES,
    AdversarialLoss,
    GanObjective,
    gan_modes,
    get_gan_objective,
    gradient_penalty,
    interpolation_weights,
    register_gan_objective,
)
from faceoff.losses.reconstruction import cycle_loss, identity_loss, masked_l1, ssim_loss

__all__ = [
    "GAN_OBJECTIVES",
    "AdversarialLoss",
    "GanObjective",
    "cycle_loss",
    "gan_modes",
    "get_gan_objective",
    "gradient_penalty",
    "identity_loss",
    "interpolation_weights",
    "masked_l1",
    "register_gan_objective",
    "ssim_loss",
]
