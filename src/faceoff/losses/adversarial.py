"""Adversarial objectives, a registry of ``gan_mode``: LSGAN, vanilla GAN (BCE with logits), WGAN,
WGAN-GP, and SA-GAN's class cross-entropy (ce).

Discriminators output raw scores (no sigmoid); each mode turns them into a loss. For the
Wasserstein modes the "discriminator" is a critic whose loss is ``mean(D(fake)) - mean(D(real))``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class GanObjective:
    """One ``gan_mode``: the loss of a discriminator output against what it should say.

    ``loss(outputs, target)``: for score objectives (``classes`` False) ``target`` is True for
    "real", False for "fake", and the outputs are raw score maps; for class objectives the outputs
    are class logits (N, K) and ``target`` the wanted classes (N,). A Wasserstein critic's scores
    are unbounded: ``penalty`` asks for the WGAN-GP gradient penalty, ``clip`` for weight clipping
    after each critic step (models that support critics apply them).
    """

    name: str
    loss: Callable[[torch.Tensor, Any], torch.Tensor]
    wasserstein: bool = False
    penalty: bool = False
    clip: bool = False
    classes: bool = False


GAN_OBJECTIVES: dict[str, GanObjective] = {}


def register_gan_objective(objective: GanObjective) -> GanObjective:
    """Add a ``gan_mode`` (a plugin may); every model whose kind of objective it is accepts it."""
    if objective.name in GAN_OBJECTIVES and GAN_OBJECTIVES[objective.name] is not objective:
        raise ValueError(f"gan_mode {objective.name!r} registered twice")
    GAN_OBJECTIVES[objective.name] = objective
    return objective


def get_gan_objective(name: str) -> GanObjective:
    if name not in GAN_OBJECTIVES:
        raise ValueError(f"unknown gan_mode {name!r} (choose from {', '.join(GAN_OBJECTIVES)})")
    return GAN_OBJECTIVES[name]


def gan_modes(*, classes: bool = False, wasserstein: bool | None = None) -> tuple[str, ...]:
    """The registered score (or, ``classes``, class) objectives; ``wasserstein`` None: critics too."""
    return tuple(
        name
        for name, o in GAN_OBJECTIVES.items()
        if o.classes == classes and (wasserstein is None or o.wasserstein == wasserstein)
    )


def _least_squares(scores: torch.Tensor, real: bool) -> torch.Tensor:
    return F.mse_loss(scores, torch.full_like(scores, 1.0 if real else 0.0))


def _logistic(scores: torch.Tensor, real: bool) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(scores, torch.full_like(scores, 1.0 if real else 0.0))


def _critic(scores: torch.Tensor, real: bool) -> torch.Tensor:
    return -scores.mean() if real else scores.mean()


register_gan_objective(GanObjective("lsgan", _least_squares))
register_gan_objective(GanObjective("vanilla", _logistic))
register_gan_objective(GanObjective("wgan", _critic, wasserstein=True, clip=True))
register_gan_objective(GanObjective("wgangp", _critic, wasserstein=True, penalty=True))
# SA-GAN's supervised objective: cross-entropy of D's class logits to the wanted class.
register_gan_objective(GanObjective("ce", F.cross_entropy, classes=True))


class AdversarialLoss:
    """Loss of a score map against a real/fake target, for a registered score objective."""

    def __init__(self, mode: str) -> None:
        self.objective = get_gan_objective(mode)
        if self.objective.classes:
            raise ValueError(f"gan_mode {mode!r} judges class logits, not real/fake scores")
        self.mode = mode

    @property
    def wasserstein(self) -> bool:
        return self.objective.wasserstein

    def __call__(self, scores: torch.Tensor, real: bool) -> torch.Tensor:
        """Loss that pushes ``scores`` towards "real" (generator view) or towards "fake"."""
        return self.objective.loss(scores, real)

    def discriminator(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        """Discriminator loss; halved for non-critics so D learns slower than G (CycleGAN's choice)."""
        loss = self(real_scores, True) + self(fake_scores, False)
        return loss if self.wasserstein else 0.5 * loss


def interpolation_weights(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """The WGAN-GP penalty's mixing weights for ``n`` samples, drawn on the CPU (the same on any device)."""
    return torch.rand(n, 1, 1, 1, generator=generator, device="cpu")


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    alpha: torch.Tensor | None = None,
) -> torch.Tensor:
    """WGAN-GP penalty ``mean((||grad D(x_hat)||_2 - 1)^2)`` on interpolates ``alpha * real +
    (1 - alpha) * fake`` (``alpha``: :func:`interpolation_weights`, drawn here when not given)."""
    alpha = (interpolation_weights(real.shape[0]) if alpha is None else alpha).to(real)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
