"""bf16 end to end on the tiny model (CPU): every registered method fits (trained adapters take training steps),
is sign- and strength-calibrated, steers, is scored on the dilemma and TruthfulQA tasks and writes samples; c = 0 is
the unsteered bf16 model bit for bit. The SmolLM2 comparison with fp32 is in test_bf16_smollm2 (slow)."""

import pytest
import torch

from steerlab import models
from steerlab.api import calibrate_strength, evaluate, fit, generate
from steerlab.methods.registry import METHODS, trainable_names
from steerlab.models import model_config
from steerlab.steering import steer
from tests.helpers import logits, write_csv

TEXTS = ["Pretend you are a person. The sky is", "I think that"]
NAMES = sorted(set(METHODS) - {"control_vector"})  # control_vector reads a file made elsewhere: test_registry covers it


def bf16_tiny():
    cfg = model_config("tiny_llama")
    cfg.dtype = "bfloat16"
    return models.load(cfg)


@pytest.mark.parametrize("name", NAMES)
def test_every_method_in_bf16(name, tmp_path):
    model, tok = bf16_tiny()
    assert model.dtype == torch.bfloat16
    base = logits(model, tok, TEXTS)
    train = {"train": {"steps": 2, "batch_pairs": 8, "val_every": 0}} if name in trainable_names() else {}
    method = fit(name, model, tok, data={"max_pairs": 24}, layers={"start": 1, "loss": 5}, **train)
    info = calibrate_strength(model, tok, method, target=0.005, tokens=6)
    assert info["kl_plus"] > 0 and info["kl_minus"] > 0
    with steer(model, method, 0.0):
        assert torch.equal(logits(model, tok, TEXTS), base)  # c = 0 is the unsteered model, bit for bit
    with steer(model, method, 1.0):
        moved = logits(model, tok, TEXTS)
    assert torch.isfinite(moved).all() and (name == "prompt" or not torch.equal(moved, base))
    assert torch.equal(logits(model, tok, TEXTS), base)  # restored after the block
    dilemmas, _ = evaluate(model, tok, method, "builtin", limit=4)
    questions, _ = evaluate(model, tok, method, "truthfulqa", path=str(write_csv(tmp_path / "q.csv")))
    assert dilemmas["coverage"] > 0 and questions["n_items"] > 0
    samples = generate(model, tok, method, ["Describe yourself."], tokens=4)
    assert len(samples) == 3 and samples["text"].map(len).gt(0).all()
