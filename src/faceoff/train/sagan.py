"""Class-conditional self-attention GAN on the seven JAFFE expressions: FacePaint's SA-GAN.

It trains on the train splits of every expression item, a frame's class being its item's
position in ``classes``. Each step draws real faces x with classes y and, as the study did,
uniformly random target classes c; the generator renders ``G(x, c)`` (networks in
:mod:`faceoff.nets.sagan`). Each step updates the generator once, then the discriminator
``n_critic`` times, the first time on the fakes of the generator update (CycleGAN's order, which
saves a generator pass), later times on fresh batches.

``gan_mode: ce``, the study's "supervised softmax cross-entropy" objective. The paper writes
``L_D = -E[CE(X)] - E[CE(D(G(X)))]`` and ``L_G = -E[CE(y, D(G(X)))]``, where the minus signs only
make sense with CE read as a log-likelihood: both are cross-entropy losses to minimise. The label
of the real term is the real class y; the fake term names no label while the generator's names
the target y, and the text says D is "trained to identify correct classes from both real data and
data that was generated". We read this as the (K+1)-class discriminator of semi-supervised GANs:
D has K+1 logits, real faces must get their expression, generated faces the extra class "fake",
and G is penalised when D does not give G(x, c) the target class c::

    L_D = CE(y, D(x)) + CE(fake, D(G(x, c)))        L_G = CE(c, D(G(x, c)))

``ce_fake: target`` gives the other reading, in which the correct class of a generated face is
its target c (``L_D = CE(y, D(x)) + CE(c, D(G(x, c)))``): D and G then cooperate on fakes and
nothing pushes G toward realistic faces, which would fit the study's "frequent mode collapse".

``gan_mode: wgan``, the study's Wasserstein variant: D's first logit is a critic score, the
other K an auxiliary classifier (AC-GAN/StarGAN style)::

    L_D = mean D_src(G(x, c)) - mean D_src(x) + lambda_cls * CE(y, D_cls(x)) + gp_weight * GP
    L_G = -mean D_src(G(x, c)) + lambda_cls * CE(c, D_cls(G(x, c)))

The critic is kept Lipschitz by the spectral norm of every layer (SAGAN) plus, by default, the
WGAN-GP gradient penalty on real/fake interpolates (more robust than weight clipping, which
would fight the spectral norm); ``gp_weight: 0`` leaves the spectral norm alone.

Both modes may add StarGAN's reconstruction ``lambda_cycle * |G(G(x, c), y) - x|_1`` (0 by
default, as in the study), which ties the output to the input face. Optimisation follows SAGAN:
Adam with betas (``beta1: 0``, ``beta2: 0.9``) and the two-timescale rates 1e-4 (G) and 4e-4 (D);
the betas are also those of WGAN-GP (Gulrajani et al.), so the wgan mode runs at its cited ones.

A trained model translates to any class (:meth:`SAGANTranslator.translate_to`). The pipeline's
``translate("AB")`` renders the run's target item and ``"BA"`` its source: the translator is
built with the run's (source, target) items (``HA2NE-sagan-s0``: HA, NE), so the family's
``pairs`` alone decide what is rendered and scored; no setting repeats them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from faceoff.datasets.jaffe import EXPRESSIONS
from faceoff.datasets.prepared import PreparedSplit
from faceoff.losses import gan_modes, get_gan_objective, gradient_penalty, interpolation_weights
from faceoff.nets.images import from_uint8, map_chunks
from faceoff.nets.sagan import GENERATOR_MULTIPLE, SADiscriminator, SAGenerator, min_discriminator_size
from faceoff.train.classifier import LabelledFrames
from faceoff.train.data import STREAM_A, STREAM_B, STREAM_GP, step_rng, step_torch_generator, to_tensors
from faceoff.train.loop import Stepper, cpu_copy
from faceoff.train.optim import lr_factor, set_lr
from faceoff.train.registry import ModelSpec, register_model
from faceoff.train.settings import BaseSettings, SettingsError

CE_FAKE = ("fake_class", "target")


@dataclass(frozen=True)
class SAGANSettings(BaseSettings):
    model: str = "sagan"
    lr: float = 1e-4  # generator; SAGAN's two-timescale rates
    lr_D: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.9
    steps: int = 500  # about 95 s (ce) / 130 s (wgan) on two CPU cores at 64 px
    steps_decay: int = 250
    batch_size: int = 8
    crop_size: int = 64
    classes: tuple[str, ...] = EXPRESSIONS  # label = position in this list
    ngf: int = 32
    ndf: int = 32
    n_blocks: int = 3  # residual blocks at the generator's bottleneck
    n_downs_D: int = 4  # stride-2 stages of the discriminator
    attention: bool = True  # self-attention in G and D (off: the ablation)
    gan_mode: str = "ce"
    ce_fake: str = "fake_class"  # ce mode: what D must answer for a generated face
    n_critic: int = 1  # discriminator updates per generator update
    gp_weight: float = 10.0  # wgan: gradient penalty weight (0: spectral norm alone)
    lambda_cls: float = 1.0  # wgan: weight of the auxiliary classification terms
    lambda_cycle: float = 0.0  # reconstruction G(G(x, c), y) ~ x (StarGAN); 0 as in the study

    def validate(self) -> None:
        super().validate()
        # Class objectives (ce), or the registered wgan critic on D's first logit with an auxiliary
        # classifier on the others (spectral norm and gp_weight, not clipping, keep it Lipschitz).
        self.require_choices(gan_mode=(*gan_modes(classes=True), "wgan"), ce_fake=CE_FAKE)
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise SettingsError(f"classes must list at least two distinct items, got {list(self.classes)}")
        self.require_positive("ngf", "ndf", "n_blocks", "n_downs_D", "n_critic", "lr_D")
        self.require_non_negative("gp_weight", "lambda_cls", "lambda_cycle")
        if self.crop_size % GENERATOR_MULTIPLE:
            raise SettingsError(f"crop_size {self.crop_size} is not a multiple of {GENERATOR_MULTIPLE}")
        if self.crop_size < min_discriminator_size(self.n_downs_D):
            raise SettingsError(f"crop_size {self.crop_size} is too small for n_downs_D {self.n_downs_D}")


def build_generator(s: SAGANSettings) -> SAGenerator:
    return SAGenerator(len(s.classes), s.ngf, s.n_blocks, s.attention)


def discriminator_loss(
    s: SAGANSettings,
    d: SADiscriminator,
    real: torch.Tensor,
    labels: torch.Tensor,
    fake: torch.Tensor,
    targets: torch.Tensor,
    gen: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """The discriminator's terms: ``D`` (what it minimises), ``real_cls``, ``fake``, ``gp``, ``real_acc``."""
    n = real.shape[0]
    real_out, fake_out = d(torch.cat([real, fake.detach()])).float().split(n)
    k = len(s.classes)
    gp = real_out.new_zeros(())
    objective = get_gan_objective(s.gan_mode)
    if objective.classes:
        real_cls_logits = real_out[:, :k]
        fake_label = torch.full_like(targets, k) if s.ce_fake == "fake_class" else targets
        real_cls = objective.loss(real_out, labels)
        fake_term = objective.loss(fake_out, fake_label)
        total = real_cls + fake_term
    else:
        real_cls_logits = real_out[:, 1:]
        real_cls = F.cross_entropy(real_cls_logits, labels)
        fake_term = objective.loss(real_out[:, 0], True) + objective.loss(fake_out[:, 0], False)
        if s.gp_weight:  # in float32 even under autocast: a second-order gradient
            with torch.autocast(real.device.type, enabled=False):
                alpha = interpolation_weights(real.shape[0], gen)
                gp = s.gp_weight * gradient_penalty(lambda x: d(x)[:, 0], real.float(), fake.float(), alpha)
        total = fake_term + s.lambda_cls * real_cls + gp
    real_acc = (real_cls_logits.detach().argmax(1) == labels).float().mean()
    return {"D": total, "real_cls": real_cls, "fake": fake_term, "gp": gp, "real_acc": real_acc}


