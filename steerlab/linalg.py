"""Linear algebra shared by methods, the loss and the analyses."""

from __future__ import annotations

import torch


def first_pc(x: torch.Tensor, centre: bool) -> torch.Tensor:
    """Top right-singular vector of x [n, d] (centred first if asked); deterministic, no randomized solver."""
    x = x.double()
    if centre:
        x = x - x.mean(0)
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    return vh[0].float()


def unit(v: torch.Tensor) -> torch.Tensor:
    """v / |v| (a zero vector stays zero)."""
    return v / v.norm().clamp_min(1e-12)
