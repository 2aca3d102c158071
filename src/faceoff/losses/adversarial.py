"""Adversarial objectives: LSGAN, vanilla GAN (BCE with logits), WGAN and WGAN-GP.

Discriminators output raw scores (no sigmoid); each mode turns them into a loss. For the
Wasserstein modes the "discriminator" is a critic whose loss is ``mean(D(fake)) - mean(D(real))``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

GAN_MODES = ("lsgan", "vanilla", "wgan", "wgangp")


class AdversarialLoss:
    """Loss of a score map against a real/fake target, for one of :data:`GAN_MODES`."""

    def __init__(self, mode: str) -> None:
        if mode not in GAN_MODES:
            raise ValueError(f"unknown gan_mode {mode!r} (choose from {', '.join(GAN_MODES)})")
        self.mode = mode

    @property
    def wasserstein(self) -> bool:
        return self.mode in ("wgan", "wgangp")

    def __call__(self, scores: torch.Tensor, real: bool) -> torch.Tensor:
        """Loss that pushes ``scores`` towards "real" (generator view) or towards "fake"."""
        if self.wasserstein:
            return -scores.mean() if real else scores.mean()
        target = torch.full_like(scores, 1.0 if real else 0.0)
        if self.mode == "lsgan":
            return F.mse_loss(scores, target)
        return F.binary_cross_entropy_with_logits(scores, target)

    def discriminator(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        """Discriminator loss; halved for LSGAN/vanilla so D learns slower than G (CycleGAN's choice)."""
        loss = self(real_scores, True) + self(fake_scores, False)
        return loss if self.wasserstein else 0.5 * loss


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP penalty ``mean((||grad D(x_hat)||_2 - 1)^2)`` on random interpolates of real and fake."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, generator=generator, device="cpu").to(real)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
