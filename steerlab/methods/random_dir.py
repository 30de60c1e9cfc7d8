"""Random-direction baseline with the same norm as the other vectors (SPEC §2.1 `random`)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from steerlab.methods.vector import VectorConfig, VectorMethod


@dataclass
class RandomConfig(VectorConfig):
    name: str = "random"
    seed: int = 0  # added to the run seed


class RandomMethod(VectorMethod):
    name = "random"

    def fit(self, ctx):
        self._gen = torch.Generator().manual_seed(ctx.seed + self.cfg.seed)
        super().fit(ctx)
        self.meta["random_seed"] = ctx.seed + self.cfg.seed

    def direction(self, pos, neg, layer):
        return torch.randn(pos.shape[-1], generator=self._gen)
