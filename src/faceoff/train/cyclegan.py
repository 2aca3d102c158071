"""CycleGAN training (Zhu et al. 2017); every studied variant is a different :class:`TrainSettings`.

Two generators (A->B, B->A) and, on each side, one PatchGAN per ``n_layers_D`` entry. A step
is one generator update followed by ``n_critic`` updates of every discriminator. With
``batch_passes`` the two identity passes run in the same batch as the two translations (four
generator calls instead of six) and each discriminator sees real and fake in one call; instance
norm treats every sample on its own, so this changes float rounding only.

Optional terms of the other studies: an identity-preserving perceptual loss (portrait study,
``lambda_p``: ``||E(G(x)) - E(x)||^2`` with E a face-identity network, both directions) and a
plateau learning-rate schedule (swap study, ``lr_policy: plateau``: x``plateau_factor`` on the
generators' and the discriminators' rates separately when their validation loss has not improved
for ``plateau_patience`` evaluations). The shared loop (:mod:`faceoff.train.loop`) checkpoints,
resumes and writes the outputs.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from faceoff.datasets.crops import center_window
from faceoff.datasets.prepared import PreparedSplit
from faceoff.losses import AdversarialLoss, gradient_penalty, interpolation_weights
from faceoff.losses.cyclegan import CycleGANObjective
from faceoff.nets import build_discriminator, build_generator
from faceoff.nets.images import to_uint8
from faceoff.train.data import (
    STREAM_A,
    STREAM_B,
    STREAM_GP,
    STREAM_POOL,
    Batch,
    DeviceSplit,
    mask_background,
    step_rng,
    step_torch_generator,
    to_tensors,
)
from faceoff.train.loop import Stepper, cpu_copy
from faceoff.train.optim import lr_factor, make_optimizer, set_lr
from faceoff.train.pool import ImagePool
from faceoff.train.registry import ModelSpec, register_model
from faceoff.train.settings import TrainSettings
from faceoff.train.sides import SidePair, draws_at_random, step_of_sides
from faceoff.train.translator import Translator

log = logging.getLogger(__name__)

LOSSES = ["G_gan", "G_cycle", "G_idt", "G_ssim", "G_perc", "G_total", "D_A", "D_B", "D", "GP"]


@dataclass
class _Side:
    """The networks that judge one domain: its discriminators, their optimisers and the fake pool."""

    nets: list[nn.Module]
    optimizers: list[torch.optim.Optimizer]
    pool: ImagePool


@dataclass
class _Plateau:
    """Reduce-on-plateau state of one optimiser group: best validation loss, evaluations since, scale."""

    best: float = float("inf")
    bad: int = 0
    scale: float = 1.0

    def update(self, loss: float, patience: int, factor: float) -> None:
        if loss < self.best:
            self.best, self.bad = loss, 0
            return
        self.bad += 1
        if self.bad >= patience:
            self.scale *= factor
            self.bad = 0


class CycleGANTrainer(Stepper):
    losses: ClassVar[list[str]] = LOSSES

    def __init__(
        self, settings: TrainSettings, data_a: PreparedSplit, data_b: PreparedSplit, seed: int, device: str
    ) -> None:
        super().__init__(settings, seed, device)
        self.s: TrainSettings = settings
        self.val: tuple[PreparedSplit, PreparedSplit] | None = None
        data = [self._limit(split) for split in (data_a, data_b)]
        if settings.lr_policy == "plateau":  # the last val_frames of each train split validate
            self.val = tuple(split.take(slice(len(split) - settings.val_frames, None)) for split in data)
            data = [split.take(slice(0, len(split) - settings.val_frames)) for split in data]
        self.data = (data[0], data[1])
        self.on_device = [self._store(split) for split in self.data]
        self.G_AB = self.place(build_generator(settings.netG, settings.ngf, settings.norm))
        self.G_BA = self.place(build_generator(settings.netG, settings.ngf, settings.norm))
        self.opt_G = make_optimizer(
            settings.optimizer,
            [*self.G_AB.parameters(), *self.G_BA.parameters()],
            settings.lr,
            settings.betas,
            self.rt.fused_optimizer,
        )
        self.side_A, self.side_B = self._side(), self._side()
        self.objective = CycleGANObjective(
            AdversarialLoss(settings.gan_mode),
            settings.lambda_cycle,
            settings.lambda_identity,
            settings.lambda_ssim,
            settings.mask_weight,
            settings.ssim_form,
            settings.lambda_p,
            self.rt.batch_passes,
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.rt.grad_scaling)
        nets = [self.G_AB, self.G_BA, *self.side_A.nets, *self.side_B.nets]
        parallel = self.rt.parallel_sides and not draws_at_random(*nets)
        self.sides = SidePair(parallel, self.rt.side_threads)
        self.identity = None
        if settings.lambda_p:
            from faceoff.faces.identity_net import build_identity_net  # parses weights: only when used

            self.identity = build_identity_net(settings.identity_net, str(self.device))
        self.plateau = {"G": _Plateau(), "D": _Plateau()}
        self.val_history: list[dict[str, float]] = []

    def _limit(self, split: PreparedSplit) -> PreparedSplit:
        """The first ``train_limit`` frames (the portrait sweep trains on 200 pairs), all when unset."""
        s = self.s
        need = 1 + (s.val_frames if s.lr_policy == "plateau" else 0)
        if len(split) < need:
            raise ValueError(f"a train split of {len(split)} frames is too small (needs {need})")
        return split if s.train_limit is None else split.take(slice(0, s.train_limit))

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

    def _side(self) -> _Side:
        s = self.s
        nets = [self.place(build_discriminator(n, s.ndf, s.norm)) for n in s.n_layers_D]
        optimizers = [
            make_optimizer(s.optimizer, d.parameters(), s.lr_discriminator, s.betas, self.rt.fused_optimizer)
            for d in nets
        ]
        return _Side(nets, optimizers, ImagePool(s.pool_size))

    # ---------------------------------------------------------------- one step

    def _batch(self, side: int, step: int, substep: int = 0) -> Batch:
        s = self.s
        stream = STREAM_A if side == 0 else STREAM_B
        stored = self.on_device[side]
        if stored is None:
            batch = self.draw_batch(self.data[side], stream, step, substep, s.mask_input)
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

    def generator_losses(
        self, a: Batch, b: Batch
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """The generators' loss terms (and ``total``) and the two fakes, ``fake_b`` and ``fake_a``."""
        with self.rt.autocast():
            return self.objective.generator(
                self.G_AB,
                self.G_BA,
                self.side_A.nets,
                self.side_B.nets,
                a.images,
                b.images,
                (a.masks, b.masks),
                self.identity,
            )

    def generator_backward(
        self, a: Batch, b: Batch
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """:meth:`generator_losses` with their gradients accumulated in the generators: the two
        directions at once with ``parallel_sides`` (terms detached), else one (grad-scaled) graph."""
        if self.sides.parallel:
            return self.objective.backward_by_sides(
                self.sides.run,
                self.rt.autocast,
                (self.G_AB, self.G_BA),
                (self.side_A.nets, self.side_B.nets),
                (a.images, b.images),
                (a.masks, b.masks),
                self.identity,
            )
        terms, fake_b, fake_a = self.generator_losses(a, b)
        self.scaler.scale(terms["G_total"]).backward()
        return terms, fake_b, fake_a

    @step_of_sides
    def train_step(self, step: int) -> torch.Tensor:
        """One generator update and ``n_critic`` discriminator updates; returns the losses (on device)."""
        s = self.s
        factor = lr_factor(step, s.steps, s.steps_decay)
        set_lr(self.opt_G, s.lr * factor * self.plateau["G"].scale)
        for opt in self.side_A.optimizers + self.side_B.optimizers:
            set_lr(opt, s.lr_discriminator * factor * self.plateau["D"].scale)
        if self.val is not None and step and step % s.val_every == 0:
            self._validate()
        a, b = self.batches(step)

        discriminators = self.side_A.nets + self.side_B.nets
        for d in discriminators:
            d.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        terms, fake_b, fake_a = self.generator_backward(a, b)
        self.scaler.step(self.opt_G)
        self.scaler.update()
        for d in discriminators:
            d.requires_grad_(True)

        d_a = d_b = gp = torch.zeros((), device=self.device)
        for critic_step in range(s.n_critic):
            if critic_step:
                a, b = self.batches(step, critic_step)
                fake_b, fake_a = self.sides.run(
                    partial(self._translate, self.G_AB, a.images),
                    partial(self._translate, self.G_BA, b.images),
                )
            rng = step_rng(self.seed, step, STREAM_POOL, critic_step)
            pooled_b = self.side_B.pool.query(fake_b.detach(), rng)
            pooled_a = self.side_A.pool.query(fake_a.detach(), rng)
            gen = step_torch_generator(self.seed, step, STREAM_GP, critic_step)
            alpha_a, alpha_b = (
                self._penalty_weights(side, a.images.shape[0], gen) for side in (self.side_A, self.side_B)
            )
            (loss_a, gp_a), (loss_b, gp_b) = self.sides.run(
                partial(self._discriminator_step, self.side_A, a.images, pooled_a, alpha_a),
                partial(self._discriminator_step, self.side_B, b.images, pooled_b, alpha_b),
            )
            d_a, d_b, gp = d_a + loss_a, d_b + loss_b, gp + gp_a + gp_b
        d_a, d_b = d_a / s.n_critic, d_b / s.n_critic
        return torch.stack(
            [t.detach().float() for t in (*terms.values(), d_a, d_b, (d_a + d_b) / 2, gp / s.n_critic)]
        )

    @torch.no_grad()
    def validation_losses(self) -> tuple[float, float]:
        """Generator and discriminator losses on the held-out frames (central crops, no pool)."""
        assert self.val is not None
        totals = np.zeros(2)
        nets = [self.G_AB, self.G_BA, *self.side_A.nets, *self.side_B.nets]
        modes = [net.training for net in nets]
        for net in nets:
            net.eval()
        n = min(len(self.val[0]), len(self.val[1]))
        for start in range(0, n, 8):
            a, b = (self._central(split, slice(start, min(start + 8, n))) for split in self.val)
            terms, fake_b, fake_a = self.generator_losses(a, b)
            with self.rt.autocast():
                d_a = sum(self.objective.gan.discriminator(d(a.images), d(fake_a)) for d in self.side_A.nets)
                d_b = sum(self.objective.gan.discriminator(d(b.images), d(fake_b)) for d in self.side_B.nets)
            weight = a.images.shape[0] / n
            totals += weight * np.array([float(terms["G_total"]), float(d_a + d_b)])
        for net, mode in zip(nets, modes, strict=True):
            net.train(mode)
        return float(totals[0]), float(totals[1])

    def _central(self, split: PreparedSplit, rows: slice) -> Batch:
        crop = self.s.crop_size
        batch = to_tensors(
            center_window(split.frames, crop, rows), center_window(split.masks, crop, rows), self.device
        )
        if self.s.mask_input:
            batch.images = mask_background(batch.images, batch.masks)
        return batch

    def _validate(self) -> None:
        """Plateau schedule: one validation, then each optimiser group's scale follows its own loss."""
        s = self.s
        g_loss, d_loss = self.validation_losses()
        self.plateau["G"].update(g_loss, s.plateau_patience, s.plateau_factor)
        self.plateau["D"].update(d_loss, s.plateau_patience, s.plateau_factor)
        self.val_history.append(
            {
                "step": self.step,
                "G": g_loss,
                "D": d_loss,
                "lr_scale_G": self.plateau["G"].scale,
                "lr_scale_D": self.plateau["D"].scale,
            }
        )

    def current_lr(self, step: int) -> float:
        s = self.s
        return s.lr * lr_factor(step, s.steps, s.steps_decay) * self.plateau["G"].scale

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.identity is not None:
            out["identity_net"] = self.s.identity_net
        if self.val is not None:
            out["plateau"] = {k: asdict(v) for k, v in self.plateau.items()}
            out["validation"] = self.val_history
        return out

    def _penalty_weights(self, side: _Side, n: int, gen: torch.Generator) -> list[torch.Tensor | None]:
        """Each discriminator's WGAN-GP mixing weights (None without a penalty), drawn before the
        sides run, in the order the sides take them, so that running them at once draws the same."""
        penalty = self.objective.gan.objective.penalty
        return [interpolation_weights(n, gen) if penalty else None for _ in side.nets]

    @torch.no_grad()
    def _translate(self, generator: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """Fakes for a further critic step (on a side's thread with ``parallel_sides``)."""
        with self.rt.autocast():
            return generator(images)

    def _discriminator_step(
        self, side: _Side, real: torch.Tensor, fake: torch.Tensor, alphas: list[torch.Tensor | None]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Update each discriminator of a side once; returns the mean loss and the summed penalty."""
        s = self.s
        losses, penalties = [], []
        for d, opt, alpha in zip(side.nets, side.optimizers, alphas, strict=True):
            with self.rt.autocast():
                loss = self.objective.discriminator(d, real, fake)
            penalty = loss.new_zeros(())
            if alpha is not None:
                penalty = s.gp_weight * gradient_penalty(d, real.float(), fake.float(), alpha)
            opt.zero_grad(set_to_none=True)
            self.scaler.scale(loss + penalty).backward()
            self.scaler.step(opt)
            self.scaler.update()
            if self.objective.gan.objective.clip:
                with torch.no_grad():
                    for p in d.parameters():
                        p.clamp_(-s.clip_value, s.clip_value)
            losses.append(loss.detach().float())
            penalties.append(penalty.detach().float())
        return torch.stack(losses).mean(), torch.stack(penalties).sum()

    # ---------------------------------------------------------------- state

    def finite(self) -> bool:
        params = [*self.G_AB.parameters(), *self.G_BA.parameters()]
        return bool(torch.stack([torch.isfinite(p).all() for p in params]).all())

    def weights(self) -> dict[str, dict[str, torch.Tensor]]:
        """A detached CPU copy of both generators' weights (what model.pt keeps)."""
        return {"G_AB": cpu_copy(self.G_AB), "G_BA": cpu_copy(self.G_BA)}

    def parts(self) -> dict[str, Any]:
        return {"G_AB": self.G_AB, "G_BA": self.G_BA, "opt_G": self.opt_G, "scaler": self.scaler}

    def state_dict(self, elapsed: float) -> dict[str, Any]:
        sides = {"A": self.side_A, "B": self.side_B}
        return {
            **super().state_dict(elapsed),
            "D": {k: [d.state_dict() for d in side.nets] for k, side in sides.items()},
            "opt_D": {k: [o.state_dict() for o in side.optimizers] for k, side in sides.items()},
            "pool": {k: side.pool.state_dict() for k, side in sides.items()},
            "plateau": {k: asdict(v) for k, v in self.plateau.items()},
            "val_history": self.val_history,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        for key, side in (("A", self.side_A), ("B", self.side_B)):
            for d, sd in zip(side.nets, state["D"][key], strict=True):
                d.load_state_dict(sd)
            for opt, sd in zip(side.optimizers, state["opt_D"][key], strict=True):
                opt.load_state_dict(sd)
            side.pool.load_state_dict(state["pool"][key], self.device)
        self.plateau = {k: _Plateau(**v) for k, v in state["plateau"].items()}
        self.val_history = list(state["val_history"])

    # ---------------------------------------------------------------- samples

    @torch.no_grad()
    def samples(self, weights: dict[str, Any] | None = None) -> np.ndarray:
        """Grid: real A, fake B, rec A / real B, fake A, rec B (central crop of each split's first frame)."""
        nets = {"G_AB": self.G_AB, "G_BA": self.G_BA}
        if weights is not None:
            nets = {k: copy.deepcopy(v) for k, v in nets.items()}
            for k, net in nets.items():
                net.load_state_dict(weights[k])
        rows = []
        for split, forward, backward in (
            (self.data[0], nets["G_AB"], nets["G_BA"]),
            (self.data[1], nets["G_BA"], nets["G_AB"]),
        ):
            real = self._central(split, slice(0, 1)).images
            modes = [forward.training, backward.training]
            forward.eval(), backward.eval()
            fake = forward(real)
            rec = backward(fake)
            forward.train(modes[0]), backward.train(modes[1])
            rows.append(torch.cat([real, fake, rec], 3))
        return to_uint8(torch.cat(rows, 2)[0])


def _translator(model: dict[str, Any], device: str) -> Translator:
    return Translator(model["settings"], model, device)


register_model(ModelSpec("cyclegan", settings=TrainSettings, stepper=CycleGANTrainer, translator=_translator))
