"""The reenactment study's six generator terms (after Sanchez & Valstar 2018) and its D loss.

One training sample is three frames of one video: source ``I_s``, target ``I_t`` and an
in-between frame ``I_m``, with landmark heatmaps ``e_s``, ``e_t``, ``e_m``. With
``fake_t = G(I_s; e_t)``:

- adversarial: BCE of ``D(fake_t; e_t)`` against "real";
- pixel: ``|fake_t - I_t|^2`` (``pixel: l2``, the study's squared L2) or ``|fake_t - I_t|`` (``l1``,
  pix2pix's);
- self-consistency: ``|G(fake_t; e_s) - I_s|`` (back to the source's landmarks);
- triple-consistency: ``|G(G(I_s; e_m); e_t) - fake_t|`` (via the in-between landmarks);
- perceptual: the sum over ``perceptual_layers`` of the feature L1 (study: VGG-19 relu1_2,
  relu2_2, relu3_3, relu4_3) plus the style term at ``style_layer`` (study: the Frobenius norm of
  the Gram matrices' difference at relu3_3), between ``fake_t`` and ``I_t``;
- identity: ``feature_l1``, the L1 of the feature net's activations at ``identity_layer`` (the
  study's VGG-19 L1 at "relu2_3", a layer VGG-19 does not have: relu2_2, the last ReLU of its
  second block, is the nearest), or ``descriptor``, the Euclidean distance of an identity net's
  face descriptors (the quantity face recognition thresholds, about 0.6 for dlib between two
  people).

Every L1 and L2 norm is a mean over its elements, as PyTorch's losses and pix2pix take them (the
study's weights 10, 100, 100, 10, 1 presuppose that); the style term is the Frobenius norm itself,
of Gram matrices normalised by C*H*W (Johnson et al.), averaged over the batch. The study calls
the consistency terms "squared L1" and writes ``||.||^2``; they are L1 here, as in Sanchez &
Valstar, whose loss it adapts. A term whose weight is 0 is not computed at all (its generator
passes and networks are skipped) and reported as 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from faceoff.losses.perceptual import STYLES, feature_l1, gram_frobenius, gram_mse

TERMS = ("adv", "pixel", "self", "triple", "perceptual", "identity")
PIXEL_LOSSES = ("l2", "l1")
IDENTITY_LOSSES = ("feature_l1", "descriptor")
STUDY_PERCEPTUAL_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
STUDY_STYLE_LAYER = "relu3_3"
STUDY_IDENTITY_LAYER = "relu2_2"  # the study's "relu2_3" does not exist in VGG-19


@dataclass(frozen=True)
class LossForm:
    """Which formula each switchable term uses; the defaults are the study's."""

    pixel: str = "l2"
    style: str = "frobenius"
    identity: str = "feature_l1"
    perceptual_layers: tuple[str, ...] = STUDY_PERCEPTUAL_LAYERS
    style_layer: str = STUDY_STYLE_LAYER
    identity_layer: str = STUDY_IDENTITY_LAYER

    def __post_init__(self) -> None:
        for key, value, allowed in (
            ("pixel_loss", self.pixel, PIXEL_LOSSES),
            ("style", self.style, STYLES),
            ("identity_loss", self.identity, IDENTITY_LOSSES),
        ):
            if value not in allowed:
                raise ValueError(f"{key}={value!r} is not one of {', '.join(allowed)}")
        if not self.perceptual_layers:
            raise ValueError("perceptual_layers must name at least one layer")

    def feature_layers(self, perceptual: bool = True, identity: bool = True) -> tuple[str, ...]:
        """The feature net's layers the enabled feature terms read, each once, in a fixed order."""
        layers = [*self.perceptual_layers, self.style_layer] if perceptual else []
        if identity and self.identity == "feature_l1":
            layers.append(self.identity_layer)
        return tuple(dict.fromkeys(layers))


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


def pixel_loss(fake_target: torch.Tensor, target: torch.Tensor, kind: str = "l2") -> torch.Tensor:
    """``G(I_s; e_t)`` against the real target frame: mean squared (``l2``) or absolute (``l1``) error."""
    if kind not in PIXEL_LOSSES:
        raise ValueError(f"unknown pixel loss {kind!r} (choose from {', '.join(PIXEL_LOSSES)})")
    diff = fake_target - target
    return diff.pow(2).mean() if kind == "l2" else diff.abs().mean()


def self_consistency_loss(back_to_source: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """``G(G(I_s; e_t); e_s)`` against the source frame: the round trip must return the input."""
    return (back_to_source - source).abs().mean()


def triple_consistency_loss(via_middle: torch.Tensor, fake_target: torch.Tensor) -> torch.Tensor:
    """``G(G(I_s; e_m); e_t)`` against ``G(I_s; e_t)``: two steps must land where one does.

    Both sides are generated and both get gradients, as in Sanchez & Valstar.
    """
    return (via_middle - fake_target).abs().mean()


def perceptual_loss(
    fake_feats: Mapping[str, torch.Tensor],
    real_feats: Mapping[str, torch.Tensor],
    form: LossForm = LossForm(),
) -> torch.Tensor:
    """Feature L1 summed over ``form.perceptual_layers`` plus the style term at ``form.style_layer``;
    the feature maps are keyed by layer name."""
    layers = form.perceptual_layers
    content = feature_l1([fake_feats[k] for k in layers], [real_feats[k] for k in layers])
    style = gram_frobenius if form.style == "frobenius" else gram_mse
    return content + style(fake_feats[form.style_layer], real_feats[form.style_layer])


def identity_feature_l1(fake_feats: torch.Tensor, real_feats: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of one layer's activations (the study's identity term)."""
    return (fake_feats - real_feats).abs().mean()


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
    form: LossForm = LossForm(),
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The weighted terms (:data:`TERMS` and ``total``) and ``fake_t``.

    ``feature_net`` returns the maps of its ``layers`` (a
    :class:`~faceoff.faces.features.FeatureNet`), which must include
    ``form.feature_layers()``; one pass over ``fake_t`` serves the perceptual and identity terms.

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
        raw["pixel"] = pixel_loss(fake_t, b.target, form.pixel)
    feature_identity = on["identity"] and form.identity == "feature_l1"
    if on["perceptual"] or feature_identity:
        if feature_net is None:
            raise ValueError("the perceptual and feature identity terms need a feature network")
        with torch.no_grad():
            real_feats = dict(zip(feature_net.layers, feature_net(b.target), strict=True))
        fake_feats = dict(zip(feature_net.layers, feature_net(fake_t), strict=True))
        if on["perceptual"]:
            raw["perceptual"] = perceptual_loss(fake_feats, real_feats, form)
        if feature_identity:
            layer = form.identity_layer
            raw["identity"] = identity_feature_l1(fake_feats[layer], real_feats[layer])
    if on["identity"] and not feature_identity:
        if identity_net is None:
            raise ValueError("the descriptor identity term needs an identity network")
        with torch.no_grad():
            real_ids = identity_net(b.target)
        raw["identity"] = identity_loss(identity_net(fake_t), real_ids)

    terms = {t: weights.get(t, 0.0) * raw[t].float() if on[t] else zero for t in TERMS}
    terms["total"] = torch.stack(list(terms.values())).sum()
    return terms, fake_t
