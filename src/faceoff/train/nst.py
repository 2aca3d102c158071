"""Neural style transfer (Gatys et al. 2015) localised by the face mask: FacePaint's first experiment.

The study stylised a face with another face of the target expression, the faces localised by
segmentation, and found the output "differs very little from the original content image": faces
of one dataset share their texture, and an expression is geometry, not texture. This module
repeats that with the target domain as the style.

"Training" learns nothing: its single step (``total_steps`` 1) draws ``n_style`` references from
each item's train split (centre crops with their face masks) and stores them in model.pt; it logs
how far apart the two domains' styles are (``style_gap``, the squared distance of their mean Gram
matrices) against the spread within each domain (``spread_A``/``spread_B``, the mean squared
distance of a reference's Gram matrices to its domain's mean), averaged over the style layers;
``gap_ratio`` (gap over the mean spread, per layer, then averaged) below 1 says the domains differ
less in style than the faces within one domain do. The translator recomputes the references' Gram
matrices with the feature net it builds (``feature_net``: the study's VGG19, whose weights must be
cached, or a named substitute such as dlib's ResNet), at that net's four default maps
(:data:`~faceoff.faces.features.DEFAULT_LAYERS`; the study does not name its layers).

Translation optimises the pixels of each image (Adam, or L-BFGS with a strong-Wolfe line search)
for ``content_weight * content + style_weight * style``:

- content: squared error of the ``content_layer`` features to the input's, relative to the
  input's mean squared feature (Gatys's content loss, rescaled);
- style: per style layer, the squared error of the image's Gram matrix to the target domain's
  mean Gram matrix, relative to that error for the unchanged input, averaged over the layers
  (Gatys's style loss, each layer rescaled so it starts at 1).

The rescaling only chooses Gatys's alpha, beta and layer weights per image, so the weights mean
the same for VGG19 and for the face networks that may stand in for it, whose feature scales differ
by orders of magnitude. The face mask localises the transfer twice: Gram matrices are taken over
the face only (features weighted by the mask at their resolution), and only pixels inside the
mask are free, so the output is ``mask * stylised + (1 - mask) * input`` with pixels outside the
mask exactly the input's. Without masks the whole frame is the face.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from faceoff.datasets.crops import center_window
from faceoff.datasets.prepared import PreparedSplit
from faceoff.faces.features import FEATURE_NETS, build_feature_net
from faceoff.io.progress import progress_bar
from faceoff.nets.images import map_chunks
from faceoff.train.data import STREAM_A, STREAM_B, step_rng, to_tensors
from faceoff.train.loop import Stepper
from faceoff.train.registry import ModelSpec, register_model
from faceoff.train.settings import BaseSettings, SettingsError

log = logging.getLogger(__name__)

N_FEATURE_MAPS = 4  # a FeatureNet returns four maps, shallow to deep
OPTIMIZERS = ("adam", "lbfgs")
_EPS = 1e-12


@dataclass(frozen=True)
class NSTSettings(BaseSettings):
    model: str = "nst"
    lr: float = 0.02  # Adam's step on the pixels, in [-1, 1] image units (L-BFGS uses its line search)
    steps: int = 1  # the one step that draws the style references
    steps_decay: int = 0
    crop_size: int = 64
    log_every: int = 1
    iterations: int = 30  # optimiser iterations per image at translation
    optimizer: str = "adam"
    content_weight: float = 1.0
    style_weight: float = 10.0
    style_layers: tuple[int, ...] = (0, 1, 2, 3)  # indices into the feature net's four maps
    content_layer: int = 2
    feature_net: str = "vgg19"  # the study's; a missing weights file stops the run, naming it
    n_style: int = 8  # style references per domain
    # Channels-last on every device: the feature nets max-pool, and CPU pooling is about six
    # times as fast channels-last (faceoff bench, 64 px, bf16: 1.73x the plain step, 1.40x without it).
    channels_last: bool | None = True

    def validate(self) -> None:
        super().validate()
        if self.total_steps != 1:
            raise SettingsError(
                f"steps must be 1 and steps_decay 0 for nst (nothing is trained), "
                f"got steps={self.steps}, steps_decay={self.steps_decay}"
            )
        self.require_choices(optimizer=OPTIMIZERS, feature_net=FEATURE_NETS)
        self.require_non_negative("iterations", "content_weight", "style_weight")
        self.require_positive("n_style")
        layers = range(N_FEATURE_MAPS)
        if not self.style_layers or any(i not in layers for i in self.style_layers):
            raise SettingsError(
                f"style_layers must be a non-empty list of 0..3, got {list(self.style_layers)}"
            )
        if self.content_layer not in layers:
            raise SettingsError(f"content_layer must be one of 0..3, got {self.content_layer}")


def masked_gram(f: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) features -> (N, C, C) channel correlations over the mask's area only.

    ``mask`` (N, 1, h, w) in [0, 1] is area-resampled to the features' resolution; with a mask
    of ones this is :func:`faceoff.losses.perceptual.gram_matrix` (normalised by C * H * W).
    """
    n, c = f.shape[:2]
    weight = F.adaptive_avg_pool2d(mask.to(f), f.shape[-2:]).reshape(n, 1, -1)
    flat = f.reshape(n, c, -1)
    area = weight.sum(2, keepdim=True).clamp_min(_EPS)
    return (flat * weight) @ flat.transpose(1, 2) / (c * area)


