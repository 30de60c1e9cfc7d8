"""source=arch: real architectures from their published config values, random weights, no network."""

import json

import pytest
import torch

from steerlab import models
from steerlab.errors import ConfigError
from steerlab.models import model_config
from steerlab.tiny import NARROW_ARCH as NARROW
from tests.helpers import launch

PUBLISHED = {"arch_qwen3_0_6b": 0.596e9, "arch_qwen3_4b": 4.02e9, "arch_llama31_8b": 8.03e9, "arch_gemma3_4b": 3.88e9}  # text model only


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_full_width_skeleton_has_the_published_size(name):
    cfg = model_config(name)
    count = sum(p.numel() for p in models.skeleton(cfg).parameters())  # meta device: no memory
    assert count == pytest.approx(PUBLISHED[name], rel=0.01)
    cfg.layers = 2
    assert models.depth(cfg) == 2


def test_layers_out_of_range_is_one_line():
    cfg = model_config("arch_qwen3_4b")
    cfg.layers = 37
    with pytest.raises(ConfigError, match=r"model.layers=37: choose 1..36"):
        models.hf_config(cfg)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_narrow_variant_builds_in_bf16_and_runs(name):
    cfg = model_config(name)
    cfg.layers, cfg.tokenizer, cfg.device = 2, "tiny_llama", "cpu"
    cfg.arch.update(NARROW)
    model, tok = models.load(cfg)
    assert model.dtype == torch.bfloat16 and len(model.model.layers) == 2
    out = model(**tok(["The sky is"], return_tensors="pt"))
    assert torch.isfinite(out.logits.float()).all()


def test_launch_on_an_arch_model_reports_peak_memory(tmp_path):
    narrow = [f"model.arch.{k}={v}" for k, v in NARROW.items()]
    r = launch(
        [
            "model=arch_gemma3_4b",
            "model.layers=4",
            "model.tokenizer=tiny_llama",
            "adapter=lora",
            "experiment=smoke",
            "evals.builtin.pmass_min=0",
            "logger=none",
            *narrow,
        ],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "peak memory:" in r.stdout and "GB host (RSS)" in r.stdout
    (summary,) = (tmp_path / "outputs").rglob("summary.json")
    assert json.loads(summary.read_text())["calibration_separation"] != 0  # smoke's one step moves the adapter (no warmup)
