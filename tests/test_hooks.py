import torch

from steerlab.hooks import add_vectors, capture_outputs
from steerlab.layers import decoder_layers

from .conftest import logits


def test_add_vectors_shifts_exactly_the_residual(tiny):
    model, tok = tiny
    layers = decoder_layers(model)
    enc = tok(["The weather today is"], return_tensors="pt")
    v = torch.randn(model.config.hidden_size)
    with torch.no_grad(), capture_outputs({2: layers[2]}) as plain:
        model(**enc)
        base = plain[2].clone()
    with torch.no_grad(), add_vectors(model, layers, {2: v}, 0.5), capture_outputs({2: layers[2]}) as steered:
        model(**enc)
    assert torch.allclose(steered[2] - base, 0.5 * v.expand_as(base), atol=1e-5)


def test_pad_positions_untouched(tiny):
    model, tok = tiny
    layers = decoder_layers(model)
    enc = tok(["a b c d e f", "a"], return_tensors="pt", padding=True)
    assert enc["attention_mask"][1, 0] == 0  # left padding
    v = torch.randn(model.config.hidden_size)
    with torch.no_grad(), capture_outputs({1: layers[1]}) as plain:
        model(**enc)
        base = plain[1].clone()
    with torch.no_grad(), add_vectors(model, layers, {1: v}, 1.0), capture_outputs({1: layers[1]}) as steered:
        model(**enc)
    assert torch.equal(steered[1][1, 0], base[1, 0])
    assert not torch.equal(steered[1][1, -1], base[1, -1])


def test_hooks_removed(tiny):
    model, tok = tiny
    layers = decoder_layers(model)
    before = logits(model, tok, ["hello"])
    with add_vectors(model, layers, {0: torch.ones(model.config.hidden_size)}, 1.0):
        pass
    assert all(not l._forward_hooks for l in layers) and not model._forward_pre_hooks
    assert torch.equal(logits(model, tok, ["hello"]), before)
