"""The reenactment study's six generator terms (after Sanchez & Valstar 2018) and its D loss.

One training sample is three frames of one video: source ``I_s``, target ``I_t`` and an
in-between frame ``I_m``, with landmark heatmaps ``e_s``, ``e_t``, ``e_m``. With
``fake_t = G(I_s; e_t)``:

- adversarial: BCE of ``D(fake_t; e_t)`` against "real";
- pixel: ``|fake_t - I_t|``;
- self-consistency: ``|G(fake_t; e_s) - I_s|`` (back to the source's landmarks);
- triple-consistency: ``|G(G(I_s; e_m); e_t) - fake_t|`` (via the in-between landmarks);
- perceptual: feature L1 over the feature net's four layers plus the Gram (style) term at the
  third (the study's relu3_3), between ``fake_t`` and ``I_t``;
- identity: distance of the identity net's descriptors of ``fake_t`` and ``I_t``.

The study writes the pixel-space terms as squared L1/L2 norms; here all three are mean absolute
errors (pix2pix's L1), on which the study's weights (10, 100, 100) keep the terms comparable. Its
identity term is a VGG feature L1; here it is the Euclidean distance of face descriptors, the
quantity face recognition thresholds (about 0.6 for dlib between two people), so that weight 1
matters. A term whose weight is 0 is not computed at all (its generator passes and networks are
skipped) and reported as 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from faceoff.losses.perceptual import feature_l1, style_loss

TERMS = ("adv", "pixel", "self", "triple", "perceptual", "identity")
STYLE_LAYERS = (2,)  # the third of the four feature maps: relu3_x

Generator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Critic = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def adversarial_generator(fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE of the fakes' logits against "real": ``-mean(log sigmoid(D(fake)))``."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def adversarial_discriminator(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The study's BCE over real (label 1) and fake (label 0) samples, averaged over both."""
    logits = torch.cat([real_logits, fake_logits])
    labels = torch.cat([torch.ones_like(real_logits), torch.zeros_like(fake_logits)])
    return F.binary_cross_entropy_with_logits(logits, labels)


def pixel_loss(fake_target: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``G(I_s; e_t)`` against the real target frame."""
    return (fake_target - target).abs().mean()


def self_consistency_loss(back_to_source: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """``G(G(I_s; e_t); e_s)`` against the source frame: the round trip must return the input."""
    return (back_to_source - source).abs().mean()


def triple_consistency_loss(via_middle: torch.Tensor, fake_target: torch.Tensor) -> torch.Tensor:
    """``G(G(I_s; e_m); e_t)`` against ``G(I_s; e_t)``: two steps must land where one does.

    Both sides are generated and both get gradients, as in Sanchez & Valstar.
    """
    return (via_middle - fake_target).abs().mean()


def perceptual_loss(
    fake_feats: Sequence[torch.Tensor],
    real_feats: Sequence[torch.Tensor],
    style_layers: Sequence[int] = STYLE_LAYERS,
) -> torch.Tensor:
    """Feature L1 over all layers plus the Gram-matrix style term at ``style_layers``."""
    return feature_l1(fake_feats, real_feats) + style_loss(fake_feats, real_feats, style_layers)


def identity_loss(fake_descriptors: torch.Tensor, real_descriptors: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance of (N, D) face descriptors (zero subgradient where they coincide)."""
    return torch.linalg.vector_norm(fake_descriptors - real_descriptors, dim=1).mean()


@dataclass
class Triplet:
    """Three frames of one video each, as images (B, 3, S, S) in [-1, 1] and heatmaps (B, 68, S, S)."""

    source: torch.Tensor
    target: torch.Tensor
    middle: torch.Tensor
    heat_source: torch.Tensor
    heat_target: torch.Tensor
    heat_middle: torch.Tensor


def generator_terms(
    G: Generator,
    D: Critic | None,
    batch: Triplet,
    weights: Mapping[str, float],
    feature_net: nn.Module | None = None,
    identity_net: nn.Module | None = None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The weighted terms (:data:`TERMS` and ``total``) and ``fake_t``.

    The generator runs at most twice, each time on a batch that stacks what the enabled terms
    need (instance norm treats samples alone, so stacking changes rounding only): first
    ``I_s`` with ``e_t`` (and ``e_m``), then the results with ``e_s`` (and ``e_t``).
    ``D``, ``feature_net`` and ``identity_net`` may be None when their terms' weights are 0.
    """
    b = batch
    n = b.source.shape[0]
    on = {t: bool(weights.get(t, 0.0)) for t in TERMS}
    zero = b.source.new_zeros(())
    raw = dict.fromkeys(TERMS, zero)

    if on["triple"]:
        fake_t, fake_m = G(torch.cat([b.source, b.source]), torch.cat([b.heat_target, b.heat_middle])).split(
            n
        )
    else:
        fake_t = G(b.source, b.heat_target)
    second = ([fake_t], [b.heat_source]) if on["self"] else ([], [])
    if on["triple"]:
        second[0].append(fake_m)
        second[1].append(b.heat_target)
    if second[0]:
        outputs = G(torch.cat(second[0]), torch.cat(second[1])).split(n)
        if on["self"]:
            raw["self"] = self_consistency_loss(outputs[0], b.source)
        if on["triple"]:
            raw["triple"] = triple_consistency_loss(outputs[-1], fake_t)

    if on["adv"]:
        if D is None:
            raise ValueError("the adversarial term needs a discriminator")
        raw["adv"] = adversarial_generator(D(fake_t, b.heat_target))
    if on["pixel"]:
        raw["pixel"] = pixel_loss(fake_t, b.target)
    if on["perceptual"]:
        if feature_net is None:
            raise ValueError("the perceptual term needs a feature network")
        with torch.no_grad():
            real_feats = feature_net(b.target)
        raw["perceptual"] = perceptual_loss(feature_net(fake_t), real_feats)
    if on["identity"]:
        if identity_net is None:
            raise ValueError("the identity term needs an identity network")
        with torch.no_grad():
            real_ids = identity_net(b.target)
        raw["identity"] = identity_loss(identity_net(fake_t), real_ids)

    terms = {t: weights.get(t, 0.0) * raw[t].float() if on[t] else zero for t in TERMS}
    terms["total"] = torch.stack(list(terms.values())).sum()
    return terms, fake_t
