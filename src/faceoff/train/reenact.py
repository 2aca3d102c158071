"""Face reenactment on 300VW (the loss-ablation study): one landmark-conditioned generator for
every training video.

A training sample is three distinct frames of one video (source, target and a third frame whose
landmarks are the triple-consistency loss's stop-over), centre-cropped to ``crop_size``; with
``flip``, half the samples are mirrored, all three frames and their landmarks together (points
reordered by :data:`~faceoff.faces.heatmaps.FLIP_PERMUTATION`). Videos are drawn in proportion to
their frames, i.e. every training frame is equally likely to be a source. Heatmaps are computed
on the device per step. The terms and their weights are :mod:`faceoff.losses.reenact`'s; a step
is one generator update, then one discriminator update (when the adversarial term is on).

losses.csv logs each term already weighted, so the last row is the study's "final loss
magnitudes" (which term dominates the total).

The feature terms run the network ``feature_net`` names (the study's VGG-19, whose weights must be
cached: a missing file stops the run, naming it) at the layers the settings name; train.json
records what ran (``feature_net``, ``feature_layers``, ``identity_net``, ``identity_layer``).

Cost (2 CPU cores, 64 px, ngf 16, batch 8, bf16): about 0.45 s per step with all six terms and
dlib's ResNet as the substitute feature and identity net, of which those terms take about half:
dlib's ResNet runs at its 150 px input size (below about 100 px its last stage has no pixels
left); the ablation without them runs at ~0.22 s.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from faceoff.datasets.crops import center_offset, center_window
from faceoff.datasets.prepared import PreparedSplit
from faceoff.faces.features import FEATURE_NETS, build_feature_net, layer_names
from faceoff.faces.heatmaps import STUDY_SIGMA, flip_landmarks, heatmap_image, landmark_heatmaps
from faceoff.faces.identity_net import IDENTITY_NETS, build_identity_net
from faceoff.losses.perceptual import STYLES
from faceoff.losses.reenact import (
    IDENTITY_LOSSES,
    PIXEL_LOSSES,
    STUDY_IDENTITY_LAYER,
    STUDY_PERCEPTUAL_LAYERS,
    STUDY_STYLE_LAYER,
    TERMS,
    LossForm,
    Triplet,
    adversarial_discriminator,
    generator_terms,
)
from faceoff.nets.images import from_uint8, map_chunks, to_uint8
from faceoff.nets.init import init_weights
from faceoff.nets.norm import NORMS
from faceoff.nets.reenact import SIZE_MULTIPLE, ReenactDiscriminator, ReenactGenerator
from faceoff.train.data import STREAM_A, step_rng
from faceoff.train.loop import Stepper, cpu_copy
from faceoff.train.optim import lr_factor, make_optimizer, set_lr
from faceoff.train.registry import ModelSpec, register_model
from faceoff.train.settings import BaseSettings, SettingsError

SAMPLE_ROWS = 3


@dataclass(frozen=True)
class ReenactSettings(BaseSettings):
    """The study's defaults: 64 px, Adam at 2e-4 (G) and 5e-5 (D), constant rate, its six weights and
    formulas (VGG-19 features; see :mod:`faceoff.losses.reenact` for each switch)."""

    model: str = "reenact"
    crop_size: int = 64
    steps_decay: int = 0
    batch_size: int = 8
    heatmap_sigma: float = STUDY_SIGMA  # Gaussian standard deviation of a landmark's map, in pixels
    ngf: int = 64
    ndf: int = 32
    n_downs_D: int = 3  # stride-2 convolutions of the PatchGAN (CycleGAN's n_layers_D is a list)
    norm: str = "instance"
    lr_D: float | None = 5e-5  # None: same as lr
    lambda_adv: float = 1.0
    lambda_pixel: float = 10.0
    lambda_self: float = 100.0
    lambda_triple: float = 100.0
    lambda_perceptual: float = 10.0
    lambda_identity: float = 1.0
    pixel_loss: str = "l2"  # l2 (the study's squared L2) | l1 (pix2pix)
    feature_net: str = "vgg19"  # the perceptual (and feature identity) terms' network
    perceptual_layers: tuple[str, ...] = STUDY_PERCEPTUAL_LAYERS  # feature L1 summed over these
    style: str = "frobenius"  # frobenius (the study's norm of the Gram difference) | gram_mse
    style_layer: str = STUDY_STYLE_LAYER
    identity_loss: str = "feature_l1"  # feature_l1 (the study's, at identity_layer) | descriptor
    identity_layer: str = STUDY_IDENTITY_LAYER  # the study's "relu2_3" does not exist in VGG-19
    identity_net: str = "dlib_resnet"  # identity_loss: descriptor only

    @property
    def loss_form(self) -> LossForm:
        return LossForm(
            self.pixel_loss,
            self.style,
            self.identity_loss,
            tuple(self.perceptual_layers),
            self.style_layer,
            self.identity_layer,
        )

    @property
    def lr_discriminator(self) -> float:
        return self.lr if self.lr_D is None else self.lr_D

    @property
    def weights(self) -> dict[str, float]:
        return {t: float(getattr(self, f"lambda_{t}")) for t in TERMS}

    def validate(self) -> None:
        super().validate()
        self.require_positive("ngf", "ndf", "n_downs_D", "heatmap_sigma")
        if self.lr_D is not None:  # None: the generator's rate
            self.require_positive("lr_D")
        self.require_non_negative(*(f"lambda_{term}" for term in TERMS))
        self.require_choices(
            norm=NORMS,
            feature_net=FEATURE_NETS,
            identity_net=IDENTITY_NETS,
            pixel_loss=PIXEL_LOSSES,
            style=STYLES,
            identity_loss=IDENTITY_LOSSES,
        )
        layers = layer_names(self.feature_net)
        named = {"perceptual_layers": self.perceptual_layers, "style_layer": (self.style_layer,)}
        if self.identity_loss == "feature_l1":
            named["identity_layer"] = (self.identity_layer,)
        for key, values in named.items():
            wrong = [v for v in values if v not in layers]
            if wrong or not values:
                raise SettingsError(
                    f"{key} {list(values)}: {self.feature_net} has no layers {wrong or '[]'} "
                    f"(choose from {', '.join(layers)})"
                )
        if self.crop_size % SIZE_MULTIPLE:
            raise SettingsError(
                f"crop_size {self.crop_size} is not a multiple of {SIZE_MULTIPLE} (4 downsamplings)"
            )
        smallest = max(2 * SIZE_MULTIPLE, 2 ** (self.n_downs_D + 1))  # >= 2x2 maps where they are normalised
        if self.crop_size < smallest:
            raise SettingsError(
                f"crop_size {self.crop_size} < {smallest}: too small for the U-Net and n_downs_D "
                f"{self.n_downs_D}"
            )


def sample_triplets(
    videos: Sequence[PreparedSplit], rng: np.random.Generator, batch_size: int, crop: int, flip: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Frames uint8 (3, B, crop, crop, 3) and landmarks float32 (3, B, 68, 2): source, target and
    middle frame of ``batch_size`` samples, each from one video, centre-cropped, maybe mirrored."""
    lengths = np.array([len(v) for v in videos], dtype=np.float64)
    picks = rng.choice(len(videos), batch_size, p=lengths / lengths.sum())
    frames_idx = [rng.choice(len(videos[v]), 3, replace=len(videos[v]) < 3) for v in picks]
    mirror = rng.random(batch_size) < 0.5 if flip else np.zeros(batch_size, bool)
    frames = np.empty((3, batch_size, crop, crop, 3), np.uint8)
    landmarks = np.empty((3, batch_size, 68, 2), np.float32)
    for b, (v, idx, m) in enumerate(zip(picks, frames_idx, mirror, strict=True)):
        video = videos[v]
        window = center_window(video.frames, crop, idx)
        points = np.asarray(video.landmarks[idx], np.float32) - center_offset(video.size, crop)
        frames[:, b] = window[:, :, ::-1] if m else window
        landmarks[:, b] = flip_landmarks(points, crop) if m else points
    return frames, landmarks


