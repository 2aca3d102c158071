"""Expression classifier: the quantitative metric the FacePaint study lacked.

A small CNN (:class:`~faceoff.nets.classifier.SmallClassifier`) learns to tell the expressions
apart from the train splits of every expression item, with cross-entropy on random crops and
flips. An item's label is its position in the setting ``classes`` (a fixed order, so a label
means the same in every run); an item that is not a class, or a class without an item, is an
error rather than a silently different label set.

Evaluation loads the trained model.pt with :meth:`ExpressionClassifier.from_file` and asks which
share of translated faces it classifies as the target expression (:meth:`target_share`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from faceoff.datasets.crops import center_offset, center_window
from faceoff.datasets.jaffe import EXPRESSIONS
from faceoff.datasets.prepared import PreparedSplit
from faceoff.nets.classifier import SmallClassifier
from faceoff.train.checkpoint import load_model
from faceoff.train.data import STREAM_A, draw_crops, step_rng, to_tensors
from faceoff.train.loop import Stepper, cpu_copy
from faceoff.train.optim import make_optimizer, set_lr
from faceoff.train.registry import ModelSpec, register_model
from faceoff.train.settings import BaseSettings, SettingsError

_CORRECT, _WRONG = (40, 200, 60), (220, 40, 40)  # sample-grid frame colours


@dataclass(frozen=True)
class ClassifierSettings(BaseSettings):
    model: str = "expression_classifier"
    lr: float = 1e-3
    beta1: float = 0.9
    steps: int = 450  # about 25 s on two CPU cores at 64 px
    steps_decay: int = 150
    batch_size: int = 32
    crop_size: int = 64
    log_every: int = 25
    classes: tuple[str, ...] = EXPRESSIONS  # label = position in this list (JAFFE's code order)
    width: int = 16  # channels of the first block; doubled per block
    n_blocks: int = 4
    dropout: float = 0.2
    # Channels-last on every device: each block max-pools, and CPU pooling is about six times as
    # fast channels-last (faceoff bench, 64 px, bf16: 2.06x the plain step, 1.47x without it).
    channels_last: bool | None = True

    def validate(self) -> None:
        super().validate()
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise SettingsError(f"classes must list at least two distinct items, got {list(self.classes)}")
        self.require_positive("width", "n_blocks")
        if not 0 <= self.dropout < 1:
            raise SettingsError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.crop_size < 2**self.n_blocks:
            raise SettingsError(f"crop_size {self.crop_size} < {2**self.n_blocks}, too small for n_blocks")


class LabelledFrames:
    """The train splits of all class items pooled; a frame's label is its item's position in ``classes``.

    :meth:`sample` draws frames uniformly over the pool (so classes count as often as they have
    frames), each randomly cropped and maybe mirrored, from a caller-seeded generator.
    """

    def __init__(self, splits: Mapping[str, PreparedSplit], classes: Sequence[str]) -> None:
        unknown = sorted(set(splits) - set(classes))
        if unknown:
            raise SettingsError(
                f"items {unknown} are not in the setting 'classes' ({', '.join(classes)}): "
                "a label is an item's position in 'classes', so every item must be one"
            )
        missing = [c for c in classes if c not in splits]
        if missing:
            raise SettingsError(
                f"classes {missing} of the setting 'classes' have no train split: "
                "set 'classes' to the items the dataset has"
            )
        self.classes = tuple(classes)
        self.splits = [splits[c] for c in self.classes]
        sizes = {split.size for split in self.splits}
        if len(sizes) != 1:
            raise ValueError(f"the class items' frames differ in size ({sorted(sizes)}); prepare them alike")
        self.size = sizes.pop()
        self.counts = [len(split) for split in self.splits]
        self.starts = np.cumsum([0, *self.counts])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def sample(
        self, rng: np.random.Generator, batch_size: int, crop: int, flip: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Frames uint8 (B, crop, crop, 3), their masks uint8 (B, crop, crop) and labels int64 (B,)."""
        picks, offsets, mirror = draw_crops(rng, len(self), self.size, batch_size, crop, flip)
        labels = np.searchsorted(self.starts, picks, side="right") - 1
        frames = np.empty((batch_size, crop, crop, 3), np.uint8)
        masks = np.empty((batch_size, crop, crop), np.uint8)
        for i, (pick, label, (y, x), m) in enumerate(zip(picks, labels, offsets, mirror, strict=True)):
            split, frame = self.splits[label], pick - self.starts[label]
            columns = slice(x + crop - 1, x - 1 if x else None, -1) if m else slice(x, x + crop)
            frames[i] = split.frames[frame, y : y + crop, columns]
            masks[i] = split.masks[frame, y : y + crop, columns]
        return frames, masks, labels.astype(np.int64)

    def centre(self, label: int, frames: slice | int, crop: int) -> tuple[np.ndarray, np.ndarray]:
        """Centre crops (frames and masks) of some frames of one class."""
        split = self.splits[label]
        picked = np.arange(len(split))[frames]
        return center_window(split.frames, crop, picked), center_window(split.masks, crop, picked)


