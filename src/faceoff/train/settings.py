"""Training settings: every CycleGAN variant of a study is a different instance of this dataclass.

Key names match the ``train`` block of params.yaml; an unknown key is an error naming it, so a
typo in a variant never silently trains the baseline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, TypeVar

from faceoff.errors import FaceoffError
from faceoff.faces.identity import IDENTITY_NETS
from faceoff.losses import gan_modes
from faceoff.losses.reconstruction import MS_SSIM_MIN_SIZE, SSIM_FORMS
from faceoff.nets import SIZE_MULTIPLE, min_input_size
from faceoff.nets.norm import NORMS
from faceoff.train.optim import OPTIMIZERS

LR_POLICIES = ("linear", "plateau")
# Arithmetic precision of training: fp32 (what the studies ran), autocast to bf16 or fp16 (with a
# grad scaler), or auto, resolved per device by faceoff.train.runtime (the resolved value is
# recorded in train.json, the checkpoint and the tables).
PRECISIONS = ("fp32", "bf16", "fp16", "auto")


class SettingsError(FaceoffError, ValueError):
    """Invalid training settings; the message names the offending key."""


S = TypeVar("S", bound="BaseSettings")


@dataclass(frozen=True)
class BaseSettings:
    """What every model's training shares: the schedule, logging and the speed switches.

    Each registered model extends it with its own keys (:class:`TrainSettings` for CycleGAN);
    ``from_dict`` rejects keys the model does not have, naming them.
    """

    model: str = "cyclegan"
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999  # Adam's second-moment decay (0.9 for WGAN-GP, as Gulrajani et al. ran it)
    steps: int = 100  # generator steps at constant learning rate
    steps_decay: int = 100  # further steps with the rate decaying linearly to zero
    batch_size: int = 1
    crop_size: int = 256
    flip: bool = True
    log_every: int = 50
    checkpoint_every: int = 500
    sample_every: int = 0  # 0: samples only at the end
    # fp32 by default: lower precision changes the numbers, so it is asked for, never implied.
    precision: str = "fp32"  # one of PRECISIONS
    # Speed switches, resolved per device by faceoff.train.runtime. None means "where it helps":
    # channels_last on CUDA (models that max-pool set it True: it pays on a CPU too).
    channels_last: bool | None = None
    batch_passes: bool = True  # run the identity passes batched with the translations (instance/no norm)
    data_on_device: bool = True  # CUDA: frames kept on the GPU as uint8, crop and flip done there
    fused_optimizer: bool = True  # Adam as one fused kernel per parameter group (CUDA and CPU)
    cudnn_benchmark: bool = True  # CUDA: autotuned convolutions (ignored when deterministic)
    # None: on a CPU with 2+ threads, a CycleGAN step's two directions and two discriminator
    # sides run at once on two threads (faceoff.train.sides); a small step's operators barely use two.
    parallel_sides: bool | None = None
    compile: bool = False  # torch.compile the networks (slow start, pays off on long GPU runs)
    deterministic: bool = False  # torch.use_deterministic_algorithms and deterministic cuDNN
    threads: int = 0  # 0: leave torch's default (one per physical core)

    @classmethod
    def from_dict(cls: type[S], values: dict[str, Any]) -> S:
        known = {f.name for f in dataclasses.fields(cls)}
        for key in values:
            if key not in known:
                model = values.get("model", cls.model)
                names = ", ".join(sorted(known))
                raise SettingsError(f"unknown training setting {key!r} for model {model!r} (known: {names})")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        settings = cls(**values)
        settings.validate()
        return settings

    def to_dict(self) -> dict[str, Any]:
        """Plain built-in values (lists, not tuples) for JSON and ``torch.load(weights_only=True)``."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in dataclasses.fields(self)
        }

    @property
    def total_steps(self) -> int:
        return self.steps + self.steps_decay

    @property
    def betas(self) -> tuple[float, float]:
        """Adam's ``(beta1, beta2)`` as floats (YAML may give ints)."""
        return float(self.beta1), float(self.beta2)

    def validate(self) -> None:
        self.require_positive("batch_size", "log_every", "checkpoint_every", "lr", "crop_size")
        if self.steps < 0 or self.steps_decay < 0 or self.total_steps == 0:
            raise SettingsError(
                f"steps ({self.steps}) and steps_decay ({self.steps_decay}) must be >= 0 with a positive sum"
            )
        self.require_choices(precision=PRECISIONS)

    # The checks every model's validate() makes, each naming the key and its value.

    def require_choices(self, **choices: Collection[str]) -> None:
        """Each named key holds one of its allowed values."""
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise SettingsError(f"{key}={getattr(self, key)!r} is not one of {', '.join(allowed)}")

    def require_positive(self, *keys: str) -> None:
        for key in keys:
            if getattr(self, key) <= 0:
                raise SettingsError(f"{key} must be positive, got {getattr(self, key)}")

    def require_non_negative(self, *keys: str) -> None:
        for key in keys:
            if getattr(self, key) < 0:
                raise SettingsError(f"{key} must be >= 0, got {getattr(self, key)}")


