"""InnerPiSSA (SPEC §2.3): steer a Linear layer by rotating and rescaling its own singular vectors and values.

W = U diag(S) Vᵀ; the top-r part (U_r, S_r, V_r) is steered, the residual W_res = W − U_r diag(S_r) V_rᵀ is frozen:

    y = ((x V_r R_v(α)) ⊙ S'(α)) (U_r R_u(α))ᵀ + x W_resᵀ + b

Since x W_resᵀ + b = base(x) − ((x V_r) ⊙ S_r) U_rᵀ, the forward computes the same y as

    y = base(x) + (x V_r) M(α) U_rᵀ,    M(α) = R_v(α) diag(S'(α)) R_u(α)ᵀ − diag(S_r)

which costs two rank-r products (like LoRA) and stores no copy of W_res (the test checks it against the literal form).
α is SPEC's name for the applied coefficient; the code calls it `coeff` (c · sign · strength scale, see
`steerlab.steering.applied`). `max_rotation_angle` bounds the rotation for |coeff| <= 1; an iso-KL scale k > 1
rotates further (the Cayley map stays orthogonal at every coeff).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import torch
from omegaconf import MISSING
from torch import nn

from steerlab.fields import ranged
from steerlab.methods.base import registered
from steerlab.methods.trained import TrainedMethod


class ScaleS(str, Enum):
    add2 = "add2"  # S + α·δ
    add_tanh = "add_tanh"  # S + α·tanh(δ)⊙S
    mult = "mult"  # exp(α·δ)⊙S
    none = "none"  # S


class Select(str, Enum):
    top = "top"  # largest singular values
    data = "data"  # half by variance of positive inputs, half by negative, in the SVD basis


@dataclass
class IPissaConfig:
    name: str = MISSING
    r: int = ranged(32, ">=1")
    select: Select = Select.top
    rotate_v: bool = True
    rotate_u: bool = False  # the YAML reads the top-level `rotate_u`
    scale_s: ScaleS = ScaleS.add2
    max_rotation_angle: float = ranged(0.5, "(0,3.14159)")  # radians; bounds the true rotation angle for |coeff| <= 1
    init_std: float = ranged(1e-3, ">0")  # generators and δ start small and non-zero


def skew(p: torch.Tensor, max_angle: float) -> torch.Tensor:
    """A = P − Pᵀ, rescaled so ‖A‖₂ <= 2·tan(θ/2): then the Cayley rotation at |α| <= 1 turns by at most θ."""
    a = p - p.T
    bound = 2 * math.tan(max_angle / 2)
    norm = torch.linalg.matrix_norm(a, ord=2)
    return a * torch.clamp(bound / norm.clamp_min(1e-12), max=1.0)


def cayley(a: torch.Tensor, coeff: float) -> torch.Tensor:
    """R(α) = (I − αA/2)⁻¹ (I + αA/2): orthogonal for skew A, R(0) = I, R(−α) = R(α)ᵀ."""
    eye = torch.eye(a.shape[0], dtype=a.dtype, device=a.device)
    return torch.linalg.solve(eye - coeff * a / 2, eye + coeff * a / 2)


def rotation_angle(r: torch.Tensor) -> float:
    """Largest rotation angle of an orthogonal matrix (max |arg| of its eigenvalues)."""
    return float(torch.linalg.eigvals(r.double()).angle().abs().max())


def scaled_values(s: torch.Tensor, delta: torch.Tensor, coeff: float, mode: ScaleS) -> torch.Tensor:
    if mode == ScaleS.add2:
        return s + coeff * delta
    if mode == ScaleS.add_tanh:
        return s + coeff * torch.tanh(delta) * s
    if mode == ScaleS.mult:
        return torch.exp(coeff * delta) * s
    return s


def select_components(s: torch.Tensor, v: torch.Tensor, r: int, mode: Select, x_pos=None, x_neg=None) -> torch.Tensor:
    """Indices of the r singular components to steer."""
    r = min(r, s.numel())
    if mode == Select.top or x_pos is None:
        return torch.arange(r)
    var_pos = (x_pos.float() @ v).var(0)
    var_neg = (x_neg.float() @ v).var(0)
    first = torch.argsort(var_pos, descending=True)[: r // 2]
    rest = torch.argsort(var_neg.index_fill(0, first, -1.0), descending=True)[: r - first.numel()]
    return torch.sort(torch.cat([first, rest])).values


class InnerPiSSALinear(nn.Module):
    """Wraps a Linear; `coeff` is set at run time, and α = 0 calls the wrapped layer untouched."""

    def __init__(self, base: nn.Linear, cfg, stats: tuple | None = None, generator: torch.Generator | None = None):
        """`stats` = (positive inputs, negative inputs) [n, d_in] for `select=data`; None = top-r."""
        super().__init__()
        self.base, self.cfg, self.coeff = base, cfg, 0.0
        w = base.weight.detach().float()
        u, s, vh = torch.linalg.svd(w, full_matrices=False)
        index = select_components(s, vh.T, cfg.r, Select(cfg.select), *(stats or (None, None)))
        dev = base.weight.device
        self.register_buffer("u", u[:, index].contiguous().to(dev))
        self.register_buffer("s", s[index].contiguous().to(dev))
        self.register_buffer("v", vh[index].T.contiguous().to(dev))
        self.register_buffer("index", index.to(dev))
        r = index.numel()
        noise = lambda *shape: nn.Parameter((torch.randn(*shape, generator=generator) * cfg.init_std).to(dev))
        self.p_v = noise(r, r) if cfg.rotate_v else None
        self.p_u = noise(r, r) if cfg.rotate_u else None
        self.scale_s = ScaleS(cfg.scale_s)  # converted once, read at every forward
        self.delta = noise(r) if self.scale_s != ScaleS.none else None

    def rotations(self, coeff: float) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        rot = lambda p: None if p is None else cayley(skew(p, self.cfg.max_rotation_angle), coeff)
        return rot(self.p_v), rot(self.p_u)

    def core(self, coeff: float) -> torch.Tensor:
        """M(α) = R_v diag(S') R_uᵀ − diag(S), the r×r change in the singular basis."""
        r_v, r_u = self.rotations(coeff)
        s_new = self.s if self.delta is None else scaled_values(self.s, self.delta, coeff, self.scale_s)
        m = torch.diag(s_new) if r_v is None else r_v * s_new
        if r_u is not None:
            m = m @ r_u.T
        return m - torch.diag(self.s)

    def delta_weight(self, coeff: float) -> torch.Tensor:
        """ΔW(α) [d_out, d_in] such that the steered layer is x (W + ΔW)ᵀ + b."""
        return self.u @ self.core(coeff).T @ self.v.T

    def residual(self) -> torch.Tensor:
        """W_res = W − U_r diag(S_r) V_rᵀ (not stored; for checks)."""
        return self.base.weight.detach().float() - (self.u * self.s) @ self.v.T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.coeff == 0:
            return y
        m = self.core(self.coeff).to(x.dtype)
        return y + ((x @ self.v.to(x.dtype)) @ m) @ self.u.to(x.dtype).T


@registered(IPissaConfig)
class IPissaMethod(TrainedMethod):
    name = "ipissa"
    rank_field = "r"  # the top-r singular components of each matrix: no more than its rank

    def __init__(self, cfg):
        super().__init__(cfg)
        self.wrappers: dict[str, InnerPiSSALinear] = {}

    def needs_stats(self) -> bool:
        return Select(self.cfg.select) == Select.data

    def attach(self, model, generator, stats) -> None:
        for key, (parent, attr, lin) in self.targets(model).items():
            data = None if stats is None else (stats[(key, "pos")], stats[(key, "neg")])
            self.wrappers[key] = InnerPiSSALinear(lin, self.cfg, data, generator)
            setattr(parent, attr, self.wrappers[key])

    def _tensors(self, params: bool) -> dict:
        out = {}
        for key, w in self.wrappers.items():
            pool = dict(w.named_parameters(recurse=False)) if params else dict(w.named_buffers(recurse=False))
            out.update({f"{key}.{n}": t for n, t in pool.items()})
        return out

    def trainable(self):
        return self._tensors(params=True)

    def buffers(self):
        return self._tensors(params=False)

    def set_coeff(self, coeff: float) -> None:
        for w in self.wrappers.values():
            w.coeff = coeff

    @torch.no_grad()
    def merge(self, model, coeff: float) -> None:
        self.ensure_attached(model)
        for key, (parent, attr, lin) in self.targets(model).items():
            lin.weight.copy_((lin.weight.float() + self.wrappers[key].delta_weight(coeff)).to(lin.weight.dtype))
            setattr(parent, attr, lin)
        self._pending = {k: t.clone().cpu() for k, t in self.state().items()}  # still saveable
        self.wrappers, self.model = {}, None
