"""Autoencoder face swap (deepfakes; the study's section IV): shared encoder, one decoder per person.

Each step draws a batch of A and of B, warps every crop randomly (:mod:`faceoff.train.warp`),
encodes both batches with the one shared encoder and reconstructs each person's *unwarped* crops
with that person's decoder; the loss is the mean absolute error, ``total = rec_A + rec_B``, with
one Adam optimiser over the encoder and both decoders. A decoder is only ever applied to its own
person's codes, so it learns from that person's reconstruction alone, while the encoder learns
from both. Swapping A to B encodes A and decodes with B's decoder (and B to A the reverse).

Defaults follow the deepfakes starter code the study used: 64 px crops, widths 128 to 1024, a
1024-unit bottleneck, Adam at 5e-5 with beta1 0.5, batches of 64, random mirroring. The study
applies no discriminator: the outputs are expectedly blurry. The translator returns the decoded
crop as it is (no blending into the source frame), as the study shows its results.

Precision (autocast) and the threads switch apply; the other speed switches concern CycleGAN-specific
fast paths.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from faceoff.datasets.crops import center_window
from faceoff.datasets.prepared import PreparedSplit
from faceoff.losses import masked_l1
from faceoff.nets.autoencoder import Decoder, SharedEncoder
from faceoff.nets.images import from_uint8, map_chunks, to_uint8
from faceoff.train.data import STREAM_A, STREAM_B, step_rng, to_tensors
from faceoff.train.loop import Stepper, cpu_copy
from faceoff.train.optim import make_optimizer, set_lr
from faceoff.train.registry import ModelSpec, register_model
from faceoff.train.settings import BaseSettings, SettingsError
from faceoff.train.warp import STREAM_WARP, random_warp

NETS = ("encoder", "decoder_A", "decoder_B")


@dataclass(frozen=True)
class AutoencoderSettings(BaseSettings):
    model: str = "autoencoder"
    lr: float = 5e-5
    batch_size: int = 64
    crop_size: int = 64
    ngf: int = 128  # width of the first encoder convolution; doubles at each downsampling
    n_downs: int = 4  # stride-2 encoder convolutions; crop_size must be a multiple of 2 ** n_downs
    latent: int = 1024  # units of the dense bottleneck
    warp_strength: float = 0.03  # control-point displacement std, fraction of the crop side; 0: no warp
    warp_grid: int = 5  # control points per side

    def validate(self) -> None:
        super().validate()
        self.require_positive("ngf", "latent")
        if self.n_downs < 2:
            raise SettingsError(f"n_downs must be at least 2, got {self.n_downs}")
        if self.crop_size % 2**self.n_downs:
            raise SettingsError(
                f"crop_size {self.crop_size} is not a multiple of 2 ** n_downs = {2**self.n_downs}"
            )
        self.require_non_negative("warp_strength")
        if self.warp_grid < 2:
            raise SettingsError(f"warp_grid must be at least 2, got {self.warp_grid}")


def build_autoencoder(s: AutoencoderSettings) -> nn.ModuleDict:
    """The shared encoder and the two decoders (torch's default initialisation)."""
    return nn.ModuleDict(
        {
            "encoder": SharedEncoder(s.crop_size, s.ngf, s.n_downs, s.latent),
            "decoder_A": Decoder(s.ngf, s.n_downs),
            "decoder_B": Decoder(s.ngf, s.n_downs),
        }
    )


class AutoencoderStepper(Stepper):
    s: AutoencoderSettings
    losses: ClassVar[list[str]] = ["rec_A", "rec_B", "total"]

    def __init__(
        self,
        settings: AutoencoderSettings,
        data_a: PreparedSplit,
        data_b: PreparedSplit,
        seed: int,
        device: str,
    ) -> None:
        super().__init__(settings, seed, device)
        self.data = (data_a, data_b)
        self.nets = nn.ModuleDict({k: self.place(net) for k, net in build_autoencoder(settings).items()})
        self.opt = make_optimizer(
            "adam", self.nets.parameters(), settings.lr, settings.betas, self.rt.fused_optimizer
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.rt.grad_scaling)

    def batches(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The step's A and B crops (the reconstruction targets), [-1, 1] NCHW."""
        return self.sample_images(self.data[0], STREAM_A, step), self.sample_images(
            self.data[1], STREAM_B, step
        )

    def reconstruction_losses(
        self, step: int, a: torch.Tensor, b: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each person's L1 between their decoder's output on the warped crops and the crops."""
        s = self.s
        warped = [
            random_warp(images, step_rng(self.seed, step, STREAM_WARP, side), s.warp_strength, s.warp_grid)
            for side, images in enumerate((a, b))
        ]
        with self.rt.autocast():
            code_a, code_b = self.nets["encoder"](torch.cat(warped)).split(a.shape[0])
            rec_a = masked_l1(self.nets["decoder_A"](code_a).float(), a)
            rec_b = masked_l1(self.nets["decoder_B"](code_b).float(), b)
        return rec_a, rec_b

    def train_step(self, step: int) -> torch.Tensor:
        set_lr(self.opt, self.current_lr(step))
        rec_a, rec_b = self.reconstruction_losses(step, *self.batches(step))
        total = rec_a + rec_b
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        return torch.stack([rec_a, rec_b, total]).detach().float()

    def weights(self) -> dict[str, Any]:
        return {name: cpu_copy(self.nets[name]) for name in NETS}

    @torch.no_grad()
    def samples(self, weights: dict[str, Any] | None = None) -> np.ndarray:
        """Grid as the study's Fig. 7: real A, A through A's decoder, A as B / the same for B."""
        nets = self.nets
        if weights is not None:
            nets = copy.deepcopy(nets)
            for name in NETS:
                nets[name].load_state_dict(weights[name])
        crop = self.s.crop_size
        rows = []
        for split, own, other in (
            (self.data[0], "decoder_A", "decoder_B"),
            (self.data[1], "decoder_B", "decoder_A"),
        ):
            real = to_tensors(center_window(split.frames, crop, slice(0, 1)), None, self.device)
            code = nets["encoder"](real.images)
            rows.append(torch.cat([real.images, nets[own](code), nets[other](code)], 3))
        return to_uint8(torch.cat(rows, 2))[0]

    def parts(self) -> dict[str, Any]:
        return {"nets": self.nets, "opt": self.opt, "scaler": self.scaler}


class AutoencoderTranslator:
    """A trained swap: "AB" encodes A's frames and decodes them with B's decoder, "BA" the reverse."""

    def __init__(self, model: dict[str, Any], device: str = "cpu") -> None:
        self.settings = AutoencoderSettings.from_dict(model["settings"])
        self.device = torch.device(device)
        self.nets = build_autoencoder(self.settings)
        for name in NETS:
            self.nets[name].load_state_dict(model[name])
        self.nets.to(self.device).eval()

    def translate(self, direction: str, frames: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """uint8 (N, S, S, 3) crops of the trained crop size as the other person; masks are unused."""
        decoders = {"AB": "decoder_B", "BA": "decoder_A"}
        if direction not in decoders:
            raise ValueError(f"direction must be 'AB' or 'BA', got {direction!r}")
        crop = self.settings.crop_size
        if frames.shape[1:3] != (crop, crop):
            raise ValueError(f"the autoencoder takes {crop} px crops, got frames of shape {frames.shape}")
        encoder, decoder = self.nets["encoder"], self.nets[decoders[direction]]
        return map_chunks(lambda chunk: decoder(encoder(from_uint8(frames[chunk], self.device))), frames)


register_model(
    ModelSpec(
        "autoencoder",
        settings=AutoencoderSettings,
        stepper=AutoencoderStepper,
        translator=AutoencoderTranslator,
        data="pair",
        evaluation="translate",
    )
)
