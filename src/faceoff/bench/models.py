"""Any registered model's stepper on synthetic in-memory data, its FLOPs per step and the machine's peak.

The benchmark and the GPU check build every model the same way, through the model registry, so
that a newly registered model (or a plugin's) is measured without editing them: its settings are
its own defaults with the benchmark's widths where it has those keys, and its data are smooth
random frames with face-like masks and landmarks, named after its ``classes`` when it has them
(classifier, SA-GAN) and ``A``, ``B`` otherwise.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from faceoff.datasets.prepared import PreparedSplit
from faceoff.train.loop import Stepper
from faceoff.train.registry import build_stepper, get_model
from faceoff.train.settings import BaseSettings

PAIR = ("A", "B")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def model_settings(model: str, values: Mapping[str, Any], optional: Mapping[str, Any]) -> BaseSettings:
    """``model``'s settings: its defaults, ``values`` (every key must be one of its settings) and those
    of the ``optional`` keys it has (the bench's ``ngf``, ``ndf``, ...; None: the model's own)."""
    spec = get_model(model)
    known = {f.name for f in dataclasses.fields(spec.settings)}
    merged = {**{k: v for k, v in optional.items() if k in known and v is not None}, **values}
    return spec.settings.from_dict({"model": model, **merged})


def synthetic_split(size: int, seed: int, n: int = 16) -> PreparedSplit:
    """Smooth random images: realistic bytes for the data path without rendering faces; a central
    face mask and 68 landmarks scattered inside it (for the models that draw heatmaps)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (n, size // 8 + 1, size // 8 + 1, 3), dtype=np.uint8)
    frames = np.ascontiguousarray(coarse.repeat(8, 1).repeat(8, 2)[:, :size, :size])
    masks = np.zeros((n, size, size), np.uint8)
    masks[:, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    landmarks = rng.uniform(size / 4, 3 * size / 4, (n, 68, 2)).astype(np.float32)
    return PreparedSplit(frames, landmarks, masks, np.arange(n))


def synthetic_data(settings: BaseSettings, seed: int = 0) -> dict[str, PreparedSplit]:
    """Train splits for ``settings``'s model: one per class it names, else items A and B; frames an
    eighth larger than the crop, so random crops move."""
    items = tuple(getattr(settings, "classes", PAIR))
    size = settings.crop_size + settings.crop_size // 8
    return {item: synthetic_split(size, seed + i) for i, item in enumerate(items)}


def bench_stepper(settings: BaseSettings, device: str | torch.device, seed: int = 0) -> Stepper:
    """``settings``'s model on synthetic data, built as training builds it."""
    data = synthetic_data(settings, seed)
    pair = None if get_model(settings.model).data == "dataset" else PAIR
    return build_stepper(settings, data, pair, seed, str(device))


def images_per_step(settings: BaseSettings) -> int:
    """Training images a step draws: a batch of each of the pair's items, one batch otherwise."""
    return settings.batch_size * (1 if get_model(settings.model).data == "dataset" else 2)


def step_flops(stepper: Stepper, step: int) -> int:
    """Floating-point operations of ``stepper.train_step(step)`` (forward and backward passes, as
    torch's flop counter counts them: matrix products and convolutions, 2 per multiply-add)."""
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _Totals()  # type: ignore[assignment]
    with counter:
        stepper.train_step(step)
    return int(counter.get_total_flops())


class _Totals:
    """Stands in for FlopCounterMode's per-module attribution, whose backward hooks break
    ``torch.autograd.grad`` (WGAN-GP's gradient penalty): every count goes to the total only."""

    parents = frozenset({"Global"})

    def __enter__(self) -> _Totals:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def measured_peak(precision: str, device: torch.device, repeats: int = 5) -> dict[str, float]:
    """FLOP/s this machine reaches in ``precision``'s dtype on the operations networks are made of: a
    large square matmul and a large 3x3 convolution, each the best of ``repeats`` (measured, not a
    datasheet figure; nominal FLOPs, so a convolution done by Winograd may beat the matmul)."""
    return {
        "matmul": matmul_peak(precision, device, repeats=repeats),
        "conv3x3": conv_peak(precision, device, repeats=repeats),
    }


def matmul_peak(precision: str, device: torch.device, size: int | None = None, repeats: int = 5) -> float:
    """FLOP/s of a square matmul (8192 on CUDA, 1024 on a CPU) in ``precision``'s dtype."""
    n = size or (8192 if device.type == "cuda" else 1024)
    a, b = (torch.randn(n, n, device=device).to(DTYPES[precision]) for _ in range(2))
    return 2 * n**3 / _best_seconds(lambda: torch.matmul(a, b), device, repeats)


def conv_peak(precision: str, device: torch.device, channels: int = 256, repeats: int = 5) -> float:
    """FLOP/s of a 3x3 convolution, ``channels`` in and out, on 64x64 maps (a batch of 32 on CUDA)."""
    n = 32 if device.type == "cuda" else 1
    conv = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False).to(device, DTYPES[precision])
    x = torch.randn(n, channels, 64, 64, device=device).to(DTYPES[precision])
    with torch.no_grad():
        seconds = _best_seconds(lambda: conv(x), device, repeats)
    return 2 * n * channels**2 * 9 * 64 * 64 / seconds


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    """Wall seconds of ``fn`` including the device work it queued (the benchmark's only syncs)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _best_seconds(fn: Callable[[], Any], device: torch.device, repeats: int) -> float:
    fn()  # warm-up: kernel selection, page faults
    return min(timed(fn, device) for _ in range(repeats))
