"""CycleGAN training (Zhu et al. 2017); every studied variant is a different :class:`TrainSettings`.

Two generators (A->B, B->A) and, on each side, one PatchGAN per ``n_layers_D`` entry. A step
is one generator update followed by ``n_critic`` updates of every discriminator. With
``batch_passes`` the two identity passes run in the same batch as the two translations (four
generator calls instead of six) and each discriminator sees real and fake in one call; instance
norm treats every sample on its own, so this changes float rounding only.

Outputs in ``out_dir``: model.pt, losses.csv, train.json, samples.png, and ckpt/last.pt for
resuming. A run whose losses turn NaN/inf stops, keeps its last finite weights and reports
``diverged`` instead of raising, so that the rest of the pipeline still runs.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from faceoff.datasets.prepared import PreparedSplit
from faceoff.io.atomic import atomic_path, write_json
from faceoff.losses import AdversarialLoss, cycle_loss, gradient_penalty, identity_loss
from faceoff.nets import build_discriminator, build_generator
from faceoff.train.checkpoint import load_checkpoint, save_checkpoint
from faceoff.train.data import (
    STREAM_A,
    STREAM_B,
    STREAM_GP,
    STREAM_POOL,
    Batch,
    DeviceSplit,
    mask_background,
    sample_batch,
    step_rng,
    step_torch_generator,
    to_tensors,
)
from faceoff.train.logging import LossLog, finite_or_none
from faceoff.train.optim import lr_factor, make_optimizer, set_lr
from faceoff.train.pool import ImagePool
from faceoff.train.registry import register_trainer
from faceoff.train.runtime import SPEED_KEYS, Runtime
from faceoff.train.settings import TrainSettings

log = logging.getLogger(__name__)

LOSSES = ["G_gan", "G_cycle", "G_idt", "G_ssim", "G_total", "D_A", "D_B", "D", "GP"]
# Settings that do not change what is computed: a checkpoint stays valid when only these differ.
_OPERATIONAL = ("log_every", "checkpoint_every", "sample_every", *SPEED_KEYS)


@dataclass
class _Side:
    """The networks that judge one domain: its discriminators, their optimisers and the fake pool."""

    nets: list[nn.Module]
    optimizers: list[torch.optim.Optimizer]
    pool: ImagePool


class CycleGANTrainer:
    def __init__(
        self, settings: TrainSettings, data_a: PreparedSplit, data_b: PreparedSplit, seed: int, device: str
    ) -> None:
        self.s, self.data, self.seed = settings, (data_a, data_b), seed
        self.rt = Runtime.resolve(settings, device)
        self.rt.activate()
        self.device = self.rt.device
        self.on_device = [self._store(split) for split in self.data]
        torch.manual_seed(seed)
        self.G_AB = self._prepare(build_generator(settings.netG, settings.ngf, settings.norm))
        self.G_BA = self._prepare(build_generator(settings.netG, settings.ngf, settings.norm))
        self.opt_G = make_optimizer(
            settings.optimizer,
            [*self.G_AB.parameters(), *self.G_BA.parameters()],
            settings.lr,
            settings.beta1,
            self.rt.fused_optimizer,
        )
        self.side_A, self.side_B = self._side(), self._side()
        self.gan = AdversarialLoss(settings.gan_mode)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.rt.grad_scaling)
        self.log = LossLog(LOSSES, self.device)
        self.step = 0

    def _store(self, split: PreparedSplit) -> DeviceSplit | None:
        """The split on the device when wanted and it fits; None: batches come from the (mapped) arrays."""
        if not self.rt.data_on_device:
            return None
        if not DeviceSplit.fits(split, self.device):
            log.info(
                "training frames (%d MB) stay on the host: too large for the device",
                split.frames.nbytes >> 20,
            )
            return None
        return DeviceSplit(split, self.device)

    def _prepare(self, net: nn.Module) -> nn.Module:
        net = net.to(self.device)
        if self.rt.channels_last:
            net = net.to(memory_format=torch.channels_last)
        if self.rt.compile:
            net.compile()  # in place: state_dict keys stay those of the plain module
        return net

    def _side(self) -> _Side:
        s = self.s
        nets = [self._prepare(build_discriminator(n, s.ndf, s.norm)) for n in s.n_layers_D]
        optimizers = [
            make_optimizer(s.optimizer, d.parameters(), s.lr_discriminator, s.beta1, self.rt.fused_optimizer)
            for d in nets
        ]
        return _Side(nets, optimizers, ImagePool(s.pool_size))

    # ---------------------------------------------------------------- one step

    def _batch(self, side: int, step: int, substep: int = 0) -> Batch:
        s = self.s
        stream = STREAM_A if side == 0 else STREAM_B
        stored = self.on_device[side]
        if stored is None:
            batch = sample_batch(
                self.data[side],
                self.seed,
                step,
                stream,
                batch_size=s.batch_size,
                crop=s.crop_size,
                flip=s.flip,
                mask_input=s.mask_input,
                device=self.device,
                substep=substep,
            )
        else:
            batch = stored.sample(
                step_rng(self.seed, step, stream, substep), s.batch_size, s.crop_size, s.flip
            )
            if s.mask_input:
                batch.images = mask_background(batch.images, batch.masks)
        memory_format = torch.channels_last if self.rt.channels_last else torch.contiguous_format
        batch.images = batch.images.contiguous(memory_format=memory_format)
        return batch

    def batches(self, step: int, substep: int = 0) -> tuple[Batch, Batch]:
        """The A and B batches of a step (the data loading a benchmark times on its own)."""
        return self._batch(0, step, substep), self._batch(1, step, substep)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        dtype = self.rt.amp_dtype
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def generator_losses(
        self, a: Batch, b: Batch
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """The generators' loss terms (and ``total``) and the two fakes, ``fake_b`` and ``fake_a``."""
        s = self.s
        identity = bool(s.lambda_identity)
        with self._autocast():
            if identity and self.rt.batch_passes:
                n = a.images.shape[0]
                fake_b, idt_b = self.G_AB(torch.cat([a.images, b.images])).split(n)
                fake_a, idt_a = self.G_BA(torch.cat([b.images, a.images])).split(n)
            else:
                fake_b, fake_a = self.G_AB(a.images), self.G_BA(b.images)
                if identity:
                    idt_b, idt_a = self.G_AB(b.images), self.G_BA(a.images)
            rec_a, rec_b = self.G_BA(fake_b), self.G_AB(fake_a)
            g_gan = self._generator_gan(self.side_B, fake_b) + self._generator_gan(self.side_A, fake_a)
            cyc_a, ssim_a = cycle_loss(rec_a, a.images, s.lambda_cycle, s.lambda_ssim, a.masks, s.mask_weight)
            cyc_b, ssim_b = cycle_loss(rec_b, b.images, s.lambda_cycle, s.lambda_ssim, b.masks, s.mask_weight)
            g_cycle, g_ssim = cyc_a + cyc_b, ssim_a + ssim_b
            g_idt = g_cycle.new_zeros(())
            if identity:
                weight = s.lambda_cycle * s.lambda_identity
                g_idt = identity_loss(idt_b, b.images, weight) + identity_loss(idt_a, a.images, weight)
            g_total = g_gan + g_cycle + g_ssim + g_idt
        terms = {"G_gan": g_gan, "G_cycle": g_cycle, "G_idt": g_idt, "G_ssim": g_ssim, "G_total": g_total}
        return terms, fake_b, fake_a

    def train_step(self, step: int) -> torch.Tensor:
        """One generator update and ``n_critic`` discriminator updates; returns the losses (on device)."""
        s = self.s
        factor = lr_factor(step, s.steps, s.steps_decay)
        set_lr(self.opt_G, s.lr * factor)
        for opt in self.side_A.optimizers + self.side_B.optimizers:
            set_lr(opt, s.lr_discriminator * factor)
        a, b = self.batches(step)

        discriminators = self.side_A.nets + self.side_B.nets
        for d in discriminators:
            d.requires_grad_(False)
        terms, fake_b, fake_a = self.generator_losses(a, b)
        self.opt_G.zero_grad(set_to_none=True)
        self.scaler.scale(terms["G_total"]).backward()
        self.scaler.step(self.opt_G)
        self.scaler.update()
        for d in discriminators:
            d.requires_grad_(True)

        d_a = d_b = gp = torch.zeros((), device=self.device)
        for critic_step in range(s.n_critic):
            if critic_step:
                a, b = self.batches(step, critic_step)
                with torch.no_grad(), self._autocast():
                    fake_b, fake_a = self.G_AB(a.images), self.G_BA(b.images)
            rng = step_rng(self.seed, step, STREAM_POOL, critic_step)
            pooled_b = self.side_B.pool.query(fake_b.detach(), rng)
            pooled_a = self.side_A.pool.query(fake_a.detach(), rng)
            gen = step_torch_generator(self.seed, step, STREAM_GP, critic_step)
            loss_a, gp_a = self._discriminator_step(self.side_A, a.images, pooled_a, gen)
            loss_b, gp_b = self._discriminator_step(self.side_B, b.images, pooled_b, gen)
            d_a, d_b, gp = d_a + loss_a, d_b + loss_b, gp + gp_a + gp_b
        d_a, d_b = d_a / s.n_critic, d_b / s.n_critic
        return torch.stack(
            [t.detach().float() for t in (*terms.values(), d_a, d_b, (d_a + d_b) / 2, gp / s.n_critic)]
        )

    def _generator_gan(self, side: _Side, fake: torch.Tensor) -> torch.Tensor:
        """Generator's adversarial loss against one side, averaged over its discriminators (equal weights)."""
        return sum(self.gan(d(fake), True) for d in side.nets) / len(side.nets)

    def _discriminator_step(
        self, side: _Side, real: torch.Tensor, fake: torch.Tensor, gen: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Update each discriminator of a side once; returns the mean loss and the summed penalty."""
        s = self.s
        losses, penalties = [], []
        for d, opt in zip(side.nets, side.optimizers, strict=True):
            with self._autocast():
                if self.rt.batch_passes:
                    real_scores, fake_scores = d(torch.cat([real, fake])).split(real.shape[0])
                else:
                    real_scores, fake_scores = d(real), d(fake)
                loss = self.gan.discriminator(real_scores, fake_scores)
            penalty = loss.new_zeros(())
            if s.gan_mode == "wgangp":
                penalty = s.gp_weight * gradient_penalty(d, real.float(), fake.float(), gen)
            opt.zero_grad(set_to_none=True)
            self.scaler.scale(loss + penalty).backward()
            self.scaler.step(opt)
            self.scaler.update()
            if s.gan_mode == "wgan":
                with torch.no_grad():
                    for p in d.parameters():
                        p.clamp_(-s.clip_value, s.clip_value)
            losses.append(loss.detach().float())
            penalties.append(penalty.detach().float())
        return torch.stack(losses).mean(), torch.stack(penalties).sum()

    # ---------------------------------------------------------------- state

    def generators_finite(self) -> bool:
        params = [*self.G_AB.parameters(), *self.G_BA.parameters()]
        return bool(torch.stack([torch.isfinite(p).all() for p in params]).all())

    def generator_state(self) -> dict[str, dict[str, torch.Tensor]]:
        """A detached CPU copy of both generators' weights."""
        return {
            name: {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}
            for name, net in (("G_AB", self.G_AB), ("G_BA", self.G_BA))
        }

    def state_dict(self, elapsed: float) -> dict[str, Any]:
        sides = {"A": self.side_A, "B": self.side_B}
        return {
            "settings": self.s.to_dict(),
            "seed": self.seed,
            "step": self.step,
            "elapsed": elapsed,
            "G_AB": self.G_AB.state_dict(),
            "G_BA": self.G_BA.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "D": {k: [d.state_dict() for d in side.nets] for k, side in sides.items()},
            "opt_D": {k: [o.state_dict() for o in side.optimizers] for k, side in sides.items()},
            "pool": {k: side.pool.state_dict() for k, side in sides.items()},
            "scaler": self.scaler.state_dict(),
            "log": self.log.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = state["step"]
        self.G_AB.load_state_dict(state["G_AB"])
        self.G_BA.load_state_dict(state["G_BA"])
        self.opt_G.load_state_dict(state["opt_G"])
        for key, side in (("A", self.side_A), ("B", self.side_B)):
            for d, sd in zip(side.nets, state["D"][key], strict=True):
                d.load_state_dict(sd)
            for opt, sd in zip(side.optimizers, state["opt_D"][key], strict=True):
                opt.load_state_dict(sd)
            side.pool.load_state_dict(state["pool"][key], self.device)
        self.scaler.load_state_dict(state["scaler"])
        self.log.load_state_dict(state["log"])
        torch.set_rng_state(state["torch_rng"].cpu())

    def compatible(self, state: dict[str, Any]) -> bool:
        """Whether a checkpoint continues this very run (same seed and computation-relevant settings)."""
        ours, theirs = self.s.to_dict(), dict(state["settings"])
        for key in _OPERATIONAL:
            ours.pop(key, None)
            theirs.pop(key, None)
        return state["seed"] == self.seed and ours == theirs

    # ---------------------------------------------------------------- samples

    @torch.no_grad()
    def samples(self, generators: dict[str, dict[str, torch.Tensor]] | None = None) -> np.ndarray:
        """Grid: real A, fake B, rec A / real B, fake A, rec B (central crop of each split's first frame)."""
        nets = {"G_AB": self.G_AB, "G_BA": self.G_BA}
        if generators is not None:
            nets = {k: copy.deepcopy(v) for k, v in nets.items()}
            for k, net in nets.items():
                net.load_state_dict(generators[k])
        rows = []
        for split, forward, backward in (
            (self.data[0], nets["G_AB"], nets["G_BA"]),
            (self.data[1], nets["G_BA"], nets["G_AB"]),
        ):
            off = (split.size - self.s.crop_size) // 2
            window = (slice(0, 1), slice(off, off + self.s.crop_size), slice(off, off + self.s.crop_size))
            batch = to_tensors(np.asarray(split.frames[window]), np.asarray(split.masks[window]), self.device)
            real = mask_background(batch.images, batch.masks) if self.s.mask_input else batch.images
            modes = [forward.training, backward.training]
            forward.eval(), backward.eval()
            fake = forward(real)
            rec = backward(fake)
            forward.train(modes[0]), backward.train(modes[1])
            rows.append(torch.cat([real, fake, rec], 3))
        grid = torch.cat(rows, 2)[0].float().clamp(-1, 1)
        return ((grid + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def _save_png(path: Path, image: np.ndarray) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


@register_trainer("cyclegan", stepper=CycleGANTrainer)
def train_cyclegan(
    settings: TrainSettings,
    data_a: PreparedSplit,
    data_b: PreparedSplit,
    out_dir: str | Path,
    seed: int,
    device: str = "cpu",
    progress: bool = True,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train (or resume from ``out_dir/ckpt/last.pt``), write the run's outputs, return train.json's content.

    ``stop_after`` ends the process as if killed after that many steps (no outputs beyond the
    periodic checkpoints): the hook with which tests check that resuming is exact.
    """
    s = settings
    out = Path(out_dir)
    ckpt_path = out / "ckpt" / "last.pt"
    trainer = CycleGANTrainer(s, data_a, data_b, seed, device)
    elapsed = 0.0
    state = load_checkpoint(ckpt_path, trainer.device)
    if state is not None and trainer.compatible(state):
        trainer.load_state_dict(state)
        elapsed = state["elapsed"]
        log.info("resuming %s from step %d", out, trainer.step)
    elif state is not None:
        log.warning("%s: checkpoint from different settings or seed; training from scratch", ckpt_path)
    resumed_from = trainer.step
    good, good_step = trainer.generator_state(), trainer.step
    diverged_step: int | None = None  # 1-based number of the first step with a non-finite loss
    window_start = time.perf_counter()
    run_start = window_start
    window_steps = 0
    window_rates: list[float] = []
    bar = tqdm(
        total=s.total_steps,
        initial=trainer.step,
        desc=f"train {out.name}",
        disable=not progress or not sys.stderr.isatty(),
        dynamic_ncols=True,
    )
    with bar:
        while trainer.step < s.total_steps:
            step = trainer.step
            trainer.log.add(step, trainer.train_step(step))
            trainer.step = step + 1
            window_steps += 1
            bar.update()
            done = trainer.step
            at_log, at_ckpt = done % s.log_every == 0, done % s.checkpoint_every == 0
            if at_log or at_ckpt or done == s.total_steps:
                bad = trainer.log.diverged_at()
                if bad is not None or not trainer.generators_finite():
                    diverged_step = done if bad is None else bad + 1
                    trainer.log.flush(
                        done,
                        {"lr": s.lr * lr_factor(step, s.steps, s.steps_decay), "sec_per_step": float("nan")},
                    )
                    break
                good, good_step = trainer.generator_state(), done
                if at_log or done == s.total_steps:
                    now = time.perf_counter()
                    rate = (now - window_start) / window_steps
                    window_rates.append(rate)
                    row = trainer.log.flush(
                        done, {"lr": s.lr * lr_factor(step, s.steps, s.steps_decay), "sec_per_step": rate}
                    )
                    bar.set_postfix({k: f"{row[k]:.3g}" for k in ("G_total", "D")})
                    window_start, window_steps = now, 0
                if at_ckpt or done == s.total_steps:
                    save_checkpoint(ckpt_path, trainer.state_dict(elapsed + time.perf_counter() - run_start))
                    trainer.log.write_csv(out / "losses.csv")
                    if bar.disable:  # a log file (Snakemake, SLURM) gets a line per checkpoint instead
                        log.info(
                            "%s: step %d/%d, %.3f s/step",
                            out.name,
                            done,
                            s.total_steps,
                            window_rates[-1] if window_rates else float("nan"),
                        )
            if s.sample_every and done % s.sample_every == 0:
                _save_png(out / "samples" / f"step_{done:08d}.png", trainer.samples())
            if stop_after is not None and done >= stop_after:
                return {"steps": done, "stopped": True}

    wall = elapsed + time.perf_counter() - run_start
    ran = trainer.step - resumed_from
    model = {"settings": s.to_dict(), **good}
    with atomic_path(out / "model.pt") as tmp:
        torch.save(model, tmp)
    trainer.log.write_csv(out / "losses.csv")
    _save_png(out / "samples.png", trainer.samples(good))
    last_row = next((r for r in reversed(trainer.log.rows) if np.isfinite(r["G_total"])), None)
    result = {
        "steps": good_step,
        "total_steps": s.total_steps,
        "resumed_from": resumed_from,
        "wall_time_s": wall,
        "device": str(trainer.device),
        "torch_threads": torch.get_num_threads(),
        "precision": trainer.rt.precision,
        "diverged": diverged_step is not None,
        "diverged_step": diverged_step,
        "final_losses": finite_or_none(last_row),
        "sec_per_step": (time.perf_counter() - run_start) / ran if ran else None,
        "sec_per_step_median": float(np.median(window_rates)) if window_rates else None,
    }
    write_json(out / "train.json", result)
    if diverged_step is not None:
        log.warning("%s diverged at step %d; kept the last finite weights", out, diverged_step)
    return result
