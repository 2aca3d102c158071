"""How a run uses its hardware: the fast-path switches of :class:`TrainSettings` resolved for a device.

Each switch changes speed, not the objective, except ``amp`` (lower precision). ``None`` means
"where it helps", as measured with ``faceoff bench --compare plain,fast``: bf16 autocast on CUDA
and on CPUs with native bf16 instructions (AVX512-BF16, AMX; 2.1x per step at 128 px on such a
CPU), float32 elsewhere; channels_last on CUDA only (no gain on CPU).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import torch

from faceoff.train.settings import BaseSettings

# The fast path's switches; all of them off is the reference implementation's computation.
FAST_PATH = (
    "amp",
    "channels_last",
    "batch_passes",
    "data_on_device",
    "fused_optimizer",
    "cudnn_benchmark",
    "compile",
)
# Settings that change how fast a step runs, not what it computes (up to float rounding): every
# switch but amp, which lowers the precision.
SPEED_KEYS = (*(key for key in FAST_PATH if key != "amp"), "deterministic", "threads")


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
    threads: int

    @classmethod
    def resolve(cls, s: BaseSettings, device: torch.device | str) -> Runtime:
        device = torch.device(device)
        cuda = device.type == "cuda"
        amp = (cuda or _cpu_has_bf16()) if s.amp is None else s.amp
        if not amp:
            dtype = None
        elif cuda and not torch.cuda.is_bf16_supported():
            dtype = torch.float16
        else:
            dtype = torch.bfloat16
        return cls(
            device=device,
            amp_dtype=dtype,
            channels_last=cuda if s.channels_last is None else s.channels_last,
            # Batch norm mixes the samples of a batch: batching passes would change the result.
            batch_passes=s.batch_passes and getattr(s, "norm", "instance") != "batch",
            data_on_device=s.data_on_device and cuda,
            fused_optimizer=s.fused_optimizer and cuda and getattr(s, "optimizer", "adam") == "adam",
            cudnn_benchmark=s.cudnn_benchmark and cuda and not s.deterministic,
            compile=s.compile,
            deterministic=s.deterministic,
            threads=s.threads,
        )

    @property
    def precision(self) -> str:
        """``fp32``, or the autocast type ``bf16``/``fp16`` (recorded in train.json)."""
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp_dtype]

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The run's autocast context: bf16/fp16 where ``amp`` resolved on, else a no-op."""
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
        if self.threads:
            torch.set_num_threads(self.threads)
        if self.deterministic and self.device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's deterministic mode
        torch.use_deterministic_algorithms(self.deterministic)
        torch.backends.cudnn.deterministic = self.deterministic
        torch.backends.cudnn.benchmark = self.cudnn_benchmark


def _cpu_has_bf16() -> bool:
    """Native bf16 arithmetic (without it, CPU bf16 is emulated and slower than float32)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)
