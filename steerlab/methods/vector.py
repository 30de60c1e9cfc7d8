"""Steering vectors as values with arithmetic (v * 2, -v, v1 + v2), and the base class of vector methods."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import torch
from omegaconf import MISSING

from steerlab.fields import ranged
from steerlab.hooks import add_vectors
from steerlab.layers import readout_index
from steerlab.linalg import unit
from steerlab.methods.base import Method

if TYPE_CHECKING:
    from steerlab.context import FitContext


@dataclass
class SteeringVector:
    """Per-layer residual-stream directions {layer: [d_model]}."""

    layers: dict[int, torch.Tensor]

    def _zip(self, other: "SteeringVector", op) -> "SteeringVector":
        """Layer-wise `op`; a layer missing on one side counts as zero there."""
        out = {}
        for k in sorted(set(self.layers) | set(other.layers)):
            like = self.layers.get(k, other.layers.get(k))
            out[k] = op(self.layers.get(k, torch.zeros_like(like)), other.layers.get(k, torch.zeros_like(like)))
        return SteeringVector(out)

    def __add__(self, other):
        return self._zip(other, torch.add)

    def __sub__(self, other):
        return self._zip(other, torch.sub)

    def __mul__(self, s: float):
        return SteeringVector({k: v * s for k, v in self.layers.items()})

    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def norms(self) -> dict[int, float]:
        return {k: float(v.norm()) for k, v in self.layers.items()}

    def project_out(self, hidden: torch.Tensor, layer: int, mean: float = 0.0, amount: float = 1.0) -> torch.Tensor:
        """`hidden` [..., d] with its projection on this layer's unit direction v̂ moved to `mean`:
        h − amount · (h·v̂ − mean) · v̂ (amount 1 removes the direction's variation; 0 leaves h)."""
        return hidden - ablation(hidden, self.layers[layer], mean, amount)


def ablation(hidden: torch.Tensor, direction: torch.Tensor, mean: float, amount: float) -> torch.Tensor:
    """amount · (h·v̂ − mean) · v̂, the part `project_out` removes (v̂ = direction / |direction|)."""
    v = unit(direction).to(hidden.device, hidden.dtype)
    return amount * ((hidden @ v)[..., None] - mean) * v


@dataclass
class VectorConfig:
    name: str = MISSING
    norm_fraction: float = ranged(0.01, ">0")  # c = 1 adds this fraction of the mean residual norm at each layer


class VectorMethod(Method):
    """Fit one direction per steered layer from (pos, neg) states, scale it, add c * v to the residual stream."""

    cannot_export = ""  # a fixed residual vector per layer: exactly a llama.cpp control vector

    def __init__(self, cfg):
        super().__init__(cfg)
        self.vector = SteeringVector({})

    def direction(self, pos: torch.Tensor, neg: torch.Tensor, layer: int, ctx: FitContext) -> torch.Tensor:
        """Direction of one layer from its [n_pairs, d] states (any length; it is rescaled); subclasses implement this
        or `directions`."""
        raise NotImplementedError

    def directions(self, pos: dict[int, torch.Tensor], neg: dict[int, torch.Tensor], ctx: FitContext) -> dict[int, torch.Tensor]:
        """{layer: direction} for every steered layer, in order."""
        return {l: self.direction(pos[l], neg[l], l, ctx) for l in ctx.steer_layers}

    def fit(self, ctx: FitContext) -> None:
        super().fit(ctx)
        pos, neg = ctx.layer_states(sorted(set(ctx.steer_layers) | {readout_index(ctx.loss_layer)}))  # one pass, reused by calibration
        dirs = self.directions(pos, neg, ctx)
        vecs, norms = {}, {}
        for l in ctx.steer_layers:
            norms[l] = float(torch.cat([pos[l], neg[l]]).norm(dim=-1).mean())
            vecs[l] = unit(dirs[l]) * self.cfg.norm_fraction * norms[l]
        self.vector = SteeringVector(vecs)
        self.meta.update(residual_norms=norms, norm_fraction=self.cfg.norm_fraction)

    @contextmanager
    def apply(self, model, coeff: float) -> Iterator[None]:
        with add_vectors(model, self.decoder(model), self.vector.layers, coeff):
            yield

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f"layer.{l}": v.contiguous() for l, v in self.vector.layers.items()}

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.vector = SteeringVector({int(k.split(".")[1]): v for k, v in tensors.items()})
