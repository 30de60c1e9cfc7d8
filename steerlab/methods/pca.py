"""First principal component of contrastive states, by exact SVD (SPEC §2.1 `pca`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch

from steerlab.linalg import first_pc
from steerlab.methods.base import registered
from steerlab.methods.vector import VectorConfig, VectorMethod


class PcaVariant(str, Enum):
    diff = "diff"  # PCA of pair differences, centred (repeng's pca_diff)
    center = "center"  # PCA of each activation minus its pair midpoint (repeng's pca_center)


@dataclass
class PCAConfig(VectorConfig):
    name: str = "pca"
    variant: PcaVariant = PcaVariant.center


def pca_direction(pos: torch.Tensor, neg: torch.Tensor, variant: PcaVariant) -> torch.Tensor:
    diffs = pos - neg  # [n_pairs, d]
    if variant == PcaVariant.diff:
        pc = first_pc(diffs, centre=True)
    else:
        mid = (pos + neg) / 2
        pc = first_pc(torch.cat([pos - mid, neg - mid]), centre=False)  # already centred by construction
    return pc if float((diffs @ pc).mean()) >= 0 else -pc  # mean projection of differences is positive


@registered(PCAConfig)
class PCAMethod(VectorMethod):
    name = "pca"
    ablation_source = True  # adapter=ablate can remove this direction

    def direction(self, pos, neg, layer, ctx):
        return pca_direction(pos, neg, PcaVariant(self.cfg.variant))
