"""Progressive CycleGAN (the study's section VI): a CycleGAN whose networks grow in ``n_stages`` stages.

Interpretation of the study ("we start with a very simple 2-layer generator and discriminator
... increase the number of layers in the generators by 2 in each step and the discriminators by
1 ... the final architecture is the same as the one used for CycleGAN, built in five steps"):

- The final networks are named with CycleGAN's keys, ``netG`` and ``n_layers_D`` (see
  :mod:`faceoff.nets.progressive`): ``resnet_9blocks`` (or ``resnet_6blocks``) grows CycleGAN's
  ResNet generator, 2 layers at stage 1, 2 more at stages 2 and 3, its residual blocks over the
  remaining stages, new layers fading in linearly over the first ``fade`` of their stage (a
  fraction); ``unet_<2^n_stages>`` grows a U-Net ``2k`` layers at stage ``k``, each new level
  starting silent (no fade). The discriminators are PatchGANs one layer deeper per stage (stage
  ``k``: ``PatchDiscriminator(k - 1)``) until ``PatchDiscriminator(n_layers_D)``, after which they
  stop growing. The paper configuration ends at the swap family's CycleGAN (ResNet-9, 3-layer
  PatchGAN), the study's "same architecture as the one used for CycleGAN".
- The run's ``steps + steps_decay`` steps are split evenly over the stages (stage ``j`` starts at
  step ``j * total // n_stages``); ``steps_per_stage`` may state the length explicitly, and must
  then agree with the total. The learning rate is constant then decays linearly over the whole
  run (:func:`~faceoff.train.optim.lr_factor`), not per stage.
- Growing happens at the first step of a stage: every trained weight is kept, new layers are
  initialised from a seed that depends only on ``(seed, stage)``, and both Adam optimisers are
  rebuilt (fresh moments: the loss surface changes with the architecture). A checkpoint records
  the stage; resuming grows to it the same way before loading weights and optimiser states, so a
  resumed run ends with the same weights as an uninterrupted one. The image pools are kept.
- Objective: CycleGAN's own (:class:`~faceoff.losses.cyclegan.CycleGANObjective`), adversarial
  (``gan_mode``: a registered objective that is no critic, lsgan, the study's least-squares form,
  or vanilla), cycle L1 times ``lambda_cycle`` and identity L1 times ``lambda_cycle *
  lambda_identity``; one generator update then one update of both discriminators on pooled fakes
  per step.

Precision (autocast) and the speed switches batch_passes (identity passes batched with the
translations, real with fake in D), parallel_sides (the two directions and the two discriminators
on two threads at once), fused_optimizer and threads apply; channels_last, compile and
data_on_device do not (the networks change shape during the run).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from faceoff.datasets.crops import center_window
from faceoff.datasets.prepared import PreparedSplit
from faceoff.losses import AdversarialLoss, gan_modes
from faceoff.losses.cyclegan import CycleGANObjective
from faceoff.nets.images import from_uint8, map_chunks, to_uint8
from faceoff.nets.norm import NORMS
from faceoff.nets.patchgan import min_input_size
from faceoff.nets.progressive import (
    ProgressiveDiscriminator,
    ProgressiveGenerator,
    ProgressiveResnetGenerator,
    resnet_block_stages,
)
from faceoff.train.data import STREAM_A, STREAM_B, STREAM_POOL, step_rng, to_tensors
from faceoff.train.loop import Stepper, cpu_copy
from faceoff.train.optim import lr_factor, make_optimizer, set_lr
from faceoff.train.pool import ImagePool
from faceoff.train.registry import ModelSpec, register_model
from faceoff.train.settings import BaseSettings, SettingsError
from faceoff.train.sides import SidePair, draws_at_random, step_of_sides

RESNET_BLOCKS = {"resnet_6blocks": 6, "resnet_9blocks": 9}
# Seeds of the layers added at each growth (faceoff.train.data numbers the per-step streams from 0).
STREAM_GROW = 17


@dataclass(frozen=True)
class ProgressiveSettings(BaseSettings):
    model: str = "progressive_cyclegan"
    n_stages: int = 5
    steps_per_stage: int | None = None  # None: (steps + steps_decay) split evenly over the stages
    netG: str = "resnet_9blocks"  # the final generator: resnet_6blocks | resnet_9blocks | unet_<2^n_stages>
    n_layers_D: tuple[int, ...] = (3,)  # the final PatchGAN's depth (one entry, as CycleGAN spells it)
    fade: float = 0.5  # resnet: share of a stage over which its new layers fade in
    ngf: int = 64
    ndf: int = 64
    norm: str = "instance"
    gan_mode: str = "lsgan"
    lr_D: float | None = None  # None: same as lr
    pool_size: int = 50
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5  # relative to lambda_cycle, as in CycleGAN

    @property
    def lr_discriminator(self) -> float:
        return self.lr if self.lr_D is None else self.lr_D

    @property
    def stage_starts(self) -> tuple[int, ...]:
        """First (0-based) step of each stage."""
        return tuple(j * self.total_steps // self.n_stages for j in range(self.n_stages))

    def stage_at(self, step: int) -> int:
        """The 1-based stage that 0-based ``step`` trains."""
        return bisect.bisect_right(self.stage_starts, step)

    def alpha_at(self, step: int) -> float:
        """How far the layers of ``step``'s stage have faded in (1 in stage 1 and after the fade)."""
        stage = self.stage_at(step)
        if stage == 1 or self.netG not in RESNET_BLOCKS:
            return 1.0
        start = self.stage_starts[stage - 1]
        end = self.stage_starts[stage] if stage < self.n_stages else self.total_steps
        length = max(1, round(self.fade * (end - start)))
        return min(1.0, (step - start + 1) / length)

    def validate(self) -> None:
        super().validate()
        self.require_choices(norm=NORMS, gan_mode=gan_modes(wasserstein=False))
        self.require_positive("n_stages", "ngf", "ndf")
        self.require_non_negative("pool_size")
        if self.total_steps < self.n_stages:
            raise SettingsError(
                f"steps + steps_decay ({self.total_steps}) must give every one of n_stages "
                f"({self.n_stages}) at least one step"
            )
        if self.steps_per_stage is not None and self.steps_per_stage * self.n_stages != self.total_steps:
            raise SettingsError(
                f"steps_per_stage {self.steps_per_stage} x n_stages {self.n_stages} != steps + steps_decay "
                f"({self.total_steps}): set steps and steps_decay to add up, or leave steps_per_stage null"
            )
        unet = f"unet_{2**self.n_stages}"
        if self.netG not in (*RESNET_BLOCKS, unet):
            raise SettingsError(
                f"netG={self.netG!r} is not one of {', '.join(RESNET_BLOCKS)}, {unet} "
                f"(for {self.n_stages} stages)"
            )
        if self.netG in RESNET_BLOCKS:
            try:
                resnet_block_stages(self.n_stages, RESNET_BLOCKS[self.netG])
            except ValueError as error:
                raise SettingsError(f"netG={self.netG!r}, n_stages={self.n_stages}: {error}") from None
        if not 0 <= self.fade <= 1:
            raise SettingsError(f"fade must be in [0, 1], got {self.fade}")
        if len(self.n_layers_D) != 1 or not 1 <= self.n_layers_D[0] <= self.n_stages - 1:
            raise SettingsError(
                f"n_layers_D must be one depth in 1..{self.n_stages - 1} (one layer per stage after the "
                f"first), got {list(self.n_layers_D)}"
            )
        multiple = 4 if self.netG in RESNET_BLOCKS else 2**self.n_stages
        smallest = min_input_size(self.n_layers_D[0])
        if self.crop_size % multiple or self.crop_size < smallest:
            raise SettingsError(
                f"crop_size {self.crop_size} must be a multiple of {multiple} and at least {smallest} "
                f"for {self.netG} and a {self.n_layers_D[0]}-layer PatchGAN"
            )