class ClassifierStepper(Stepper):
    """losses.csv: ``ce`` the cross-entropy and ``acc`` the accuracy of the training batches."""

    losses: ClassVar[list[str]] = ["ce", "acc"]

    def __init__(
        self, settings: ClassifierSettings, splits: Mapping[str, PreparedSplit], seed: int, device: str
    ) -> None:
        super().__init__(settings, seed, device)
        self.data = LabelledFrames(splits, settings.classes)
        s = settings
        self.net = self.place(SmallClassifier(len(s.classes), s.width, s.n_blocks, s.dropout))
        self.opt = make_optimizer("adam", self.net.parameters(), s.lr, s.betas, self.rt.fused_optimizer)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.rt.grad_scaling)

    def train_step(self, step: int) -> torch.Tensor:
        s = self.s
        set_lr(self.opt, self.current_lr(step))
        frames, _, labels = self.data.sample(
            step_rng(self.seed, step, STREAM_A), s.batch_size, s.crop_size, s.flip
        )
        images = to_tensors(frames, None, self.device).images
        target = torch.from_numpy(labels).to(self.device)
        self.net.train()
        with self.rt.autocast():
            logits = self.net(images)
            ce = F.cross_entropy(logits.float(), target)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(ce).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        acc = (logits.detach().argmax(1) == target).float().mean()
        return torch.stack([ce.detach().float(), acc])

    def weights(self) -> dict[str, Any]:
        return {"net": cpu_copy(self.net), "classes": list(self.s.classes), "frame_size": self.data.size}

    def _classifier(self, weights: dict[str, Any] | None) -> ExpressionClassifier:
        return ExpressionClassifier(
            {"settings": self.s.to_dict(), **(self.weights() if weights is None else weights)}, self.device
        )

    def samples(self, weights: dict[str, Any] | None = None) -> np.ndarray:
        """One centre crop per class, framed green where the classifier gets it right, red where not."""
        frames = np.concatenate(
            [self.data.centre(k, slice(0, 1), self.s.crop_size)[0] for k in range(len(self.s.classes))]
        )
        right = self._classifier(weights).predict(frames) == np.arange(len(frames))
        side = self.s.crop_size + 6
        tiles = []
        for frame, ok in zip(frames, right, strict=True):
            tile = np.full((side, side, 3), _CORRECT if ok else _WRONG, np.uint8)
            tile[3:-3, 3:-3] = frame
            tiles.append(tile)
        return np.concatenate(tiles, axis=1)

    def info(self) -> dict[str, Any]:
        """Train frames per class and the accuracy on their centre crops (how well it fits)."""
        classifier = self._classifier(None)
        correct = 0
        for k, count in enumerate(self.data.counts):
            for start in range(0, count, 256):
                frames, _ = self.data.centre(k, slice(start, start + 256), self.s.crop_size)
                correct += int((classifier.predict(frames) == k).sum())
        return {
            "classes": list(self.s.classes),
            "train_frames": dict(zip(self.s.classes, self.data.counts, strict=True)),
            "train_accuracy": correct / len(self.data),
        }

    def parts(self) -> dict[str, Any]:
        return {"net": self.net, "opt": self.opt, "scaler": self.scaler}


class ExpressionClassifier:
    """A trained classifier in eval mode: ``predict`` class indices, ``target_share`` of a class.

    Frames are fitted to what it was trained on: crop-sized frames are used as they are, frames at
    the prepared size are centre-cropped, frames of any other size are first resized to the
    prepared size (the same face framing at another resolution).
    """

    def __init__(self, model: dict[str, Any], device: str | torch.device = "cpu") -> None:
        s = model["settings"]
        self.classes: tuple[str, ...] = tuple(model["classes"])
        self.crop, self.frame_size = int(s["crop_size"]), int(model["frame_size"])
        self.device = torch.device(device)
        net = SmallClassifier(len(self.classes), s["width"], s["n_blocks"], s["dropout"])
        net.load_state_dict(model["net"])
        self.net = net.to(self.device).eval()

    @classmethod
    def from_file(
        cls, model_path: str | os.PathLike[str], device: str | torch.device = "cpu"
    ) -> ExpressionClassifier:
        model = load_model(model_path)
        if model["settings"].get("model") != ClassifierSettings.model:
            raise ValueError(
                f"{model_path}: not an expression classifier (model {model['settings'].get('model')!r})"
            )
        return cls(model, device)

    def _fit(self, images: torch.Tensor) -> torch.Tensor:
        side = images.shape[-1]
        if images.shape[-2] != side:
            raise ValueError(f"frames must be square, got {tuple(images.shape[-2:])}")
        if side == self.crop:
            return images
        if side != self.frame_size:
            images = F.interpolate(images, size=self.frame_size, mode="bilinear", antialias=True)
        off = center_offset(self.frame_size, self.crop)
        return images[..., off : off + self.crop, off : off + self.crop]

    @torch.no_grad()
    def probabilities(self, frames: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Class probabilities (N, len(classes)) of uint8 (N, S, S, 3) frames."""
        out = np.empty((len(frames), len(self.classes)), np.float32)
        for start in range(0, len(frames), batch_size):
            chunk = slice(start, start + batch_size)
            images = self._fit(to_tensors(np.asarray(frames[chunk]), None, self.device).images)
            out[chunk] = torch.softmax(self.net(images).float(), 1).cpu().numpy()
        return out

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """Class indices int64 (N,) into :attr:`classes`."""
        return self.probabilities(frames).argmax(1).astype(np.int64)

    def target_share(self, frames: np.ndarray, target: str) -> float:
        """Share of ``frames`` classified as class ``target`` (e.g. translated faces and their target)."""
        if target not in self.classes:
            raise ValueError(f"class {target!r} is not one of the classifier's {', '.join(self.classes)}")
        if not len(frames):
            raise ValueError("target_share needs at least one frame")
        return float((self.predict(frames) == self.classes.index(target)).mean())


register_model(
    ModelSpec("expression_classifier", ClassifierSettings, ClassifierStepper, translator=None, data="dataset")
)