class StyleTransfer:
    """Gatys's optimisation with a given feature net; ``target`` Gram matrices come from :meth:`style_of`."""

    def __init__(self, net: nn.Module, s: NSTSettings) -> None:
        self.net, self.s = net, s

    @torch.no_grad()
    def grams(self, images: torch.Tensor, masks: torch.Tensor) -> list[torch.Tensor]:
        """Per style layer, the (N, C, C) masked Gram matrices of each image."""
        feats = self.net(images)
        return [masked_gram(feats[i].float(), masks) for i in self.s.style_layers]

    def style_of(self, images: torch.Tensor, masks: torch.Tensor) -> list[torch.Tensor]:
        """A domain's style: per style layer, the (C, C) mean Gram matrix of its references."""
        return [g.mean(0) for g in self.grams(images, masks)]

    def run(
        self,
        images: torch.Tensor,
        masks: torch.Tensor,
        target: Sequence[torch.Tensor],
        bar: tqdm | None = None,
    ) -> torch.Tensor:
        """Stylised (N, 3, H, W) images in [-1, 1]; only pixels where ``masks`` (N, 1, H, W) > 0 change.

        Each image's loss is its own and Adam's update is per pixel, so a batch gives what the
        images would give one by one; L-BFGS couples a batch's images, so callers pass one at a time.
        ``bar`` counts the optimiser's iterations (L-BFGS: its loss evaluations, up to ``iterations``).
        """
        s = self.s
        inside = masks > 0
        with torch.no_grad():
            feats = self.net(images)
            content_ref = feats[s.content_layer].float()
            content_scale = content_ref.pow(2).mean((1, 2, 3)).clamp_min(_EPS)
            style_scale = [
                (masked_gram(feats[i].float(), masks) - t).pow(2).mean((1, 2)).clamp_min(_EPS)
                for i, t in zip(s.style_layers, target, strict=True)
            ]
        pixels = images.detach().clone().requires_grad_(True)

        def objective() -> torch.Tensor:
            x = torch.where(inside, pixels, images)
            feats = self.net(x)
            content = (feats[s.content_layer].float() - content_ref).pow(2).mean((1, 2, 3)) / content_scale
            style = torch.stack(
                [
                    (masked_gram(feats[i].float(), masks) - t).pow(2).mean((1, 2)) / scale
                    for i, t, scale in zip(s.style_layers, target, style_scale, strict=True)
                ]
            ).mean(0)
            return (s.content_weight * content + s.style_weight * style).sum()

        if s.optimizer == "adam":
            opt = torch.optim.Adam([pixels], lr=s.lr)
            for _ in range(s.iterations):
                opt.zero_grad(set_to_none=True)
                objective().backward()
                opt.step()
                with torch.no_grad():
                    pixels.clamp_(-1, 1)
                if bar is not None:
                    bar.update()
        elif s.iterations:
            opt = torch.optim.LBFGS([pixels], max_iter=s.iterations, line_search_fn="strong_wolfe")

            done = 0 if bar is None else bar.n

            def closure() -> torch.Tensor:
                opt.zero_grad(set_to_none=True)
                loss = objective()
                loss.backward()
                if bar is not None and bar.n < done + s.iterations:
                    bar.update()
                return loss

            opt.step(closure)
            if bar is not None:  # L-BFGS may stop early: the bar still ends at this image's share
                bar.update(done + s.iterations - bar.n)
        return torch.where(inside, pixels.detach().clamp(-1, 1), images)

    def frames(
        self,
        frames: np.ndarray,
        masks: np.ndarray | None,
        target: Sequence[torch.Tensor],
        batch_size: int = 8,
    ) -> np.ndarray:
        """uint8 (N, S, S, 3) frames stylised toward ``target``; pixels outside ``masks`` stay exactly."""
        device = next(iter(target)).device
        step = batch_size if self.s.optimizer == "adam" else 1
        bar = progress_bar(
            total=-(-len(frames) // step) * self.s.iterations,
            desc=f"nst: optimising {len(frames)} frames",
            unit="iter",
            nested=True,
        )

        def styled(chunk: slice) -> torch.Tensor:
            """The chunk optimised inside its masks; outside them the input, which converts back to
            the very same bytes."""
            batch = to_tensors(frames[chunk], None if masks is None else masks[chunk], device)
            with torch.enable_grad():
                return self.run(batch.images, batch.masks, target, bar)

        with bar:
            return map_chunks(styled, frames, step)


def _centre(split: PreparedSplit, picks: np.ndarray, crop: int) -> tuple[np.ndarray, np.ndarray]:
    """Centre crops of the picked frames, with their masks."""
    return center_window(split.frames, crop, picks), center_window(split.masks, crop, picks)


def _references(
    split: PreparedSplit, rng: np.random.Generator, n: int, crop: int
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct frames (all when the split has fewer), centre-cropped, with their masks."""
    return _centre(split, np.sort(rng.choice(len(split), size=min(n, len(split)), replace=False)), crop)


class NSTStepper(Stepper):
    losses: ClassVar[list[str]] = ["style_gap", "spread_A", "spread_B", "gap_ratio"]

    def __init__(
        self, settings: NSTSettings, data_a: PreparedSplit, data_b: PreparedSplit, seed: int, device: str
    ) -> None:
        super().__init__(settings, seed, device)
        self.data = (data_a, data_b)
        self.net = build_feature_net(settings.feature_net, device=self.device)
        self.transfer = StyleTransfer(self.place(self.net), settings)
        crop = settings.crop_size
        self.style: dict[str, torch.Tensor] = {}  # empty until the step draws the references
        for side in "AB":
            self.style[f"style_{side}"] = torch.zeros((0, crop, crop, 3), dtype=torch.uint8)
            self.style[f"style_{side}_masks"] = torch.zeros((0, crop, crop), dtype=torch.uint8)

    def train_step(self, step: int) -> torch.Tensor:
        s = self.s
        grams = []
        for side, split, stream in (("A", self.data[0], STREAM_A), ("B", self.data[1], STREAM_B)):
            frames, masks = _references(split, step_rng(self.seed, step, stream), s.n_style, s.crop_size)
            self.style[f"style_{side}"] = torch.from_numpy(frames)
            self.style[f"style_{side}_masks"] = torch.from_numpy(masks)
            batch = to_tensors(frames, masks, self.device)
            with self.rt.autocast():
                grams.append(self.transfer.grams(batch.images, batch.masks))
        gap, spread_a, spread_b = [], [], []
        for g_a, g_b in zip(*grams, strict=True):
            mean_a, mean_b = g_a.mean(0), g_b.mean(0)
            gap.append((mean_a - mean_b).pow(2).mean())
            spread_a.append((g_a - mean_a).pow(2).mean())
            spread_b.append((g_b - mean_b).pow(2).mean())
        gap_t, spread_a_t, spread_b_t = (torch.stack(v) for v in (gap, spread_a, spread_b))
        ratio = gap_t / ((spread_a_t + spread_b_t) / 2).clamp_min(_EPS)
        return torch.stack([gap_t.mean(), spread_a_t.mean(), spread_b_t.mean(), ratio.mean()]).detach()

    def weights(self) -> dict[str, Any]:
        return {**{k: v.clone() for k, v in self.style.items()}, "feature_net": self.net.name}

    def samples(self, weights: dict[str, Any] | None = None) -> np.ndarray:
        """Rows A and B: the first frame, it stylised toward the other domain, the other's first reference."""
        style = self.weights() if weights is None else weights
        translator = NSTTranslator({"settings": self.s.to_dict(), **style}, self.device, net=self.net)
        rows = []
        for split, direction, other in ((self.data[0], "AB", "B"), (self.data[1], "BA", "A")):
            frames, masks = _centre(split, np.zeros(1, np.int64), self.s.crop_size)
            reference = style[f"style_{other}"].numpy()
            if not len(reference):  # before the step: nothing to stylise with
                rows.append(np.concatenate([frames[0]] * 3, 1))
                continue
            styled = translator.translate(direction, frames, masks)
            rows.append(np.concatenate([frames[0], styled[0], reference[0]], 1))
        return np.concatenate(rows, 0)

    def info(self) -> dict[str, Any]:
        return {
            "feature_net": self.net.name,
            "n_style": [len(self.style["style_A"]), len(self.style["style_B"])],
        }

    def state_dict(self, elapsed: float) -> dict[str, Any]:
        return {**super().state_dict(elapsed), "style": dict(self.style)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.style = {k: v.cpu() for k, v in state["style"].items()}


class NSTTranslator:
    """``translate("AB", frames, masks)`` stylises A frames toward the B references' mean style."""

    def __init__(
        self, model: dict[str, Any], device: str | torch.device = "cpu", net: nn.Module | None = None
    ) -> None:
        self.settings = NSTSettings.from_dict(model["settings"])
        self.device = torch.device(device)
        net = build_feature_net(self.settings.feature_net, device=self.device) if net is None else net
        if net.name != model["feature_net"]:
            log.warning(
                "nst model trained with feature net %s, translating with %s (it measures the style now)",
                model["feature_net"],
                net.name,
            )
        self.transfer = StyleTransfer(net, self.settings)
        self.announced: set[str] = set()
        self.targets: dict[str, list[torch.Tensor]] = {}
        for direction, side in (("AB", "B"), ("BA", "A")):
            frames = model[f"style_{side}"].numpy()
            if len(frames):
                batch = to_tensors(frames, model[f"style_{side}_masks"].numpy(), self.device)
                self.targets[direction] = self.transfer.style_of(batch.images, batch.masks)

    def translate(self, direction: str, frames: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        if direction not in ("AB", "BA"):
            raise ValueError(f"direction must be 'AB' or 'BA', got {direction!r}")
        if direction not in self.targets:
            raise ValueError("this nst model has no style references (its training step never ran)")
        if direction not in self.announced:  # translation is an optimisation per frame: say so, once
            self.announced.add(direction)
            s = self.settings
            log.info(
                "nst %s: optimising each frame's pixels inside its face mask toward %s's mean style "
                "(%d %s iterations per frame, content weight %g, style weight %g, feature net %s)",
                direction,
                direction[1],
                s.iterations,
                s.optimizer,
                s.content_weight,
                s.style_weight,
                self.transfer.net.name,
            )
        return self.transfer.frames(frames, masks, self.targets[direction])


register_model(ModelSpec("nst", NSTSettings, NSTStepper, translator=NSTTranslator, data="pair"))