def generator_loss(
    s: SAGANSettings, d: SADiscriminator, fake: torch.Tensor, targets: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The generator's adversarial terms: ``G``, ``cls``, ``adv`` and ``fake_acc`` (D sees the target)."""
    out = d(fake).float()
    k = len(s.classes)
    objective = get_gan_objective(s.gan_mode)
    if objective.classes:
        cls_logits = out[:, :k]
        cls = objective.loss(out, targets)
        adv = cls.new_zeros(())
        total = cls
    else:
        cls_logits = out[:, 1:]
        cls = F.cross_entropy(cls_logits, targets)
        adv = objective.loss(out[:, 0], True)
        total = adv + s.lambda_cls * cls
    fake_acc = (cls_logits.detach().argmax(1) == targets).float().mean()
    return {"G": total, "cls": cls, "adv": adv, "fake_acc": fake_acc}


class SAGANStepper(Stepper):
    """losses.csv: ``D``/``G`` the totals; ``D_real_cls`` D's class cross-entropy on real faces;
    ``D_fake`` (ce) the cross-entropy of fakes to D's label for them, (wgan) mean critic(fake) -
    mean critic(real); ``G_cls`` the cross-entropy of D's class logits for G(x, c) to c; ``G_adv``
    (wgan) -mean critic(fake); ``GP``; ``cycle``; ``real_acc`` D's class accuracy on real faces;
    ``fake_acc`` the share of G(x, c) whose largest class logit (the "fake" logit left out) is c."""

    losses: ClassVar[list[str]] = [
        "D",
        "G",
        "D_real_cls",
        "D_fake",
        "G_cls",
        "G_adv",
        "GP",
        "cycle",
        "real_acc",
        "fake_acc",
    ]

    def __init__(
        self, settings: SAGANSettings, splits: dict[str, PreparedSplit], seed: int, device: str
    ) -> None:
        super().__init__(settings, seed, device)
        s = settings
        self.data = LabelledFrames(splits, s.classes)
        self.G = self.place(build_generator(s))
        outputs = len(s.classes) + 1  # ce: K classes + "fake"; wgan: critic score + K classes
        self.D = self.place(SADiscriminator(outputs, s.ndf, s.n_downs_D, s.attention))
        betas = (float(s.beta1), float(s.beta2))  # YAML may give ints; Adam wants two floats
        self.opt_G = torch.optim.Adam(
            self.G.parameters(), lr=s.lr, betas=betas, fused=self.rt.fused_optimizer
        )
        self.opt_D = torch.optim.Adam(
            self.D.parameters(), lr=s.lr_D, betas=betas, fused=self.rt.fused_optimizer
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.rt.grad_scaling)

    def _batch(self, step: int, substep: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Real faces, their classes and random target classes for one (sub)step."""
        s = self.s
        frames, _, labels = self.data.sample(
            step_rng(self.seed, step, STREAM_A, substep), s.batch_size, s.crop_size, s.flip
        )
        targets = step_rng(self.seed, step, STREAM_B, substep).integers(0, len(s.classes), s.batch_size)
        images = to_tensors(frames, None, self.device).images
        return images, self._long(labels), self._long(targets)

    def _long(self, values: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(values, np.int64)).to(self.device)

    def _update(self, opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(opt)
        self.scaler.update()

    def train_step(self, step: int) -> torch.Tensor:
        s = self.s
        factor = lr_factor(step, s.steps, s.steps_decay)
        set_lr(self.opt_G, s.lr * factor)
        set_lr(self.opt_D, s.lr_D * factor)
        self.G.train(), self.D.train()
        real, labels, targets = self._batch(step, 0)
        self.D.requires_grad_(False)
        with self.rt.autocast():
            fake = self.G(real, targets)
            g_terms = generator_loss(s, self.D, fake, targets)
            cycle = g_terms["G"].new_zeros(())
            if s.lambda_cycle:
                cycle = s.lambda_cycle * (self.G(fake, labels).float() - real).abs().mean()
            total = g_terms["G"] + cycle
        self._update(self.opt_G, total)
        self.D.requires_grad_(True)

        d_sums: dict[str, torch.Tensor] = {}  # discriminator terms averaged over the critic steps
        for critic_step in range(s.n_critic):
            if critic_step:  # the first critic step judges the generator step's fakes (as CycleGAN)
                real, labels, targets = self._batch(step, critic_step)
                with torch.no_grad(), self.rt.autocast():
                    fake = self.G(real, targets)
            gen = step_torch_generator(self.seed, step, STREAM_GP, critic_step)
            with self.rt.autocast():
                d_terms = discriminator_loss(s, self.D, real, labels, fake.detach(), targets, gen)
            self._update(self.opt_D, d_terms["D"])
            for key, value in d_terms.items():
                d_sums[key] = d_sums.get(key, 0.0) + value.detach().float() / s.n_critic
        values = [
            d_sums["D"], total, d_sums["real_cls"], d_sums["fake"], g_terms["cls"], g_terms["adv"],
            d_sums["gp"], cycle, d_sums["real_acc"], g_terms["fake_acc"],
        ]  # fmt: skip
        return torch.stack([v.detach().float() for v in values])

    def current_lr(self, step: int) -> float:
        return self.s.lr * lr_factor(step, self.s.steps, self.s.steps_decay)

    def weights(self) -> dict[str, Any]:
        return {"G": cpu_copy(self.G), "classes": list(self.s.classes)}

    def samples(self, weights: dict[str, Any] | None = None) -> np.ndarray:
        """Rows: the first train face of the first and the last class, then it rendered as every class."""
        translator = SAGANTranslator(
            {"settings": self.s.to_dict(), **(self.weights() if weights is None else weights)}, self.device
        )
        rows = []
        for label in (0, len(self.s.classes) - 1):
            frame = self.data.centre(label, slice(0, 1), self.s.crop_size)[0]
            outputs = [translator.translate_to(frame, c)[0] for c in self.s.classes]
            rows.append(np.concatenate([frame[0], *outputs], 1))
        return np.concatenate(rows, 0)

    def info(self) -> dict[str, Any]:
        return {
            "classes": list(self.s.classes),
            "train_frames": dict(zip(self.s.classes, self.data.counts, strict=True)),
        }

    def parts(self) -> dict[str, Any]:
        return {"G": self.G, "D": self.D, "opt_G": self.opt_G, "opt_D": self.opt_D, "scaler": self.scaler}


class SAGANTranslator:
    """The trained generator in eval mode: ``translate_to`` any class, ``translate`` between the run's
    ``items`` (source, target), which must be classes of the model."""

    def __init__(
        self, model: dict[str, Any], device: str | torch.device = "cpu", items: tuple[str, str] | None = None
    ) -> None:
        self.settings = SAGANSettings.from_dict(model["settings"])
        self.classes: tuple[str, ...] = tuple(model["classes"])
        if items is not None and (
            len(items) != 2 or items[0] == items[1] or not set(items) <= set(self.classes)
        ):
            raise SettingsError(
                f"the run's pair {'2'.join(items)} is not two different SA-GAN classes "
                f"({', '.join(self.classes)}): change the family's pairs or the variant's classes"
            )
        self.items = None if items is None else (str(items[0]), str(items[1]))
        self.device = torch.device(device)
        net = build_generator(self.settings)
        net.load_state_dict(model["G"])
        self.G = net.to(self.device).eval()

    def translate_to(self, frames: np.ndarray, class_name: str, batch_size: int = 16) -> np.ndarray:
        """uint8 (N, S, S, 3) frames rendered with expression ``class_name`` (S a multiple of 4)."""
        if class_name not in self.classes:
            raise ValueError(f"class {class_name!r} is not one of the model's {', '.join(self.classes)}")
        label = self.classes.index(class_name)

        def fake(chunk: slice) -> torch.Tensor:
            images = from_uint8(frames[chunk], self.device)
            labels = torch.full((images.shape[0],), label, dtype=torch.int64, device=self.device)
            return self.G(images, labels)

        return map_chunks(fake, frames, batch_size)

    def translate(self, direction: str, frames: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """ "AB": to the run's target item, "BA": to its source; masks are not used."""
        if direction not in ("AB", "BA"):
            raise ValueError(f"direction must be 'AB' or 'BA', got {direction!r}")
        if self.items is None:
            raise ValueError("translate('AB'/'BA') needs the run's items (load_translator(..., items=...))")
        return self.translate_to(frames, self.items[1] if direction == "AB" else self.items[0])


register_model(
    ModelSpec(
        "sagan", SAGANSettings, SAGANStepper, translator=SAGANTranslator, data="dataset", run_items=True
    )
)
