"""The CycleGAN objective (Zhu et al. 2017), shared by CycleGAN and the progressive CycleGAN.

Generators: adversarial loss against the other side's discriminators (averaged over them),
cycle L1 times ``lambda_cycle`` (optionally face-weighted, plus ``lambda_ssim`` SSIM), identity
L1 times ``lambda_cycle * lambda_identity`` and the portrait study's identity-preserving term
``lambda_p * ||E(G(x)) - E(x)||^2``. Discriminators: the adversarial objective on real and
(pooled) fake images. The terms are summed in one fixed order, which the stored results of
both models depend on. Each direction's terms (A->B->A and B->A->B) read nothing of the other's,
so they can also be computed and back-propagated on two threads at once (``parallel_sides``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from faceoff.losses.adversarial import AdversarialLoss
from faceoff.losses.identity import identity_preserving_loss
from faceoff.losses.reconstruction import cycle_loss, identity_loss

Net = Callable[[torch.Tensor], torch.Tensor]
Half = tuple[dict[str, torch.Tensor], torch.Tensor]  # one direction's terms and its fake


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
        # Both translations before either way back: the order of the passes through a generator
        # sets the order autograd sums its weights' gradients in, and so the stored results.
        out_b, out_a = self.translate(g_ab, a, b), self.translate(g_ba, b, a)
        half_a = self.close(g_ba, d_b, a, b, *out_b, masks[0], identity_net)
        half_b = self.close(g_ab, d_a, b, a, *out_a, masks[1], identity_net)
        return self.combine(half_a, half_b), out_b[0], out_a[0]

    def direction(
        self,
        forward: Net,
        backward: Net,
        judges: Sequence[Net],
        x: torch.Tensor,
        y: torch.Tensor,
        mask: torch.Tensor | None = None,
        identity_net: nn.Module | None = None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """One direction's share of the terms and its fake: ``x`` translated by ``forward`` (judged
        by the other side's ``judges``) and back by ``backward``; ``forward`` keeps ``y``, already
        in its output domain, for the identity term. It reads nothing of the other direction, so
        the two can run at once (``parallel_sides``)."""
        fake, idt = self.translate(forward, x, y)
        return self.close(backward, judges, x, y, fake, idt, mask, identity_net), fake

    def backward_by_sides(
        self,
        run: Callable[[Callable[[], Half], Callable[[], Half]], tuple[Half, Half]],
        autocast: Callable[[], AbstractContextManager[Any]],
        generators: tuple[Net, Net],
        judges: tuple[Sequence[Net], Sequence[Net]],
        images: tuple[torch.Tensor, torch.Tensor],
        masks: tuple[torch.Tensor | None, torch.Tensor | None] = (None, None),
        identity_net: nn.Module | None = None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """:meth:`generator`'s terms (detached) and fakes from ``generators`` (A->B, B->A),
        ``judges`` (A's, B's discriminators) and ``images`` (A, B), each direction's terms computed
        and back-propagated by one of the two calls ``run`` makes (at once on two threads: see
        faceoff.train.sides); each call enters ``autocast`` itself, as autocast is per thread."""
        (g_ab, g_ba), (d_a, d_b), (a, b) = generators, judges, images

        def half(
            forward: Net,
            backward: Net,
            other: Sequence[Net],
            x: torch.Tensor,
            y: torch.Tensor,
            mask: torch.Tensor | None,
        ) -> Half:
            with autocast():
                terms, fake = self.direction(forward, backward, other, x, y, mask, identity_net)
                total = self.half_total(terms)
            total.backward()
            return {k: v.detach() for k, v in terms.items()}, fake.detach()

        (half_a, fake_b), (half_b, fake_a) = run(
            partial(half, g_ab, g_ba, d_b, a, b, masks[0]), partial(half, g_ba, g_ab, d_a, b, a, masks[1])
        )
        return self.combine(half_a, half_b), fake_b, fake_a

    def translate(
        self, forward: Net, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``forward(x)`` and, with an identity term, ``forward(y)`` (one batch with ``batch_passes``)."""
        if self.lambda_identity and self.batch_passes:
            fake, idt = forward(torch.cat([x, y])).split(x.shape[0])
            return fake, idt
        return forward(x), forward(y) if self.lambda_identity else None

    def close(
        self,
        backward: Net,
        judges: Sequence[Net],
        x: torch.Tensor,
        y: torch.Tensor,
        fake: torch.Tensor,
        idt: torch.Tensor | None,
        mask: torch.Tensor | None = None,
        identity_net: nn.Module | None = None,
    ) -> dict[str, torch.Tensor]:
        """A direction's terms from its translations: ``gan``, ``cycle``, ``ssim``, ``idt`` and
        ``perc`` (not yet weighted by ``lambda_p``)."""
        rec = backward(fake)
        cycle, ssim = cycle_loss(
            rec, x, self.lambda_cycle, self.lambda_ssim, mask, self.mask_weight, self.ssim_form
        )
        zero = cycle.new_zeros(())
        return {
            "gan": self._fooled(judges, fake),
            "cycle": cycle,
            "ssim": ssim,
            "idt": zero if idt is None else identity_loss(idt, y, self.lambda_cycle * self.lambda_identity),
            "perc": zero if identity_net is None else identity_preserving_loss(identity_net, fake, x),
        }

    def combine(
        self, half_a: dict[str, torch.Tensor], half_b: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """The step's terms from its two directions, summed in the order the stored results used."""
        terms = {f"G_{key}": half_a[key] + half_b[key] for key in ("gan", "cycle", "idt", "ssim")}
        terms["G_perc"] = self.lambda_p * (half_a["perc"] + half_b["perc"])
        terms["G_total"] = (
            terms["G_gan"] + terms["G_cycle"] + terms["G_ssim"] + terms["G_idt"] + terms["G_perc"]
        )
        return terms

    def half_total(self, half: dict[str, torch.Tensor]) -> torch.Tensor:
        """What one direction adds to ``G_total``: its own backward pass (``parallel_sides``)."""
        return half["gan"] + half["cycle"] + half["ssim"] + half["idt"] + self.lambda_p * half["perc"]

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
