"""Weight-space vector (SPEC §2.1 `svd_delta`): shift a module's singular-value coordinates by the mean contrast."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import torch
from omegaconf import MISSING

from steerlab.activations import pair_states
from steerlab.fields import ranged
from steerlab.hooks import add_to_outputs
from steerlab.methods.base import Method, registered

if TYPE_CHECKING:
    from steerlab.context import FitContext


@dataclass
class SVDDeltaConfig:
    name: str = MISSING
    norm_fraction: float = ranged(0.01, ">0")  # c = 1 adds, on average, this fraction of the layer's mean residual norm


def svd_basis(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(U [d_out, r], V [d_in, r]) of W = U diag(S) V^T, in float32."""
    u, _, vh = torch.linalg.svd(weight.detach().float(), full_matrices=False)
    return u, vh.T


def delta_out(x: torch.Tensor, u: torch.Tensor, v: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """((x @ V) * δ) @ U^T — input-dependent, any output width."""
    return ((x.float() @ v) * delta) @ u.T


def _delta_hook(u: torch.Tensor, v: torch.Tensor, d: torch.Tensor, coeff: float):
    """The output hook's addend: coeff · delta_out(x), in the output's dtype."""
    return lambda x, y: (coeff * delta_out(x, u, v, d)).to(y.dtype)


@registered(SVDDeltaConfig)
class SVDDeltaMethod(Method):
    name = "svd_delta"
    has_direction = False  # input-dependent: no single residual direction
    cannot_export = "its edit is input-dependent (a weight-space change), not a fixed residual vector; evaluate it in steerlab"

    def __init__(self, cfg):
        super().__init__(cfg)
        self.deltas: dict[str, torch.Tensor] = {}  # "layer.module" -> δ [r] (already scaled)
        self._bases: dict[str, tuple] = {}  # recomputed from the model's weights, never saved

    def _targets(self, model) -> dict[str, torch.nn.Linear]:
        return {key: mod for key, (_, _, mod) in self.placement.linears(model).items()}

    def fit(self, ctx: FitContext) -> None:
        super().fit(ctx)
        targets = self._targets(ctx.model)
        layers = ctx.placement.decoder(ctx.model)
        mods = {**targets, **{f"res.{l}": layers[l] for l in ctx.steer_layers}}
        pos, neg = pair_states(ctx.model, ctx.tok, ctx.train, mods, ctx.batch_size, ctx.readout_tokens, inputs=True)
        for key, mod in targets.items():
            u, v = self._basis(key, mod)
            delta = ((pos[key] - neg[key]) @ u).mean(0)  # [r]
            x = torch.cat([pos[(key, "in")], neg[(key, "in")]])
            res = f"res.{key.split('.')[0]}"
            target_norm = self.cfg.norm_fraction * torch.cat([pos[res], neg[res]]).norm(dim=-1).mean()
            added = delta_out(x, u, v, delta).norm(dim=-1).mean().clamp_min(1e-12)
            self.deltas[key] = delta * (target_norm / added)
        self.meta["norm_fraction"] = self.cfg.norm_fraction

    def _basis(self, key, mod):
        if key not in self._bases:
            self._bases[key] = svd_basis(mod.weight)
        return self._bases[key]

    @contextmanager
    def apply(self, model, coeff: float) -> Iterator[None]:
        if coeff == 0:
            yield
            return
        targets = self._targets(model)
        fns = {}
        for key, mod in targets.items():
            u, v = (t.to(mod.weight.device) for t in self._basis(key, mod))
            d = self.deltas[key].to(mod.weight.device)
            fns[key] = _delta_hook(u, v, d, coeff)
        with add_to_outputs(model, targets, fns):
            yield

    def tensors(self):
        return {f"delta.{k}": v.contiguous() for k, v in self.deltas.items()}

    def load_tensors(self, tensors):
        self.deltas = {k.removeprefix("delta."): v for k, v in tensors.items()}