class ProgressiveStepper(Stepper):
    s: ProgressiveSettings
    losses: ClassVar[list[str]] = ["G_gan", "G_cycle", "G_idt", "G_total", "D_A", "D_B", "D"]

    def __init__(
        self,
        settings: ProgressiveSettings,
        data_a: PreparedSplit,
        data_b: PreparedSplit,
        seed: int,
        device: str,
    ) -> None:
        super().__init__(settings, seed, device)
        s = settings
        self.data = (data_a, data_b)
        self.G_AB = build_progressive_generator(s.to_dict()).to(self.device)
        self.G_BA = build_progressive_generator(s.to_dict()).to(self.device)
        # Stage k of the discriminator is PatchDiscriminator(k - 1): it stops at n_layers_D.
        self.D_A = ProgressiveDiscriminator(s.n_layers_D[0] + 1, s.ndf, s.norm).to(self.device)
        self.D_B = ProgressiveDiscriminator(s.n_layers_D[0] + 1, s.ndf, s.norm).to(self.device)
        self.pools = {"A": ImagePool(s.pool_size), "B": ImagePool(s.pool_size)}
        self.objective = CycleGANObjective(
            AdversarialLoss(s.gan_mode), s.lambda_cycle, s.lambda_identity, batch_passes=self.rt.batch_passes
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.rt.grad_scaling)
        nets = (self.G_AB, self.G_BA, self.D_A, self.D_B)
        self.sides = SidePair(self.rt.parallel_sides and not draws_at_random(*nets), self.rt.side_threads)
        self._build_optimizers()

    @property
    def stage(self) -> int:
        return self.G_AB.stage

    def _build_optimizers(self) -> None:
        s, fused = self.s, self.rt.fused_optimizer
        generators = [*self.G_AB.parameters(), *self.G_BA.parameters()]
        discriminators = [*self.D_A.parameters(), *self.D_B.parameters()]
        self.opt_G = make_optimizer("adam", generators, s.lr, s.betas, fused)
        self.opt_D = make_optimizer("adam", discriminators, s.lr_discriminator, s.betas, fused)

    def grow(self) -> None:
        """Enter the next stage: new layers seeded by ``(seed, stage)``, optimisers rebuilt."""
        stage = self.stage + 1
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(step_rng(self.seed, stage, STREAM_GROW).integers(2**63)))
            for net in (self.G_AB, self.G_BA, self.D_A, self.D_B):
                if net.stage < net.n_stages:
                    net.grow()
                    net.to(self.device)
        self._build_optimizers()

    @step_of_sides
    def train_step(self, step: int) -> torch.Tensor:
        s = self.s
        while self.stage < s.stage_at(step):
            self.grow()
        self.G_AB.alpha = self.G_BA.alpha = s.alpha_at(step)
        factor = lr_factor(step, s.steps, s.steps_decay)
        set_lr(self.opt_G, s.lr * factor)
        set_lr(self.opt_D, s.lr_discriminator * factor)
        a, b = (
            self.sample_images(self.data[0], STREAM_A, step),
            self.sample_images(self.data[1], STREAM_B, step),
        )

        self.D_A.requires_grad_(False)
        self.D_B.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        generators, judges = (self.G_AB, self.G_BA), ([self.D_A], [self.D_B])
        if self.sides.parallel:
            terms, fake_b, fake_a = self.objective.backward_by_sides(
                self.sides.run, self.rt.autocast, generators, judges, (a, b)
            )
        else:
            with self.rt.autocast():
                terms, fake_b, fake_a = self.objective.generator(*generators, *judges, a, b)
            self.scaler.scale(terms["G_total"]).backward()
        g_gan, g_cycle, g_idt, g_total = (terms[k] for k in ("G_gan", "G_cycle", "G_idt", "G_total"))
        self.scaler.step(self.opt_G)
        self.scaler.update()
        self.D_A.requires_grad_(True)
        self.D_B.requires_grad_(True)

        rng = step_rng(self.seed, step, STREAM_POOL)
        pooled_b = self.pools["B"].query(fake_b.detach(), rng)
        pooled_a = self.pools["A"].query(fake_a.detach(), rng)
        self.opt_D.zero_grad(set_to_none=True)
        if self.sides.parallel:  # the two discriminators share no weight: one backward pass each
            d_a, d_b = self.sides.run(
                partial(self._discriminator_backward, self.D_A, a, pooled_a),
                partial(self._discriminator_backward, self.D_B, b, pooled_b),
            )
        else:
            with self.rt.autocast():
                d_a = self.objective.discriminator(self.D_A, a, pooled_a)
                d_b = self.objective.discriminator(self.D_B, b, pooled_b)
            self.scaler.scale(d_a + d_b).backward()
        self.scaler.step(self.opt_D)
        self.scaler.update()
        terms = (g_gan, g_cycle, g_idt, g_total, d_a, d_b, (d_a + d_b) / 2)
        return torch.stack([t.detach().float() for t in terms])

    def _discriminator_backward(self, d: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """One discriminator's loss, back-propagated (``parallel_sides``: on a thread of its own)."""
        with self.rt.autocast():
            loss = self.objective.discriminator(d, real, fake)
        loss.backward()
        return loss.detach()

    # ---------------------------------------------------------------- state

    def weights(self) -> dict[str, Any]:
        return {
            "G_AB": cpu_copy(self.G_AB),
            "G_BA": cpu_copy(self.G_BA),
            "stage": self.stage,
            "alpha": float(getattr(self.G_AB, "alpha", 1.0)),
        }

    def info(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "stage_starts": list(self.s.stage_starts),
            # The architecture the run ended with, for the tables.
            "final_netG": self.s.netG
            if self.stage == self.s.n_stages
            else f"{self.s.netG}@stage{self.stage}",
            "final_n_layers_D": self.D_A.stage - 1,
        }

    def parts(self) -> dict[str, Any]:
        return {"opt_G": self.opt_G, "opt_D": self.opt_D, "scaler": self.scaler}  # this stage's optimisers

    def state_dict(self, elapsed: float) -> dict[str, Any]:
        return {
            **super().state_dict(elapsed),
            "stage": self.stage,
            "nets": {name: getattr(self, name).state_dict() for name in ("G_AB", "G_BA", "D_A", "D_B")},
            "pool": {key: pool.state_dict() for key, pool in self.pools.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        while self.stage < state["stage"]:  # first the architecture (and optimisers) of that stage
            self.grow()
        super().load_state_dict(state)
        for name, net_state in state["nets"].items():
            getattr(self, name).load_state_dict(net_state)
        for key, pool in self.pools.items():
            pool.load_state_dict(state["pool"][key], self.device)

    # ---------------------------------------------------------------- samples

    @torch.no_grad()
    def samples(self, weights: dict[str, Any] | None = None) -> np.ndarray:
        """Grid: real A, fake B, rec A / real B, fake A, rec B (central crop of each split's first frame)."""
        if weights is None:
            g_ab, g_ba = self.G_AB, self.G_BA
        else:
            g_ab, g_ba = (
                _generator(self.s.to_dict(), weights, key).to(self.device) for key in ("G_AB", "G_BA")
            )
        crop = self.s.crop_size
        rows = []
        for split, forward, backward in ((self.data[0], g_ab, g_ba), (self.data[1], g_ba, g_ab)):
            real = to_tensors(center_window(split.frames, crop, slice(0, 1)), None, self.device)
            modes = forward.training, backward.training
            forward.eval()
            backward.eval()
            fake = forward(real.images)
            rows.append(torch.cat([real.images, fake, backward(fake)], 3))
            forward.train(modes[0])
            backward.train(modes[1])
        return to_uint8(torch.cat(rows, 2))[0]


def build_progressive_generator(
    settings: dict[str, Any], stage: int = 1
) -> ProgressiveGenerator | ProgressiveResnetGenerator:
    """The growable generator that ends as ``settings["netG"]``, at ``stage``."""
    n_stages, ngf, norm = settings["n_stages"], settings["ngf"], settings["norm"]
    if settings["netG"] in RESNET_BLOCKS:
        return ProgressiveResnetGenerator(RESNET_BLOCKS[settings["netG"]], n_stages, ngf, norm, stage=stage)
    return ProgressiveGenerator(n_stages, ngf, norm, stage=stage)


def _generator(
    settings: dict[str, Any], model: dict[str, Any], key: str
) -> ProgressiveGenerator | ProgressiveResnetGenerator:
    """A generator of ``model`` (weights, the ``stage`` and fade ``alpha`` they were trained at)."""
    net = build_progressive_generator(settings, stage=model["stage"])
    net.load_state_dict(model[key])
    if isinstance(net, ProgressiveResnetGenerator):
        net.alpha = float(model["alpha"])
    return net


class ProgressiveTranslator:
    """The trained generators: "AB" applies G_AB, "BA" G_BA (inputs: multiples of 4 for the ResNet,
    2 ** n_stages for the U-Net)."""

    def __init__(self, model: dict[str, Any], device: str = "cpu") -> None:
        self.device = torch.device(device)
        settings = model["settings"]
        self.multiple = 4 if settings["netG"] in RESNET_BLOCKS else 2 ** settings["n_stages"]
        self.nets = {
            direction: _generator(model["settings"], model, key).to(self.device).eval()
            for direction, key in (("AB", "G_AB"), ("BA", "G_BA"))
        }

    def translate(self, direction: str, frames: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """uint8 (N, S, S, 3) frames rendered in the other domain; masks are unused."""
        if direction not in self.nets:
            raise ValueError(f"direction must be 'AB' or 'BA', got {direction!r}")
        if frames.shape[1] % self.multiple or frames.shape[2] % self.multiple:
            raise ValueError(
                f"frame sides must be multiples of {self.multiple}, got frames of shape {frames.shape}"
            )
        net = self.nets[direction]
        return map_chunks(lambda chunk: net(from_uint8(frames[chunk], self.device)), frames)


register_model(
    ModelSpec(
        "progressive_cyclegan",
        settings=ProgressiveSettings,
        stepper=ProgressiveStepper,
        translator=ProgressiveTranslator,
        data="pair",
        evaluation="translate",
    )
)