class ReenactStepper(Stepper):
    losses: ClassVar[list[str]] = [*(f"G_{t}" for t in TERMS), "G_total", "D"]

    def __init__(
        self, settings: ReenactSettings, splits: Mapping[str, PreparedSplit], seed: int, device: str
    ) -> None:
        super().__init__(settings, seed, device)
        s = self.s = settings
        self.videos = [splits[k] for k in sorted(splits) if len(splits[k])]
        if not self.videos:
            raise ValueError(f"no training frames in the splits of {sorted(splits)}")
        small = [k for k in sorted(splits) if len(splits[k]) and splits[k].size < s.crop_size]
        if small:
            raise ValueError(f"crop_size {s.crop_size} is larger than the prepared frames of {small}")
        self.G = self.place(init_weights(ReenactGenerator(s.ngf, norm=s.norm)))
        self.opt_G = make_optimizer("adam", self.G.parameters(), s.lr, s.betas, self.rt.fused_optimizer)
        self.D: torch.nn.Module | None = None
        self.opt_D: torch.optim.Optimizer | None = None
        if s.lambda_adv:
            self.D = self.place(init_weights(ReenactDiscriminator(s.ndf, s.n_downs_D, norm=s.norm)))
            self.opt_D = make_optimizer(
                "adam", self.D.parameters(), s.lr_discriminator, s.betas, self.rt.fused_optimizer
            )
        # Built after the trained nets, so that whether they exist does not change the initialisation.
        self.form = s.loss_form
        layers = self.form.feature_layers(bool(s.lambda_perceptual), bool(s.lambda_identity))
        self.feature_net = build_feature_net(s.feature_net, layers, self.device) if layers else None
        descriptor = s.lambda_identity and s.identity_loss == "descriptor"
        self.identity_net = build_identity_net(s.identity_net, self.device) if descriptor else None
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.rt.grad_scaling)

    def heatmaps(self, landmarks: np.ndarray) -> torch.Tensor:
        """(..., 68, 2) landmarks -> (..., 68, S, S) heatmaps on the device."""
        points = torch.from_numpy(np.ascontiguousarray(landmarks)).to(self.device)
        maps = landmark_heatmaps(points.reshape(-1, 68, 2), self.s.crop_size, self.s.heatmap_sigma)
        return maps.reshape(*landmarks.shape[:-2], *maps.shape[1:])

    def batch(self, step: int) -> Triplet:
        s = self.s
        frames, landmarks = sample_triplets(
            self.videos, step_rng(self.seed, step, STREAM_A), s.batch_size, s.crop_size, s.flip
        )
        images, heat = from_uint8(frames, self.device, contiguous=False), self.heatmaps(landmarks)
        return Triplet(images[0], images[1], images[2], heat[0], heat[1], heat[2])

    def train_step(self, step: int) -> torch.Tensor:
        s = self.s
        factor = lr_factor(step, s.steps, s.steps_decay)
        set_lr(self.opt_G, s.lr * factor)
        batch = self.batch(step)
        if self.D is not None:
            self.D.requires_grad_(False)
        with self.rt.autocast():
            terms, fake_t = generator_terms(
                self.G, self.D, batch, s.weights, self.feature_net, self.identity_net, self.form
            )
        self.opt_G.zero_grad(set_to_none=True)
        self.scaler.scale(terms["total"]).backward()
        self.scaler.step(self.opt_G)
        self.scaler.update()

        d_loss = torch.zeros((), device=self.device)
        if self.D is not None and self.opt_D is not None:
            set_lr(self.opt_D, s.lr_discriminator * factor)
            self.D.requires_grad_(True)
            with self.rt.autocast():
                n = fake_t.shape[0]
                images = torch.cat([batch.target, fake_t.detach()])
                real, fake = self.D(images, torch.cat([batch.heat_target, batch.heat_target])).split(n)
                d_loss = adversarial_discriminator(real.float(), fake.float())
            self.opt_D.zero_grad(set_to_none=True)
            self.scaler.scale(d_loss).backward()
            self.scaler.step(self.opt_D)
            self.scaler.update()
        return torch.stack([*(terms[t].detach().float() for t in (*TERMS, "total")), d_loss.detach().float()])

    def weights(self) -> dict[str, Any]:
        return {"G": cpu_copy(self.G)}

    @torch.no_grad()
    def samples(self, weights: dict[str, Any] | None = None) -> np.ndarray:
        """Rows (one per training video, up to 3): source, its landmarks, generated, target, target
        landmarks, with the first frame as source and the middle one as target."""
        G = self.G
        if weights is not None:
            G = copy.deepcopy(self.G)
            G.load_state_dict(weights["G"])
        training, crop, sigma = G.training, self.s.crop_size, self.s.heatmap_sigma
        G.eval()
        rows = []
        for video in self.videos[:SAMPLE_ROWS]:
            idx = [0, len(video) // 2]
            frames = center_window(video.frames, crop, idx)
            points = np.asarray(video.landmarks[idx], np.float32) - center_offset(video.size, crop)
            source = from_uint8(frames[:1], self.device, contiguous=False)
            fake = to_uint8(G(source, self.heatmaps(points[1:])))[0]
            cells = [frames[0], heatmap_image(points[0], crop, sigma), fake, frames[1]]
            rows.append(np.concatenate([*cells, heatmap_image(points[1], crop, sigma)], axis=1))
        G.train(training)
        return np.concatenate(rows, axis=0)

    def info(self) -> dict[str, Any]:
        s, features = self.s, self.feature_net
        feature_identity = bool(s.lambda_identity) and s.identity_loss == "feature_l1"
        identity_net = self.identity_net.name if self.identity_net is not None else None
        return {
            # The networks that ran (None: their terms are off), for the tables.
            "feature_net": None if features is None else features.name,
            "feature_layers": None if features is None else list(features.layers),
            "identity_net": features.name if feature_identity and features is not None else identity_net,
            "identity_layer": s.identity_layer if feature_identity else None,
            "n_videos": len(self.videos),
            "n_frames": sum(len(v) for v in self.videos),
        }

    def parts(self) -> dict[str, Any]:
        parts = {"G": self.G, "opt_G": self.opt_G, "scaler": self.scaler}
        if self.D is not None and self.opt_D is not None:
            parts |= {"D": self.D, "opt_D": self.opt_D}
        return parts


class Reenactor:
    """A trained generator applied to frames: the source faces with the target landmarks."""

    def __init__(self, model: dict[str, Any], device: str = "cpu") -> None:
        s = model["settings"]
        self.device = torch.device(device)
        self.size, self.sigma = int(s["crop_size"]), float(s["heatmap_sigma"])
        self.G = ReenactGenerator(int(s["ngf"]), norm=s["norm"])
        self.G.load_state_dict(model["G"])
        self.G.to(self.device).eval()

    def reenact(self, frames: np.ndarray, target_landmarks: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """uint8 (N, S, S, 3) source frames and (N, 68, 2) target landmarks in their crop
        coordinates -> uint8 (N, S, S, 3); S must be the training crop size."""
        frames = np.asarray(frames)
        if frames.shape[1:3] != (self.size, self.size) or len(target_landmarks) != len(frames):
            raise ValueError(
                f"expected ({len(frames)}, {self.size}, {self.size}, 3) frames with as many landmark sets, "
                f"got {frames.shape} and {np.shape(target_landmarks)}"
            )

        def reenacted(chunk: slice) -> torch.Tensor:
            points = torch.as_tensor(np.asarray(target_landmarks[chunk], np.float32), device=self.device)
            heat = landmark_heatmaps(points, self.size, self.sigma)
            return self.G(from_uint8(frames[chunk], self.device, contiguous=False), heat)

        return map_chunks(reenacted, frames, batch_size)


register_model(
    ModelSpec(
        "reenact",
        settings=ReenactSettings,
        stepper=ReenactStepper,
        translator=Reenactor,
        data="dataset",
        evaluation="reenact",
    )
)
