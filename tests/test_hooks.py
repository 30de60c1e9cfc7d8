import torch

from steerlab.hooks import add_vectors, capture_outputs
from steerlab.layers import decoder_layers
from tests.helpers import logits


def layer_output(model, enc, layer: int, vectors: dict | None = None, coeff: float = 1.0) -> torch.Tensor:
    """Output of decoder layer `layer`, optionally with steering vectors added."""
    layers = decoder_layers(model)
    with torch.no_grad(), add_vectors(model, layers, vectors or {}, coeff), capture_outputs({layer: layers[layer]}) as out:
        model(**enc)
    return out[layer]


def test_add_vectors_shifts_exactly_the_residual(tiny):
    model, tok = tiny
    enc = tok(["The weather today is"], return_tensors="pt")
    v = torch.randn(model.config.hidden_size)
    base = layer_output(model, enc, 2)
    steered = layer_output(model, enc, 2, {2: v}, 0.5)
    assert torch.allclose(steered - base, 0.5 * v.expand_as(base), atol=1e-5)


def test_pad_positions_untouched(tiny):
    model, tok = tiny
    enc = tok(["a b c d e f", "a"], return_tensors="pt", padding=True)
    assert enc["attention_mask"][1, 0] == 0  # left padding
    v = torch.randn(model.config.hidden_size)
    base = layer_output(model, enc, 1)
    steered = layer_output(model, enc, 1, {1: v})
    assert torch.equal(steered[1, 0], base[1, 0])
    assert not torch.equal(steered[1, -1], base[1, -1])


def test_hooks_removed(tiny):
    model, tok = tiny
    layers = decoder_layers(model)
    before = logits(model, tok, ["hello"])
    with add_vectors(model, layers, {0: torch.ones(model.config.hidden_size)}, 1.0):
        pass
    assert all(not l._forward_hooks for l in layers) and not model._forward_pre_hooks
    assert torch.equal(logits(model, tok, ["hello"]), before)


def test_extraction_stops_after_the_last_layer_it_reads_and_reads_the_same_states(tiny):
    """activations.last_tokens ends each pass after its deepest module: same states as a full pass, no LM head run."""
    from steerlab.activations import last_tokens

    model, tok = tiny
    layers = decoder_layers(model)
    texts = ["The weather today is", "a b c d e f g", "Hello"]
    heads = []
    handle = model.lm_head.register_forward_hook(lambda *_: heads.append(1))
    try:
        early = last_tokens(
            model, tok, texts, {1: layers[1], 2: layers[2]}, batch_size=8, inputs=True
        )  # one batch: the padding of the full pass below
    finally:
        handle.remove()
    assert heads == []  # the LM head never ran
    enc = tok(texts, return_tensors="pt", padding=True)
    with torch.no_grad(), capture_outputs({1: layers[1], 2: layers[2]}) as out:
        model(**enc)
    for key in (1, 2):
        assert torch.equal(early[key], out[key][:, -1].float())
        assert torch.equal(early[(key, "in")], out[(key, "in")][:, -1].float())
