"""Mean difference of positive and negative last-token states (SPEC §2.1 `mean`)."""

from __future__ import annotations

from dataclasses import dataclass

from steerlab.methods.base import registered
from steerlab.methods.vector import VectorConfig, VectorMethod


@dataclass
class MeanConfig(VectorConfig):
    name: str = "mean"


@registered(MeanConfig)
class MeanMethod(VectorMethod):
    name = "mean"
    ablation_source = True  # adapter=ablate can remove this direction

    def direction(self, pos, neg, layer, ctx):
        return (pos - neg).mean(0)
