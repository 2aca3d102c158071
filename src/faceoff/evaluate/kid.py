"""KID and FID between a run's outputs and real frames, computed by torchmetrics (never by hand).

KID (Binkowski et al. 2018) is the unbiased estimate of the squared maximum mean discrepancy between
the two sets' features under the polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random
subsets (mean and standard deviation reported). Unlike FID it is unbiased, so it is usable on the
few hundred test frames a demo has; FID needs thousands of samples and is refused below
:data:`FID_MIN_SAMPLES`.

The standard features are Inception-v3's pool3 (torch-fidelity's port, the one papers use); their
weights are a download, so where they are missing the pooled last stage of dlib's face ResNet (ships
with face_recognition_models) is used instead, and every result names its features: numbers from
different feature networks are not comparable.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

KID_FEATURES = ("inception_v3", "dlib_resnet")
FID_MIN_SAMPLES = 2048  # the sample count below which FID's bias dominates (its authors' guidance)
INCEPTION_DIM = 2048
_BATCH = 32


@dataclass(frozen=True)
class KidResult:
    """KID's mean and std over ``subsets`` random subsets of ``subset_size`` images from each side."""

    mean: float
    std: float
    subset_size: int
    subsets: int
    features: str
    n_real: int
    n_fake: int


@dataclass(frozen=True)
class FidResult:
    """FID, or ``value`` None and the ``reason`` it was not computed."""

    value: float | None
    reason: str | None
    features: str
    n_real: int
    n_fake: int


def inception_weights_path() -> Path:
    """Where torch-fidelity's Inception-v3 weights are cached (torch hub's checkpoint folder)."""
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    return Path(torch.hub.get_dir()) / "checkpoints" / URL_INCEPTION_V3.rsplit("/", 1)[-1]


def inception_problem() -> str | None:
    """Why Inception-v3 features cannot be computed on this machine, or None when they can.
    torch-fidelity would download the weights on first use, which fails on offline nodes."""
    try:
        path = inception_weights_path()
    except ImportError:
        return "torch-fidelity is not installed (pip install torch-fidelity)"
    if not path.is_file():
        return (
            f"Inception-v3 weights not found: expected {path.name} in {path.parent} (torch hub's "
            "checkpoint folder); run torchmetrics' KernelInceptionDistance once on a machine with "
            "internet access and copy the file there"
        )
    return None


def kid_features(requested: str | None = None) -> str:
    """The feature network to use: ``requested``, or Inception-v3 where it can run, else dlib's ResNet."""
    if requested is None:
        return "inception_v3" if inception_problem() is None else "dlib_resnet"
    if requested not in KID_FEATURES:
        raise ValueError(f"unknown KID features {requested!r} (choose from {', '.join(KID_FEATURES)})")
    if requested == "inception_v3" and (problem := inception_problem()) is not None:
        from faceoff.faces.weights import MissingWeightsError

        raise MissingWeightsError(problem)
    return requested


class DlibPooledFeatures(nn.Module):
    """dlib's face ResNet up to its global average pool (256-d, the layer before the descriptor),
    the analogue of Inception's pool3: general face features rather than the identity embedding.
    Takes uint8 NCHW RGB of any size, as torchmetrics passes images through unchanged."""

    def __init__(self) -> None:
        super().__init__()
        from faceoff.faces.dlib_resnet import INPUT_SIZE, load_dlib_resnet

        self.net, self.size = load_dlib_resnet().requires_grad_(False), INPUT_SIZE
        self.num_features = self.net.fc.in_features  # torchmetrics' FID reads it instead of probing

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x.float(), size=(self.size, self.size), mode="bilinear", antialias=True)
        x = self.net.levels[-1](self.net.stages(x)[-1])
        return x.mean(dim=(2, 3)).double()


def _feature_arg(features: str) -> int | nn.Module:
    return INCEPTION_DIM if features == "inception_v3" else DlibPooledFeatures()


def _nchw(images: np.ndarray) -> torch.Tensor:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected (N, H, W, 3) uint8 images, got {images.dtype} {images.shape}")
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)


def _feed(metric: nn.Module, real: np.ndarray, fake: np.ndarray, device: str) -> None:
    for images, is_real in ((real, True), (fake, False)):
        x = _nchw(images)
        for start in range(0, len(x), _BATCH):
            metric.update(x[start : start + _BATCH].to(device), real=is_real)


@torch.no_grad()
def kid(
    real: np.ndarray,
    fake: np.ndarray,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    features: str | None = None,
    device: str = "cpu",
) -> KidResult:
    """KID between ``real`` and ``fake`` (N, H, W, 3) uint8 images. The subset size is capped at
    the smaller set (stated in the result); fewer than 2 images on a side leave it undefined (NaN).
    Subsets are drawn from a generator seeded with ``seed`` without touching the global one, so
    the same inputs give the same numbers."""
    from torchmetrics.image.kid import KernelInceptionDistance

    name = kid_features(features)
    n_real, n_fake = len(real), len(fake)
    size = min(subset_size, n_real, n_fake)
    if size < 2:
        return KidResult(math.nan, math.nan, size, subsets, name, n_real, n_fake)
    # torchmetrics draws its subsets with torch.randperm on the global generator (and building the
    # feature net draws its throwaway initial weights from it): fork it, seeded.
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        torch.manual_seed(seed)
        warnings.simplefilter("ignore", UserWarning)  # "will save all extracted features": KID needs them
        metric = KernelInceptionDistance(feature=_feature_arg(name), subsets=subsets, subset_size=size)
        _feed(metric.to(device), real, fake, device)
        mean, std = metric.compute()
    return KidResult(float(mean), float(std), size, subsets, name, n_real, n_fake)


@torch.no_grad()
def fid(
    real: np.ndarray,
    fake: np.ndarray,
    *,
    features: str | None = None,
    device: str = "cpu",
    min_samples: int = FID_MIN_SAMPLES,
) -> FidResult:
    """FID between ``real`` and ``fake`` images, refused (value None, with the reason) when either
    side has fewer than ``min_samples`` images: a small-sample FID is biased upwards by an amount
    that depends on the sample count, so it is never reported silently."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    name = kid_features(features)
    n_real, n_fake = len(real), len(fake)
    if min(n_real, n_fake) < min_samples:
        reason = f"FID needs at least {min_samples} images per side; got {n_real} real and {n_fake} generated"
        return FidResult(None, reason, name, n_real, n_fake)
    with torch.random.fork_rng(devices=[]):  # building the feature net draws initial weights
        metric = FrechetInceptionDistance(feature=_feature_arg(name)).to(device)
        _feed(metric, real, fake, device)
        value = float(metric.compute())
    return FidResult(value, None, name, n_real, n_fake)
