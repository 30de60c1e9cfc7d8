"""Probe (concept activation vector) directions: a planted direction is recovered, held-out accuracy is recorded."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from steerlab.methods.probe import ProbeConfig, fit_probe, probe_direction
from steerlab.methods.registry import build


def planted(n=2000, d=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(d, generator=g)
    u /= u.norm()
    base = torch.randn(n, d, generator=g)
    return u, base[: n // 2] + 1.0 * u, base[n // 2 :] - 1.0 * u


@pytest.mark.parametrize("kind,hidden", [("linear", 0), ("mlp", 8), ("mlp", 32)])
def test_probe_recovers_a_planted_direction(kind, hidden):
    u, pos, neg = planted()
    cfg = OmegaConf.structured(ProbeConfig(kind=kind, hidden=hidden or 32))
    found = probe_direction(fit_probe(pos, neg, cfg), pos, neg)
    assert float(found @ u / found.norm()) >= 0.95


def test_probe_method_reports_held_out_accuracy(tiny_ctx):
    method = build({"name": "probe"})
    method.fit(tiny_ctx)
    acc = method.meta["probe_accuracy"]
    assert set(acc) == set(tiny_ctx.steer_layers) and all(0 <= a <= 1 for a in acc.values())
    assert all(a > 0.5 for a in method.meta["probe_train_accuracy"].values())  # better than chance on its own data
