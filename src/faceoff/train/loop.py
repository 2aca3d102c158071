"""The one training loop every model shares: steps, loss log, checkpoints, resume, divergence.

A model supplies a :class:`Stepper` (its networks, optimisers and one training step); :func:`fit`
runs it to ``settings.total_steps``, resuming from ``out_dir/ckpt/last.pt`` when that checkpoint
belongs to the same run (in the same resolved precision: see :meth:`Stepper.compatible`), and
writes the run's outputs:

- ``model.pt``: ``{"settings": ..., **stepper.weights()}``, what the model's translator loads;
- ``losses.csv``: one row of mean losses per ``log_every`` window (columns ``stepper.losses``);
- ``train.json``: steps, timing, device, precision, divergence, final losses, ``stepper.info()``;
- ``samples.png``: ``stepper.samples()``;
- ``dvclive/``: the same rows, samples and final figures as DVCLive logs (``LossLog.open_live``).

A run whose losses turn NaN/inf stops, keeps its last finite weights and reports ``diverged``
instead of raising, so that the rest of the pipeline still runs.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image
from torch import nn

from faceoff.config.runs import OPERATIONAL_KEYS
from faceoff.datasets.prepared import PreparedSplit
from faceoff.io.atomic import atomic_path, write_json
from faceoff.io.progress import progress_bar
from faceoff.train.checkpoint import check_precision, load_checkpoint, save_checkpoint
from faceoff.train.data import Batch, sample_batch
from faceoff.train.logging import LossLog, finite_or_none
from faceoff.train.optim import lr_factor
from faceoff.train.runtime import Runtime
from faceoff.train.settings import BaseSettings

log = logging.getLogger(__name__)


class Stepper:
    """Base of every model's training state; subclasses set ``losses`` and the networks.

    Subclasses implement :meth:`train_step`, :meth:`weights` and :meth:`samples`, name their
    networks, optimisers and grad scaler in :meth:`parts` (checkpointed under those keys), and
    extend :meth:`state_dict`/:meth:`load_state_dict` with any other state.
    """

    losses: ClassVar[list[str]] = []

    def __init__(self, settings: BaseSettings, seed: int, device: str) -> None:
        self.s, self.seed = settings, seed
        self.rt = Runtime.resolve(settings, device)
        self.rt.activate()
        self.device = self.rt.device
        self.log = LossLog(self.losses, self.device)
        self.step = 0
        torch.manual_seed(seed)

    # ------------------------------------------------------------ to implement

    def train_step(self, step: int) -> torch.Tensor:
        """One optimisation step; returns the loss vector (``losses`` order, still on the device)."""
        raise NotImplementedError

    def weights(self) -> dict[str, Any]:
        """A detached CPU copy of what model.pt keeps (the networks inference needs)."""
        raise NotImplementedError

    def samples(self, weights: dict[str, Any] | None = None) -> np.ndarray:
        """An RGB uint8 grid showing what the model does (with ``weights`` instead of the current ones)."""
        raise NotImplementedError

    # ------------------------------------------------------------ defaults

    def draw_batch(
        self, split: PreparedSplit, stream: int, step: int, substep: int = 0, mask_input: bool = False
    ) -> Batch:
        """The (sub)step's random crops (and flips) of one split: [-1, 1] NCHW images on the device,
        black outside the face with ``mask_input``, and their masks."""
        s = self.s
        return sample_batch(
            split,
            self.seed,
            step,
            stream,
            batch_size=s.batch_size,
            crop=s.crop_size,
            flip=s.flip,
            mask_input=mask_input,
            device=self.device,
            substep=substep,
        )

    def sample_images(self, split: PreparedSplit, stream: int, step: int) -> torch.Tensor:
        """The step's random crops (and flips) of one split, [-1, 1] NCHW on the device."""
        return self.draw_batch(split, stream, step).images

    def place(self, net: nn.Module) -> nn.Module:
        """``net`` on the device, laid out and compiled as the runtime says (for networks whose shape
        stays fixed during the run)."""
        net = net.to(self.device)
        if self.rt.channels_last:
            net = net.to(memory_format=torch.channels_last)
        if self.rt.compile:
            net.compile()  # in place: state_dict keys stay those of the plain module
        return net

    def current_lr(self, step: int) -> float:
        """The generator's learning rate at ``step`` (a losses.csv column)."""
        return self.s.lr * lr_factor(step, self.s.steps, self.s.steps_decay)

    def finite(self) -> bool:
        """Whether every trained weight is finite (a diverged run keeps its last finite weights)."""
        tensors = [t for t in _tensors(self.weights()) if t.is_floating_point()]
        return bool(all(torch.isfinite(t).all() for t in tensors))

    def info(self) -> dict[str, Any]:
        """Model-specific facts for train.json (e.g. which feature network a loss used)."""
        return {}

    def parts(self) -> dict[str, Any]:
        """What the checkpoint keeps of the model, by key: objects with ``state_dict`` and
        ``load_state_dict`` (networks, optimisers, the grad scaler); other state extends
        :meth:`state_dict` and :meth:`load_state_dict`."""
        return {}

    def state_dict(self, elapsed: float) -> dict[str, Any]:
        return {
            "settings": self.s.to_dict(),
            "seed": self.seed,
            "precision": self.rt.precision,
            "step": self.step,
            "elapsed": elapsed,
            "log": self.log.state_dict(),
            "torch_rng": torch.get_rng_state(),
            **{key: part.state_dict() for key, part in self.parts().items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = state["step"]
        self.log.load_state_dict(state["log"])
        torch.set_rng_state(state["torch_rng"].cpu())
        for key, part in self.parts().items():
            part.load_state_dict(state[key])

    def compatible(self, state: dict[str, Any], path: str | Path) -> bool:
        """Whether the checkpoint ``state`` (read from ``path``) continues this very run.

        It does when seed, computation-relevant settings and resolved precision agree (a
        ``precision`` setting spelt differently, ``auto`` or ``bf16``, resolving alike is the same
        run). A changed ``precision`` setting makes another run, trained from scratch like any
        other changed setting; the same setting resolved differently (``auto`` on another
        machine) raises :class:`~faceoff.train.checkpoint.PrecisionMismatchError` instead of
        silently continuing in another precision.
        """
        if "precision" not in state:  # written before precision was recorded: cannot be checked
            return False
        ours, theirs = self.s.to_dict(), dict(state["settings"])
        for key in (*OPERATIONAL_KEYS, "precision"):
            ours.pop(key, None)
            theirs.pop(key, None)
        if state["seed"] != self.seed or ours != theirs:
            return False
        if state["settings"].get("precision") != self.s.precision and state["precision"] != self.rt.precision:
            return False
        check_precision(path, state["precision"], self.rt.precision, self.s.precision)
        return True


def _tensors(tree: Any) -> list[torch.Tensor]:
    if isinstance(tree, torch.Tensor):
        return [tree]
    if isinstance(tree, dict):
        return [t for v in tree.values() for t in _tensors(v)]
    if isinstance(tree, list | tuple):
        return [t for v in tree for t in _tensors(v)]
    return []


def cpu_copy(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of a module's weights."""
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


def save_png(path: Path, image: np.ndarray) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def fit(
    stepper: Stepper, out_dir: str | Path, progress: bool = True, stop_after: int | None = None
) -> dict[str, Any]:
    """Train (or resume), write the run's outputs and return train.json's content.

    ``stop_after`` ends the process as if killed after that many steps (no outputs beyond the
    periodic checkpoints): the hook with which tests check that resuming is exact.
    """
    s = stepper.s
    out = Path(out_dir)
    ckpt_path = out / "ckpt" / "last.pt"
    elapsed = 0.0
    state = load_checkpoint(ckpt_path, stepper.device)
    if state is not None and stepper.compatible(state, ckpt_path):
        stepper.load_state_dict(state)
        elapsed = state["elapsed"]
        log.info("resuming %s from step %d", out, stepper.step)
    elif state is not None:
        log.warning("%s: checkpoint from different settings or seed; training from scratch", ckpt_path)
    resumed_from = stepper.step
    live = stepper.log.open_live(out / "dvclive", out / "samples", stepper.step)
    good, good_step = stepper.weights(), stepper.step
    diverged_step: int | None = None  # 1-based number of the first step with a non-finite loss
    window_start = run_start = time.perf_counter()
    window_steps = 0
    window_rates: list[float] = []
    bar = progress_bar(
        total=s.total_steps, initial=stepper.step, desc=f"train {out.name}", unit="step", enabled=progress
    )
    with bar:
        while stepper.step < s.total_steps:
            step = stepper.step
            stepper.log.add(step, stepper.train_step(step))
            stepper.step = step + 1
            window_steps += 1
            bar.update()
            done = stepper.step
            at_log, at_ckpt = done % s.log_every == 0, done % s.checkpoint_every == 0
            if at_log or at_ckpt or done == s.total_steps:
                bad = stepper.log.diverged_at()
                if bad is not None or not stepper.finite():
                    diverged_step = done if bad is None else bad + 1
                    stepper.log.flush(done, {"lr": stepper.current_lr(step), "sec_per_step": float("nan")})
                    break
                good, good_step = stepper.weights(), done
                if at_log or done == s.total_steps:
                    now = time.perf_counter()
                    rate = (now - window_start) / window_steps
                    window_rates.append(rate)
                    row = stepper.log.flush(done, {"lr": stepper.current_lr(step), "sec_per_step": rate})
                    if row is not None:
                        bar.set_postfix({k: f"{row[k]:.3g}" for k in stepper.losses[:2]})
                    window_start, window_steps = now, 0
                if at_ckpt or done == s.total_steps:
                    save_checkpoint(ckpt_path, stepper.state_dict(elapsed + time.perf_counter() - run_start))
                    stepper.log.write_csv(out / "losses.csv")
            if s.sample_every and done % s.sample_every == 0:
                sample = stepper.samples()
                save_png(out / "samples" / f"step_{done:08d}.png", sample)
                live.log_image(sample, done)
            if stop_after is not None and done >= stop_after:
                return {"steps": done, "stopped": True}

    wall = elapsed + time.perf_counter() - run_start
    ran = stepper.step - resumed_from
    with atomic_path(out / "model.pt") as tmp:
        torch.save({"settings": s.to_dict(), **good}, tmp)
    stepper.log.write_csv(out / "losses.csv")
    final_samples = stepper.samples(good)
    save_png(out / "samples.png", final_samples)
    last_row = next(
        (r for r in reversed(stepper.log.rows) if all(np.isfinite(r[k]) for k in stepper.losses)), None
    )
    result = {
        "model": s.model,
        "steps": good_step,
        "total_steps": s.total_steps,
        "resumed_from": resumed_from,
        "wall_time_s": wall,
        "device": str(stepper.device),
        "torch_threads": torch.get_num_threads(),
        "precision": stepper.rt.precision,
        "diverged": diverged_step is not None,
        "diverged_step": diverged_step,
        "final_losses": finite_or_none(last_row),
        "sec_per_step": (time.perf_counter() - run_start) / ran if ran else None,
        "sec_per_step_median": float(np.median(window_rates)) if window_rates else None,
        **stepper.info(),
    }
    write_json(out / "train.json", result)
    live.close(result, final_samples)
    if diverged_step is not None:
        log.warning("%s diverged at step %d; kept the last finite weights", out, diverged_step)
    return result
