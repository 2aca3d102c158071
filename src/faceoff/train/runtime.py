"""How a run uses its hardware: precision and fast-path switches of TrainSettings resolved for a device.

Each fast-path switch changes speed, not the objective. ``precision`` changes the numbers, so it
is a setting of its own: fp32 unless a configuration asks for bf16/fp16, or for ``auto``, which
picks what helps, as measured with ``faceoff bench --compare plain,fast``: bf16 autocast on CUDA
GPUs that compute it natively (fp16 with a grad scaler on older ones) and on CPUs with native bf16
instructions (AVX512-BF16, AMX; 2.1x per step at 128 px on such a CPU), fp32 elsewhere. The
resolved precision, not the setting, is what train.json, the checkpoint and the tables record and
what a resume is checked against. channels_last ``None`` means CUDA only: on a CPU it pays only
for max pooling, so the models that pool (the classifier, the style transfer) default to ``True``.
parallel_sides ``None`` means a CPU with two threads or more (:mod:`faceoff.train.sides`).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import torch

from faceoff.train.settings import BaseSettings

AUTOCAST_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    amp_dtype: torch.dtype | None  # None: float32 throughout
    channels_last: bool
    batch_passes: bool  # identity passes batched with the translations, real with fake in D
    data_on_device: bool
    fused_optimizer: bool
    cudnn_benchmark: bool
    compile: bool
    deterministic: bool
    threads: int  # the settings' threads (0: torch's default)
    parallel_sides: bool  # a CycleGAN step's two halves on two threads at once (CPU, 2+ threads)
    side_threads: int  # intra-op threads of each half: half of the run's

    @classmethod
    def resolve(cls, s: BaseSettings, device: torch.device | str) -> Runtime:
        device = torch.device(device)
        cuda = device.type == "cuda"
        amp_dtype = AUTOCAST_DTYPES[resolve_precision(s.precision, device)]
        threads = s.threads or torch.get_num_threads()
        return cls(
            device=device,
            amp_dtype=amp_dtype,
            channels_last=cuda if s.channels_last is None else s.channels_last,
            # Batch norm mixes the samples of a batch: batching passes would change the result.
            batch_passes=s.batch_passes and getattr(s, "norm", "instance") != "batch",
            data_on_device=s.data_on_device and cuda,
            fused_optimizer=s.fused_optimizer and getattr(s, "optimizer", "adam") == "adam",
            cudnn_benchmark=s.cudnn_benchmark and cuda and not s.deterministic,
            compile=s.compile,
            deterministic=s.deterministic,
            threads=s.threads,
            # The grad scaler is one object both halves would update: fp16 runs keep one thread.
            parallel_sides=(not cuda if s.parallel_sides is None else s.parallel_sides)
            and threads >= 2
            and amp_dtype != torch.float16,
            side_threads=max(1, threads // 2),
        )

    @property
    def precision(self) -> str:
        """``fp32``, or the autocast type ``bf16``/``fp16`` (recorded in train.json and the checkpoint)."""
        return next(name for name, dtype in AUTOCAST_DTYPES.items() if dtype == self.amp_dtype)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The run's autocast context: bf16/fp16 where the precision resolved to one, else a no-op."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    @property
    def grad_scaling(self) -> bool:
        """fp16 gradients underflow without loss scaling; bf16 has float32's range and needs none."""
        return self.amp_dtype == torch.float16

    def activate(self) -> None:
        """Set the process-wide switches (threads, cuDNN, determinism) this run needs.

        Called when a trainer is built; a benchmark interleaving two trainers calls it before
        each of their steps.
        """
        if self.threads and self.threads != torch.get_num_threads():
            # Only on a change: setting the count also empties oneDNN's cache of compiled kernels.
            torch.set_num_threads(self.threads)
        if self.deterministic and self.device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's deterministic mode
        if self.deterministic != torch.are_deterministic_algorithms_enabled():
            # Only on a change: the call imports torch's inductor (1.5 s of every training
            # process) to set its flag, which is already off unless deterministic mode was on.
            torch.use_deterministic_algorithms(self.deterministic)
        torch.backends.cudnn.deterministic = self.deterministic
        torch.backends.cudnn.benchmark = self.cudnn_benchmark


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``fp32``/``bf16``/``fp16``: an explicit precision as given, ``auto`` what is native on ``device``."""
    if precision != "auto":
        return precision
    device = torch.device(device)
    if device.type == "cuda":
        return "bf16" if _cuda_has_bf16(device) else "fp16"
    return "bf16" if _cpu_has_bf16() else "fp32"


def _cuda_has_bf16(device: torch.device) -> bool:
    """Native bf16 (Ampere, compute capability 8, and later); older GPUs only emulate it, slowly."""
    return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8


def _cpu_has_bf16() -> bool:
    """Native bf16 arithmetic (without it, CPU bf16 is emulated and slower than float32)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)
