"""Training settings: every CycleGAN variant of a study is a different instance of this dataclass.

Key names match the ``train`` block of params.yaml; an unknown key is an error naming it, so a
typo in a variant never silently trains the baseline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from faceoff.losses import GAN_MODES
from faceoff.nets import SIZE_MULTIPLE, min_input_size
from faceoff.nets.norm import NORMS

OPTIMIZERS = ("adam", "rmsprop")


class SettingsError(ValueError):
    """Invalid training settings; the message names the offending key."""


@dataclass(frozen=True)
class TrainSettings:
    model: str = "cyclegan"
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
    lr: float = 2e-4
    lr_D: float | None = None  # None: same as lr
    beta1: float = 0.5
    steps: int = 100  # generator steps at constant learning rate
    steps_decay: int = 100  # further steps with the rate decaying linearly to zero
    batch_size: int = 1
    crop_size: int = 256
    flip: bool = True
    pool_size: int = 50
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5  # relative to lambda_cycle, as in CycleGAN
    lambda_ssim: float = 0.0
    mask_weight: float = 0.0  # cycle L1 weighted by mask_weight * mask + 1
    mask_input: bool = False  # network input multiplied by the face mask (background black)
    log_every: int = 50
    checkpoint_every: int = 500
    sample_every: int = 0  # 0: samples only at the end
    # Speed switches, resolved per device by faceoff.train.runtime. None means "where it helps":
    # amp on CUDA and on CPUs with native bf16, channels_last on CUDA.
    amp: bool | None = None  # autocast: bf16 where supported, else (older GPUs) fp16 with a grad scaler
    channels_last: bool | None = None
    batch_passes: bool = True  # run the identity passes batched with the translations (instance/no norm)
    data_on_device: bool = True  # CUDA: frames kept on the GPU as uint8, crop and flip done there
    fused_optimizer: bool = True  # CUDA: fused Adam kernels
    cudnn_benchmark: bool = True  # CUDA: autotuned convolutions (ignored when deterministic)
    compile: bool = False  # torch.compile the networks (slow start, pays off on long GPU runs)
    deterministic: bool = False  # torch.use_deterministic_algorithms and deterministic cuDNN
    threads: int = 0  # 0: leave torch's default (one per physical core)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        for key in values:
            if key not in known:
                raise SettingsError(f"unknown training setting {key!r} (known: {', '.join(sorted(known))})")
        values = dict(values)
        if "n_layers_D" in values:
            layers = values["n_layers_D"]
            values["n_layers_D"] = tuple(layers) if isinstance(layers, list | tuple) else (layers,)
        settings = cls(**values)
        settings.validate()
        return settings

    def to_dict(self) -> dict[str, Any]:
        """Plain built-in values (lists, not tuples) for JSON and ``torch.load(weights_only=True)``."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["n_layers_D"] = list(self.n_layers_D)
        return out

    @property
    def total_steps(self) -> int:
        return self.steps + self.steps_decay

    @property
    def lr_discriminator(self) -> float:
        return self.lr if self.lr_D is None else self.lr_D

    def validate(self) -> None:
        choices = {
            "netG": tuple(SIZE_MULTIPLE),
            "norm": NORMS,
            "gan_mode": GAN_MODES,
            "optimizer": OPTIMIZERS,
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise SettingsError(f"{key}={getattr(self, key)!r} is not one of {', '.join(allowed)}")
        positive = ("ngf", "ndf", "n_critic", "steps", "batch_size", "log_every", "checkpoint_every", "lr")
        for key in positive:
            if getattr(self, key) <= 0:
                raise SettingsError(f"{key} must be positive, got {getattr(self, key)}")
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
