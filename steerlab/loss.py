"""The contrastive hidden-state loss of SPEC §3, shared by every trained adapter.

Separations are divided by the mean norm of the reference coordinates at that layer, so they are dimensionless
(fractions of the typical residual size) and `beta`, `lr` and the margins carry over between models.
The loss is a sum of one term per coefficient coeff ∈ {+1, −1}; each can be back-propagated on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from steerlab.config import LossSpace, LossType, PrefDir
from steerlab.layers import base_linear, find_modules, readout_index
from steerlab.linalg import first_pc

DEFAULT_BASIS_MODULE = {LossSpace.u: "down_proj", LossSpace.v: "up_proj"}


@dataclass
class Reference:
    """coeff = 0 quantities of a pair set, computed once: hidden {layer: [n, K, d]} and token log-probs [n, K]."""

    h_pos: dict[int, torch.Tensor]
    h_neg: dict[int, torch.Tensor]
    lp_pos: torch.Tensor
    lp_neg: torch.Tensor


def basis(layers, loss_layer: int, cfg) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(B [d, k], singular values [k]) of the loss space at `loss_layer`; (None, None) for hs.

    u: left singular vectors of a module of layer ℓ−1 that writes the stream; v: right singular vectors of a module
    of layer ℓ that reads it (ℓ = depth has no reader; pick u there).
    """
    space = LossSpace(cfg.space)
    if space == LossSpace.hs:
        return None, None
    name = cfg.module or DEFAULT_BASIS_MODULE[space]
    owner = readout_index(loss_layer) if space == LossSpace.u else loss_layer
    mod = base_linear(next(iter(find_modules(layers[owner], [name]).values())))  # the frozen weight, under any adapter
    u, s, vh = torch.linalg.svd(mod.weight.detach().float(), full_matrices=False)
    return (u if space == LossSpace.u else vh.T), s


class ContrastiveLoss:
    """Fixed parts of the loss for one pair set: basis, preference direction, unit, and the reference separations
    and log-probs per pair (the coeff = 0 side of every term, computed once)."""

    def __init__(self, cfg, ref: Reference, bases: dict[int, tuple]):
        self.cfg, self.bases = cfg, bases
        self.unit, self.dirs = {}, {}
        for l in ref.h_pos:
            coords = torch.cat([self.coords(ref.h_pos[l], l), self.coords(ref.h_neg[l], l)])
            self.unit[l] = float(coords.norm(dim=-1).mean().clamp_min(1e-12))
            self.dirs[l] = self.direction(self.coords(ref.h_pos[l], l).mean(1) - self.coords(ref.h_neg[l], l).mean(1))
        everyone = torch.arange(ref.lp_pos.shape[0])
        self.s_ref = {l: self.separation(ref.h_pos[l], ref.h_neg[l], l, everyone) for l in ref.h_pos}  # constant: once
        self.lp_pos, self.lp_neg = ref.lp_pos, ref.lp_neg
        self.loss_type = LossType(cfg.loss_type)  # converted once, read at every step

    def coords(self, h: torch.Tensor, layer: int) -> torch.Tensor:
        b, s = self.bases[layer]
        if b is None:
            return h.float()
        c = h.float() @ b.to(h.device)
        return c / s.to(h.device) if self.cfg.snorm else c

    def direction(self, diffs: torch.Tensor) -> torch.Tensor:
        """Unit preference direction [k] from per-pair reference differences [n, k] (per_sample: kept per pair)."""
        mode = PrefDir(self.cfg.pref_dir)
        if mode == PrefDir.per_sample:
            return diffs / diffs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        d = diffs.mean(0) if mode == PrefDir.mean else first_pc(diffs, centre=False)
        d = d if float((diffs @ d).mean()) >= 0 else -d
        return d / d.norm().clamp_min(1e-12)

    def separation(self, h_pos, h_neg, layer: int, idx: torch.Tensor) -> torch.Tensor:
        """s per pair [B]: mean over tokens of ((h_pos − h_neg) B) · d, in units of the reference norm."""
        d = self.dirs[layer].to(h_pos.device)
        d = d[idx][:, None, :] if d.dim() == 2 else d
        diff = self.coords(h_pos, layer) - self.coords(h_neg, layer)
        return (diff * d).sum(-1).mean(-1) / self.unit[layer]

    def terms(self, coeff: float, h_pos: dict, h_neg: dict, lp_pos, lp_neg, idx) -> dict[str, torch.Tensor]:
        """Loss components for one coefficient coeff = ±1 on the batch of pairs `idx`."""
        c, out, dev = self.cfg, {}, lp_pos.device
        for l in h_pos:
            sep = self.separation(h_pos[l], h_neg[l], l, idx)  # on layer l's device (device_map="auto" may spread layers)
            gap = coeff * (sep - self.s_ref[l][idx].to(sep.device))
            if self.loss_type == LossType.logsigmoid:
                out[f"logsigmoid/layer_{l}"] = (-F.logsigmoid(c.beta * gap).mean()).to(dev)
            else:
                out[f"proj/layer_{l}"] = (-(torch.sign(gap) * torch.log1p(gap.abs()) if c.symlog else gap).mean()).to(dev)
        ref_pos, ref_neg = self.lp_pos[idx].to(dev), self.lp_neg[idx].to(dev)
        if c.coh_weight:
            drop = torch.cat([ref_pos - lp_pos, ref_neg - lp_neg])
            out["coh"] = c.coh_weight * F.relu(drop - c.coh_margin).mean()
        if c.mono_weight:
            shift = (lp_pos.mean(-1) - lp_neg.mean(-1)) - (ref_pos.mean(-1) - ref_neg.mean(-1))
            out["mono"] = c.mono_weight * F.relu(c.mono_margin - coeff * shift).mean()
        return out
