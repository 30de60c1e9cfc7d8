"""Random-direction baseline with the same norm as the other vectors (SPEC §2.1 `random`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from steerlab.fields import ranged
from steerlab.methods.base import registered
from steerlab.methods.vector import VectorConfig, VectorMethod


@dataclass
class RandomConfig(VectorConfig):
    name: str = "random"
    seed: int = ranged(0, ">=0")  # added to the run seed


@registered(RandomConfig)
class RandomMethod(VectorMethod):
    name = "random"
    ablation_source = True  # adapter=ablate can remove this direction

    def directions(self, pos, neg, ctx):
        """Gaussian directions, one per steered layer in order, from one generator seeded by run seed + `seed`."""
        gen = torch.Generator().manual_seed(ctx.seed + self.cfg.seed)
        self.meta["random_seed"] = ctx.seed + self.cfg.seed
        return {l: torch.randn(pos[l].shape[-1], generator=gen) for l in ctx.steer_layers}
