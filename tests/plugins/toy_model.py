"""A test-only model, registered by this one file: a per-pixel colour map (1x1 convolution) each way.

Named by the params ``plugins:`` list, it proves a model is one module plus params: the
training loop, checkpoints, evaluation and tables run it like a built-in model. Each direction
learns to match the other item's mean colour, with Adam, on the shared loop's random crops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from faceoff.train.loop import Stepper, cpu_copy
from faceoff.train.registry import ModelSpec, register_model
from faceoff.train.settings import BaseSettings

NAME = "colour_shift"
STREAMS = {"AB": 0, "BA": 1}  # the random-crop streams of the two items


@dataclass(frozen=True)
class ColourShiftSettings(BaseSettings):
    model: str = NAME


def colour_map() -> nn.Module:
    """Identity at initialisation, so an untrained map returns its input."""
    net = nn.Conv2d(3, 3, 1)
    with torch.no_grad():
        net.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        net.bias.zero_()
    return net


class ColourShiftStepper(Stepper):
    losses: ClassVar[list[str]] = ["colour_AB", "colour_BA"]

    def __init__(
        self, settings: ColourShiftSettings, data_a: Any, data_b: Any, seed: int, device: str
    ) -> None:
        super().__init__(settings, seed, device)
        self.data = {"AB": (data_a, data_b), "BA": (data_b, data_a)}
        self.nets = nn.ModuleDict({d: colour_map() for d in STREAMS}).to(self.device)
        self.opt = torch.optim.Adam(self.nets.parameters(), lr=settings.lr, betas=settings.betas)

    def train_step(self, step: int) -> torch.Tensor:
        losses = []
        for direction, (source, target) in self.data.items():
            x = self.sample_images(source, STREAMS[direction], step)
            y = self.sample_images(target, 1 - STREAMS[direction], step)
            losses.append((self.nets[direction](x).mean((0, 2, 3)) - y.mean((0, 2, 3))).abs().sum())
        total = torch.stack(losses)
        self.opt.zero_grad()
        total.sum().backward()
        self.opt.step()
        self.step += 1
        return total.detach()

    def weights(self) -> dict[str, Any]:
        return {direction: cpu_copy(net) for direction, net in self.nets.items()}

    def samples(self, weights: dict[str, Any] | None = None) -> np.ndarray:
        frames = self.data["AB"][0].frames[:2, : self.s.crop_size, : self.s.crop_size]
        translator = ColourShiftTranslator({"settings": self.s.to_dict(), **(weights or self.weights())})
        return np.concatenate([*frames, *translator.translate("AB", frames)], axis=1)

    def state_dict(self, elapsed: float) -> dict[str, Any]:
        return {**super().state_dict(elapsed), "nets": self.nets.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.nets.load_state_dict(state["nets"])
        self.opt.load_state_dict(state["opt"])


class ColourShiftTranslator:
    def __init__(self, model: dict[str, Any], device: str = "cpu") -> None:
        self.device = torch.device(device)
        self.nets = {}
        for direction in STREAMS:
            net = nn.Conv2d(3, 3, 1)
            net.load_state_dict(model[direction])
            self.nets[direction] = net.to(self.device).eval()

    @torch.no_grad()
    def translate(self, direction: str, frames: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        x = (
            torch.from_numpy(np.ascontiguousarray(frames)).to(self.device).permute(0, 3, 1, 2).float() / 127.5
            - 1
        )
        y = self.nets[direction](x)
        return ((y.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


register_model(
    ModelSpec(
        NAME, settings=ColourShiftSettings, stepper=ColourShiftStepper, translator=ColourShiftTranslator
    )
)