@dataclass(frozen=True)
class TrainSettings(BaseSettings):
    """CycleGAN and its studied variants."""

    netG: str = "resnet_9blocks"  # params.yaml spelling
    ngf: int = 64
    n_layers_D: tuple[int, ...] = (3,)  # one PatchGAN per entry and side; GAN losses averaged
    ndf: int = 64
    norm: str = "instance"
    gan_mode: str = "lsgan"
    clip_value: float = 0.01  # wgan: critic weights clamped to +-clip_value after each critic step
    n_critic: int = 1  # critic steps per generator step
    gp_weight: float = 10.0  # wgangp
    optimizer: str = "adam"
    lr_D: float | None = None  # None: same as lr
    pool_size: int = 50
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5  # relative to lambda_cycle, as in CycleGAN
    lambda_ssim: float = 0.0
    ssim_form: str = "ssim"  # ms_ssim: the face-off study's 5-scale MS-SSIM (crop_size > 160)
    mask_weight: float = 0.0  # cycle L1 weighted by mask_weight * mask + 1
    mask_input: bool = False  # network input multiplied by the face mask (background black)
    train_limit: int | None = None  # train on the first N frames of each train split only (None: all)
    # Portrait study: lambda_p * ||E(G(x)) - E(x)||^2 per direction, E the identity network.
    lambda_p: float = 0.0
    identity_net: str = "dlib_resnet"  # dlib_resnet (ships offline) | facenet (VGGFace2 weights)
    # Swap study: "plateau" multiplies the generators' and the discriminators' rates by
    # plateau_factor when their own validation loss (on the last val_frames frames of each train
    # split, held out) has not improved for plateau_patience evaluations, one every val_every steps.
    lr_policy: str = "linear"  # linear (constant, then linear decay) | plateau (on top of linear)
    plateau_patience: int = 2
    plateau_factor: float = 0.1
    val_every: int = 100
    val_frames: int = 16

    @property
    def lr_discriminator(self) -> float:
        return self.lr if self.lr_D is None else self.lr_D

    def validate(self) -> None:
        super().validate()
        self.require_choices(
            netG=tuple(SIZE_MULTIPLE),
            norm=NORMS,
            gan_mode=gan_modes(),  # every registered score objective, critics included
            optimizer=OPTIMIZERS,
            lr_policy=LR_POLICIES,
            identity_net=IDENTITY_NETS,
            ssim_form=SSIM_FORMS,
        )
        if self.ssim_form == "ms_ssim" and self.lambda_ssim and self.crop_size < MS_SSIM_MIN_SIZE:
            raise SettingsError(
                f"ssim_form=ms_ssim needs crop_size >= {MS_SSIM_MIN_SIZE} (5 scales of an 11 px window), "
                f"got {self.crop_size}: set ssim_form: ssim for small crops"
            )
        if self.train_limit is not None and self.train_limit < 1:
            raise SettingsError(f"train_limit must be >= 1 or null, got {self.train_limit}")
        if not 0 < self.plateau_factor < 1:
            raise SettingsError(f"plateau_factor must be in (0, 1), got {self.plateau_factor}")
        self.require_positive("ngf", "ndf", "n_critic", "plateau_patience", "val_every", "val_frames")
        if not self.n_layers_D or any(n < 1 for n in self.n_layers_D):
            raise SettingsError(
                f"n_layers_D must be a non-empty list of depths >= 1, got {list(self.n_layers_D)}"
            )
        multiple = SIZE_MULTIPLE[self.netG]
        if self.crop_size % multiple:
            raise SettingsError(
                f"crop_size {self.crop_size} is not a multiple of {multiple}, as {self.netG} requires"
            )
        smallest = max(min_input_size(n) for n in self.n_layers_D)
        if self.crop_size < smallest:
            raise SettingsError(
                f"crop_size {self.crop_size} < {smallest}, too small for n_layers_D {list(self.n_layers_D)}"
            )
