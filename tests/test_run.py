"""End-to-end `python launch.py` runs on the tiny model: outputs, W&B offline run, multirun."""
import json
import math
import subprocess
import sys

import pandas as pd
import pytest

from .conftest import launch

QUICK = ["model=tiny_llama", "experiment=quick", "eval.pmass_min=0", "layers.start=1", "layers.loss=5"]


def wandb_summary(run_dir):
    wb = next(run_dir.glob("wandb/offline-run-*"))
    out = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--summary", "--json", str(wb)], capture_output=True, text=True)
    if out.returncode != 0:  # older wandb: fall back to the CLI entry point next to python
        out = subprocess.run([str(__import__("pathlib").Path(sys.executable).parent / "wandb"), "leet", "inspect", "--summary", "--json", str(wb)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_single_run_writes_everything_and_wandb_matches(tmp_path):
    proc = launch([*QUICK, "adapter=mean"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = list((tmp_path / "outputs" / "runs").glob("*/*"))
    for name in ("config.yaml", "results.parquet", "summary.json", "report.md", "dose_response.png", "method/method.json", "method/tensors.safetensors"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    results = pd.read_parquet(run / "results.parquet")
    assert len(results) == 32 * 3 and set(results["coeff"]) == {-1.0, 0.0, 1.0}
    assert summary["n_items"] > 0 and "gain" in summary and "gain_ci_low" in summary
    logged = wandb_summary(run)
    metrics = logged.get("summary") or logged.get("metrics") or logged
    scalars = {k: v for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert {"gain", "effect", "rho", "delta_nll", "n_items", "coverage", "gain_ci_low", "t", "p"} <= set(scalars)
    for key, a in scalars.items():
        b = metrics[key]
        assert (math.isnan(a) and (b is None or math.isnan(float(b)))) or a == pytest.approx(float(b)), key
    assert "S(+1)" in proc.stdout or "S(+1)" in proc.stderr  # the metric table is printed


def test_multirun_one_folder_and_wandb_run_each(tmp_path):
    """Every cell gets a folder; computed cells have their W&B run, cells repeating an identity are reused."""
    proc = launch(["-m", *QUICK, "adapter=pca,prompt", "rotate_u=true,false"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted((tmp_path / "outputs" / "multirun").glob("*/*/*/summary.json"))
    assert len(runs) == 4
    status = {s.parent.name: json.loads((s.parent / "status.json").read_text())["status"] for s in runs}
    assert status == {"0_pca": "computed", "1_pca": "reused", "2_prompt": "computed", "3_prompt": "reused"}  # rotate_u is a no-op here
    for s in runs:
        assert len(list(s.parent.glob("wandb/offline-run-*"))) == (status[s.parent.name] == "computed")
    assert sorted(json.loads(s.read_text())["method"] for s in runs) == ["pca", "pca", "prompt", "prompt"]


def wandb_history(run_dir) -> list[dict]:
    """Every history record of the run's offline .wandb log, as {key: value}."""
    wb = next(run_dir.glob("wandb/offline-run-*"))
    exe = str(__import__("pathlib").Path(sys.executable).parent / "wandb")
    out = subprocess.run([exe, "leet", "inspect", "--json", str(wb)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = []
    for line in out.stdout.splitlines():
        rec = json.loads(line)
        if rec.get("type") == "history":
            rows.append(rec["history"]["item"])
    return rows


def test_trained_multirun_with_rotate_u_logs_per_layer_losses(tmp_path):
    train = ["train.steps=4", "train.val_every=2", "data.max_pairs=32"]
    proc = launch(["-m", *QUICK, *train, "adapter=ipissa,lora,pca", "rotate_u=true,false", "layers.loss_layers=[4]"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted((tmp_path / "outputs" / "multirun").glob("*/*/*/summary.json"))
    assert len(runs) == 6
    by_method = {}
    for s in runs:
        summary = json.loads(s.read_text())
        assert {"gain", "effect", "rho", "delta_nll", "n_items", "coverage"} <= set(summary)
        by_method.setdefault(summary["method"], []).append(s.parent)
    assert sorted(by_method) == ["ipissa", "lora", "pca"]
    reused = [r.name for r in by_method["lora"] + by_method["pca"] if json.loads((r / "status.json").read_text())["status"] == "reused"]
    assert len(reused) == 2  # lora and pca ignore rotate_u: one cell each is reused, not recomputed
    for run in by_method["ipissa"] + [r for r in by_method["lora"] if r.name not in reused]:
        keys = set().union(*wandb_history(run))
        assert {"loss/proj/layer_4", "loss/proj/layer_5", "loss/coh", "loss/total", "lr", "grad_norm", "val/loss"} <= keys, keys
        assert (run / "checkpoint" / "state.pt").is_file()
    rotated = [json.loads((r / "method" / "method.json").read_text())["config"]["rotate_u"] for r in by_method["ipissa"]]
    assert sorted(rotated) == [False, True]


def test_trained_adapter_layers_at_the_loss_layer_fail_fast(tmp_path):
    proc = launch([*QUICK, "adapter=ipissa", "layers.end=5"], tmp_path, timeout=60)
    assert proc.returncode == 2
    assert "error: adapter layers [5] are at or above the loss layer 5" in proc.stderr
