"""Detached-Jacobian concept directions (SPEC §7): one steering vector per layer from a concept prompt.

For each steered layer ℓ, J is the detached Jacobian of layer ℓ's last-token output w.r.t. the input
embeddings of `prompt` (steerlab.jacobian); the direction is J's top left-singular vector, the output
direction that the prompt's embeddings drive most. Its sign is arbitrary, so it is set on the training pairs
(the mean positive − negative difference projects positively), then scaled like every vector method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from steerlab.fields import ranged
from steerlab.jacobian import layer_jacobian, reconstruction_error, top_directions
from steerlab.methods.base import registered
from steerlab.methods.vector import VectorConfig, VectorMethod

if TYPE_CHECKING:
    from steerlab.context import FitContext


@dataclass
class JacobianConfig(VectorConfig):
    name: str = "jacobian"
    prompt: str = "The concept of {concept} means"
    concept: str = "honesty"
    chunk: int = ranged(32, ">=1")  # output dimensions per backward pass (memory ∝ chunk × prompt length)


@registered(JacobianConfig)
class JacobianMethod(VectorMethod):
    name = "jacobian"
    ablation_source = True  # adapter=ablate can remove this direction

    def fit(self, ctx: FitContext) -> None:
        super().fit(ctx)
        self.meta["prompt"] = self.cfg.prompt.format(concept=self.cfg.concept)

    def direction(self, pos, neg, layer, ctx: FitContext):
        text = self.cfg.prompt.format(concept=self.cfg.concept)
        result = layer_jacobian(ctx.model, ctx.tok, text, layer, ctx.layers_path, self.cfg.chunk)
        self.meta.setdefault("reconstruction_error", {})[layer] = reconstruction_error(result)
        u = top_directions(result["J"].float().cpu(), 1)[0]
        return u if float((pos - neg).mean(0) @ u) >= 0 else -u
