"""Adversarial and reconstruction losses on inputs with known answers."""

from __future__ import annotations

import math

import pytest
import torch

from faceoff.losses import AdversarialLoss, cycle_loss, gradient_penalty, identity_loss, masked_l1, ssim_loss


def test_lsgan_is_squared_distance_to_target() -> None:
    gan, scores = AdversarialLoss("lsgan"), torch.full((2, 1, 3, 3), 0.25)
    assert gan(scores, True).item() == pytest.approx(0.75**2)
    assert gan(scores, False).item() == pytest.approx(0.25**2)
    assert gan.discriminator(torch.ones(4), torch.zeros(4)).item() == 0


def test_vanilla_is_bce_with_logits() -> None:
    gan = AdversarialLoss("vanilla")
    assert gan(torch.zeros(5), True).item() == pytest.approx(math.log(2))
    assert gan(torch.full((5,), 20.0), True).item() < 1e-8
    assert gan(torch.full((5,), 20.0), False).item() == pytest.approx(20.0, rel=1e-6)
    # Halved: D learns at half the generator's rate.
    assert gan.discriminator(torch.zeros(3), torch.zeros(3)).item() == pytest.approx(math.log(2))


@pytest.mark.parametrize("mode", ["wgan", "wgangp"])
def test_wasserstein_uses_raw_critic_means(mode: str) -> None:
    gan, real, fake = AdversarialLoss(mode), torch.tensor([3.0, 5.0]), torch.tensor([-1.0, 2.0])
    assert gan(real, True).item() == -4.0
    assert gan(fake, False).item() == 0.5
    assert gan.discriminator(real, fake).item() == 0.5 - 4.0
    assert gan(fake, True).item() == -0.5  # the generator raises the critic's score of its fakes


def test_gradient_penalty_of_linear_critic() -> None:
    """For D(x) = <w, x> the input gradient is w everywhere, so the penalty is (|w| - 1)^2."""
    w = torch.full((1, 3, 4, 4), 0.5)  # |w| = 0.5 * sqrt(48)

    def critic(x: torch.Tensor) -> torch.Tensor:
        return (x * w).flatten(1).sum(1)

    real, fake = torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4)
    expected = (0.5 * math.sqrt(48) - 1) ** 2
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(expected, rel=1e-5)


def test_unknown_mode() -> None:
    with pytest.raises(ValueError, match="hinge"):
        AdversarialLoss("hinge")


def test_mask_weight_scales_l1_exactly_inside_the_mask() -> None:
    target = torch.zeros(1, 3, 4, 4)
    output = torch.full((1, 3, 4, 4), 0.5, requires_grad=True)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1  # half the pixels
    loss = masked_l1(output, target, mask, mask_weight=3.0)
    assert loss.item() == pytest.approx(0.5 * (0.5 * 4 + 0.5 * 1))
    loss.backward()
    n = output.numel()
    assert torch.allclose(output.grad[..., :2, :], torch.full((1, 3, 2, 4), 4 / n))
    assert torch.allclose(output.grad[..., 2:, :], torch.full((1, 3, 2, 4), 1 / n))
    assert masked_l1(output, target, mask, mask_weight=0.0).item() == pytest.approx(0.5)


def test_ssim_term_value_and_gradient() -> None:
    torch.manual_seed(0)
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    rec = (real + 0.3 * torch.randn_like(real)).clamp(-1, 1).requires_grad_(True)
    assert ssim_loss(real, real).item() == pytest.approx(0.0, abs=1e-5)
    l1, structural = cycle_loss(rec, real, lambda_cycle=10.0, lambda_ssim=0.0)
    assert structural.item() == 0
    (grad_plain,) = torch.autograd.grad(l1 + structural, rec)
    l1, structural = cycle_loss(rec, real, lambda_cycle=10.0, lambda_ssim=2.0)
    assert structural.item() == pytest.approx(2.0 * ssim_loss(rec, real).item())
    (grad_ssim,) = torch.autograd.grad(l1 + structural, rec)
    assert not torch.allclose(grad_plain, grad_ssim)


def test_cycle_and_identity_weights() -> None:
    real, rec = torch.zeros(1, 3, 8, 8), torch.full((1, 3, 8, 8), 0.25)
    l1, _ = cycle_loss(rec, real, lambda_cycle=10.0)
    assert l1.item() == pytest.approx(2.5)
    assert identity_loss(rec, real, weight=5.0).item() == pytest.approx(1.25)
