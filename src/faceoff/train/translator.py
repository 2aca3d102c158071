"""Apply a trained model to frames: the evaluation side of a run."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from faceoff.nets import build_generator
from faceoff.nets.images import map_chunks
from faceoff.train.checkpoint import load_model
from faceoff.train.data import mask_background, to_tensors


class Translator:
    """Both generators of a trained run, in eval mode; frames must already be crop-sized."""

    def __init__(
        self, settings: dict[str, Any], generators: dict[str, dict[str, torch.Tensor]], device: str = "cpu"
    ) -> None:
        self.settings = settings
        self.mask_input = bool(settings.get("mask_input", False))
        self.device = torch.device(device)
        self.nets = {}
        for direction, key in (("AB", "G_AB"), ("BA", "G_BA")):
            net = build_generator(settings["netG"], settings["ngf"], settings["norm"])
            net.load_state_dict(generators[key])
            self.nets[direction] = net.to(self.device).eval()

    @classmethod
    def from_file(cls, model_path: str | os.PathLike[str], device: str = "cpu") -> Translator:
        model = load_model(model_path)
        return cls(model["settings"], model, device)

    def translate(
        self, direction: str, frames: np.ndarray, masks: np.ndarray | None = None, batch_size: int = 16
    ) -> np.ndarray:
        """uint8 (N, H, W, 3) frames rendered in the other domain; masks matter only for mask_input runs."""
        if direction not in self.nets:
            raise ValueError(f"direction must be 'AB' or 'BA', got {direction!r}")
        if self.mask_input and masks is None:
            raise ValueError("this model was trained on masked inputs (mask_input): pass the face masks")
        net = self.nets[direction]

        def fake(chunk: slice) -> torch.Tensor:
            batch = to_tensors(frames[chunk], None if masks is None else masks[chunk], self.device)
            return net(mask_background(batch.images, batch.masks) if self.mask_input else batch.images)

        return map_chunks(fake, frames, batch_size)
