"""The CycleGAN objective (Zhu et al. 2017), shared by CycleGAN and the progressive CycleGAN.

Generators: adversarial loss against the other side's discriminators (averaged over them),
cycle L1 times ``lambda_cycle`` (optionally face-weighted, plus ``lambda_ssim`` SSIM), identity
L1 times ``lambda_cycle * lambda_identity`` and the portrait study's identity-preserving term
``lambda_p * ||E(G(x)) - E(x)||^2``. Discriminators: the adversarial objective on real and
(pooled) fake images. The terms are summed in one fixed order, which the stored results of
both models depend on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from faceoff.losses.adversarial import AdversarialLoss
from faceoff.losses.identity import identity_preserving_loss
from faceoff.losses.reconstruction import cycle_loss, identity_loss

Net = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class CycleGANObjective:
    """The loss terms of one CycleGAN step; ``batch_passes`` runs the identity passes in the batch
    of the translations and real with fake in one discriminator call (float rounding only)."""

    gan: AdversarialLoss
    lambda_cycle: float
    lambda_identity: float
    lambda_ssim: float = 0.0
    mask_weight: float = 0.0
    ssim_form: str = "ssim"
    lambda_p: float = 0.0
    batch_passes: bool = False

    def generator(
        self,
        g_ab: Net,
        g_ba: Net,
        d_a: Sequence[Net],
        d_b: Sequence[Net],
        a: torch.Tensor,
        b: torch.Tensor,
        masks: tuple[torch.Tensor | None, torch.Tensor | None] = (None, None),
        identity_net: nn.Module | None = None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """The generators' terms (``G_gan``, ``G_cycle``, ``G_idt``, ``G_ssim``, ``G_perc``,
        ``G_total``) and the two fakes, ``fake_b`` and ``fake_a``; ``identity_net`` E is needed
        for ``G_perc`` (zero without it)."""
        identity = bool(self.lambda_identity)
        if identity and self.batch_passes:
            n = a.shape[0]
            fake_b, idt_b = g_ab(torch.cat([a, b])).split(n)
            fake_a, idt_a = g_ba(torch.cat([b, a])).split(n)
        else:
            fake_b, fake_a = g_ab(a), g_ba(b)
            if identity:
                idt_b, idt_a = g_ab(b), g_ba(a)
        rec_a, rec_b = g_ba(fake_b), g_ab(fake_a)
        g_gan = self._fooled(d_b, fake_b) + self._fooled(d_a, fake_a)
        weights = (self.lambda_cycle, self.lambda_ssim)
        cyc_a, ssim_a = cycle_loss(rec_a, a, *weights, masks[0], self.mask_weight, self.ssim_form)
        cyc_b, ssim_b = cycle_loss(rec_b, b, *weights, masks[1], self.mask_weight, self.ssim_form)
        g_cycle, g_ssim = cyc_a + cyc_b, ssim_a + ssim_b
        g_idt = g_cycle.new_zeros(())
        if identity:
            weight = self.lambda_cycle * self.lambda_identity
            g_idt = identity_loss(idt_b, b, weight) + identity_loss(idt_a, a, weight)
        g_perc = g_cycle.new_zeros(())
        if identity_net is not None:
            g_perc = self.lambda_p * (
                identity_preserving_loss(identity_net, fake_b, a)
                + identity_preserving_loss(identity_net, fake_a, b)
            )
        g_total = g_gan + g_cycle + g_ssim + g_idt + g_perc
        terms = {
            "G_gan": g_gan,
            "G_cycle": g_cycle,
            "G_idt": g_idt,
            "G_ssim": g_ssim,
            "G_perc": g_perc,
            "G_total": g_total,
        }
        return terms, fake_b, fake_a

    def _fooled(self, discriminators: Sequence[Net], fake: torch.Tensor) -> torch.Tensor:
        """Generator's adversarial loss against one side, averaged over its discriminators."""
        return sum(self.gan(d(fake), True) for d in discriminators) / len(discriminators)

    def discriminator(self, d: Net, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """One discriminator's loss on real and fake images."""
        if self.batch_passes:
            real_scores, fake_scores = d(torch.cat([real, fake])).split(real.shape[0])
        else:
            real_scores, fake_scores = d(real), d(fake)
        return self.gan.discriminator(real_scores, fake_scores)
