"""Mean difference of positive and negative last-token states (SPEC §2.1 `mean`)."""

from __future__ import annotations

from dataclasses import dataclass

from steerlab.methods.vector import VectorConfig, VectorMethod


@dataclass
class MeanConfig(VectorConfig):
    name: str = "mean"


class MeanMethod(VectorMethod):
    name = "mean"

    def direction(self, pos, neg, layer, ctx):
        return (pos - neg).mean(0)
