"""Probe direction vs a planted direction (synthetic data): why the MLP probe standardises and uses L2 alpha 3.

    python bench/probe_planted.py

2000 points in d = 32, ±1 along a planted unit direction plus N(0, I) noise (the data of
tests/methods/test_probe.py). Prints |cos(probe direction, planted)| for the linear probe and for MLP probes of
several widths, at scikit-learn's default L2 (1e-4) and at steerlab's default (3).
"""

from __future__ import annotations

import torch
from omegaconf import OmegaConf

from steerlab.methods.probe import ProbeConfig, fit_probe, probe_direction


def planted(n=2000, d=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(d, generator=g)
    u /= u.norm()
    base = torch.randn(n, d, generator=g)
    return u, base[: n // 2] + u, base[n // 2 :] - u


def cos(kind: str, hidden: int, alpha: float) -> float:
    u, pos, neg = planted()
    found = probe_direction(fit_probe(pos, neg, OmegaConf.structured(ProbeConfig(kind=kind, hidden=hidden, alpha=alpha))), pos, neg)
    return abs(float(found @ u / found.norm()))


def main() -> None:
    print(f"linear: {cos('linear', 32, 3.0):.3f}")
    for alpha in (1e-4, 3.0):
        print(f"mlp alpha={alpha:g}: " + "  ".join(f"hidden {h}: {cos('mlp', h, alpha):.3f}" for h in (1, 2, 4, 8, 32)))


if __name__ == "__main__":
    main()
