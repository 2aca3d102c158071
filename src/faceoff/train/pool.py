"""Image history buffer (Shrivastava et al. 2017): discriminators also see older fakes.

Swap decisions come from a caller-supplied generator so that they are reproducible per step.
"""

from __future__ import annotations

import numpy as np
import torch


class ImagePool:
    """Up to ``size`` past fakes; a query returns each new fake or, half the time once full, an old one."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, fakes: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        if self.size == 0:
            return fakes
        out = []
        for image in fakes.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif rng.random() < 0.5:
                slot = int(rng.integers(self.size))
                out.append(self.images[slot].clone())
                self.images[slot] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict[str, list[torch.Tensor]]:
        return {"images": [image.cpu() for image in self.images]}

    def load_state_dict(self, state: dict[str, list[torch.Tensor]], device: torch.device | str) -> None:
        self.images = [image.to(device) for image in state["images"]]
