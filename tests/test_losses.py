"""Adversarial and reconstruction losses on inputs with known answers."""

from __future__ import annotations

import math

import pytest
import torch

from faceoff.losses import (
    AdversarialLoss,
    GanObjective,
    adversarial,
    cycle_loss,
    gan_modes,
    get_gan_objective,
    gradient_penalty,
    identity_loss,
    masked_l1,
    register_gan_objective,
    ssim_loss,
)
from faceoff.losses.cyclegan import CycleGANObjective
from faceoff.train.progressive import ProgressiveSettings
from faceoff.train.sagan import SAGANSettings
from faceoff.train.settings import SettingsError, TrainSettings


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


# ---------------------------------------------------------------- the gan_mode registry


def _hinge(scores: torch.Tensor, real: bool) -> torch.Tensor:
    return torch.relu(1 - scores).mean() if real else torch.relu(1 + scores).mean()


def test_registered_objective_is_a_gan_mode_of_every_model_of_its_kind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(adversarial, "GAN_OBJECTIVES", dict(adversarial.GAN_OBJECTIVES))
    assert gan_modes() == ("lsgan", "vanilla", "wgan", "wgangp")
    assert gan_modes(wasserstein=False) == ("lsgan", "vanilla") and gan_modes(classes=True) == ("ce",)
    hinge = register_gan_objective(GanObjective("hinge", _hinge))
    assert get_gan_objective("hinge") is hinge and "hinge" in gan_modes(wasserstein=False)
    gan = AdversarialLoss("hinge")
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-3.0, 1.0])
    assert gan(fake, True).item() == 2.0  # the generator's view: (4 + 0) / 2
    assert gan.discriminator(real, fake).item() == 0.5 * (0.5 + 1.0)  # halved, as a non-critic
    assert TrainSettings.from_dict({"gan_mode": "hinge"}).gan_mode == "hinge"
    assert ProgressiveSettings.from_dict({"gan_mode": "hinge", "crop_size": 64}).gan_mode == "hinge"
    with pytest.raises(SettingsError, match="gan_mode='hinge'"):
        SAGANSettings.from_dict({"gan_mode": "hinge"})  # D outputs class logits: a class objective
    with pytest.raises(ValueError, match="registered twice"):
        register_gan_objective(GanObjective("hinge", _hinge))


def test_objective_kinds_decide_which_models_take_them() -> None:
    with pytest.raises(SettingsError, match="gan_mode='wgan'"):  # no critic steps in the progressive model
        ProgressiveSettings.from_dict({"gan_mode": "wgan", "crop_size": 64})
    with pytest.raises(ValueError, match="class logits"):
        AdversarialLoss("ce")
    assert get_gan_objective("wgan").clip and get_gan_objective("wgangp").penalty
    assert SAGANSettings.from_dict({"gan_mode": "wgan", "crop_size": 64}).gan_mode == "wgan"


# ---------------------------------------------------------------- the CycleGAN objective


def test_cyclegan_objective_averages_discriminators_and_vanishes_for_identity_generators() -> None:
    """Generators that change nothing: no cycle or identity loss; the adversarial term of a side is
    the mean over its discriminators (LSGAN: scores 1 cost 0, scores 0 cost 1)."""
    x, y = torch.rand(2, 3, 8, 8) * 2 - 1, torch.rand(2, 3, 8, 8) * 2 - 1
    same = lambda t: t  # noqa: E731
    ones, zeros = (lambda t: torch.ones(len(t), 1, 2, 2)), (lambda t: torch.zeros(len(t), 1, 2, 2))
    for batch_passes in (False, True):
        objective = CycleGANObjective(AdversarialLoss("lsgan"), 10.0, 0.5, batch_passes=batch_passes)
        terms, fake_b, fake_a = objective.generator(same, same, [ones], [ones, zeros], x, y)
        assert torch.equal(fake_b, x) and torch.equal(fake_a, y)
        assert terms["G_cycle"].item() == 0 and terms["G_idt"].item() == 0 and terms["G_perc"].item() == 0
        assert terms["G_gan"].item() == 0.5 and terms["G_total"].item() == 0.5
        assert objective.discriminator(ones, x, y).item() == 0.5 * (0 + 1)  # real judged real, fake too
    shifted = lambda t: t + 0.5  # noqa: E731
    objective = CycleGANObjective(AdversarialLoss("lsgan"), 10.0, 0.5)
    terms, _, _ = objective.generator(shifted, shifted, [ones], [ones], x, y)
    assert terms["G_cycle"].item() == pytest.approx(2 * 10.0 * 1.0)  # |x + 1 - x| per direction
    assert terms["G_idt"].item() == pytest.approx(2 * 5.0 * 0.5)
