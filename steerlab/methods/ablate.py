"""Directional ablation (Arditi et al. 2024), as a steering method with a signed dose.

At user coefficient c, each steered layer's output h becomes

    h − |c| · (h·v̂ − μ) · v̂ + c · k · v̂

v̂ is the unit direction of a source vector method (`source`, mean difference by default), μ the mean
projection of the unsteered training states on v̂ (last tokens, positive and negative prompts), k the
vector's length: `norm_fraction` of the layer's mean residual norm times the iso-KL scale, like every vector
method. At |c| = 1 the projection is replaced by μ + c·k (ablate, then add); in between the ablation is
partial; c = 0 is exactly the untouched model. Sign calibration flips v̂, which only the added part feels.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import torch

from steerlab.errors import ConfigError
from steerlab.hooks import add_to_outputs
from steerlab.methods.base import METHODS, registered
from steerlab.methods.vector import VectorConfig, VectorMethod, ablation

if TYPE_CHECKING:
    from steerlab.context import FitContext


def sources() -> dict[str, tuple]:
    """{name: (config, class)} of the methods whose direction can be ablated (`ablation_source` on their class)."""
    return {name: entry for name, entry in METHODS.items() if entry[1].ablation_source}


@dataclass
class AblateConfig(VectorConfig):
    name: str = "ablate"
    source: str = "mean"  # the vector method whose direction is ablated: mean | pca | probe | random | jacobian


@registered(AblateConfig)
class AblateMethod(VectorMethod):
    name = "ablate"
    cannot_export = (
        "directional ablation projects the residual stream, which a control vector (an addition) cannot express; "
        "export its source direction instead (e.g. adapter=mean)"
    )

    def __init__(self, cfg):
        super().__init__(cfg)
        if cfg.source not in sources():
            raise ConfigError(f"adapter.source={cfg.source!r}: choose one of {sorted(sources())}")
        self.means: dict[int, float] = {}

    def fit(self, ctx: FitContext) -> None:
        schema, cls = sources()[self.cfg.source]
        source = cls(schema(norm_fraction=self.cfg.norm_fraction))
        source.fit(ctx)
        self.vector, self.placement, self.meta = source.vector, source.placement, {**source.meta, "source": self.cfg.source}
        pos, neg = ctx.layer_states(sorted(self.vector.layers))
        self.means = {
            l: float((torch.cat([pos[l], neg[l]]) @ (v / v.norm().clamp_min(1e-12))).mean()) for l, v in self.vector.layers.items()
        }
        self.meta["projection_means"] = self.means

    @contextmanager
    def apply(self, model, coeff: float) -> Iterator[None]:
        """`coeff` is the applied c · sign · scale; the ablated amount is the user's |c| = |coeff| / scale."""
        if coeff == 0 or not self.vector.layers:
            yield
            return
        amount = abs(coeff) / self.scale
        layers = self.decoder(model)

        def delta(v: torch.Tensor, mean: float):
            return lambda x, y: coeff * v.to(y.device, y.dtype) - ablation(y, v, mean, amount)

        with add_to_outputs(
            model, {l: layers[l] for l in self.vector.layers}, {l: delta(v, self.means[l]) for l, v in self.vector.layers.items()}
        ):
            yield

    def tensors(self) -> dict[str, torch.Tensor]:
        return {**super().tensors(), **{f"mean.{l}": torch.tensor([m]) for l, m in self.means.items()}}

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        super().load_tensors({k: v for k, v in tensors.items() if k.startswith("layer.")})
        self.means = {int(k.split(".")[1]): float(v[0]) for k, v in tensors.items() if k.startswith("mean.")}
