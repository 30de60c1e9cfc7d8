"""End-to-end `python launch.py` runs on the tiny model: outputs, W&B offline run, multirun."""

import json
import math
import subprocess
import sys

import pandas as pd
import pytest

from tests.helpers import launch, write_csv

QUICK = ["model=tiny_llama", "experiment=quick", "evals.builtin.pmass_min=0", "layers.start=1", "layers.loss=5"]


def wandb_summary(run_dir):
    wb = next(run_dir.glob("wandb/offline-run-*"))
    out = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--summary", "--json", str(wb)], capture_output=True, text=True)
    if out.returncode != 0:  # older wandb: fall back to the CLI entry point next to python
        out = subprocess.run(
            [str(__import__("pathlib").Path(sys.executable).parent / "wandb"), "leet", "inspect", "--summary", "--json", str(wb)],
            capture_output=True,
            text=True,
        )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_single_run_writes_everything_and_wandb_matches(tmp_path):
    proc = launch([*QUICK, "adapter=mean"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = list((tmp_path / "outputs" / "runs").glob("*/*"))
    for name in (
        "config.yaml",
        "results_builtin.parquet",
        "summary.json",
        "report.md",
        "samples.md",
        "dose_response_builtin.png",
        "method/method.json",
        "method/tensors.safetensors",
    ):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    results = pd.read_parquet(run / "results_builtin.parquet")
    assert len(results) == 16 * 3 and set(results["coeff"]) == {-1.0, 0.0, 1.0}  # likelihood scoring: one row per dilemma (16 kept)
    assert (run / "ladder.parquet").is_file() and "KL ladder" in proc.stdout and "ladder: " in proc.stdout  # experiment=quick: ±1
    assert (
        summary["tasks"] == ["builtin"]
        and summary["builtin/n_items"] > 0
        and "builtin/gain" in summary
        and "builtin/gain_ci_low" in summary
    )
    strength = {
        "strength_mode",
        "strength_scale",
        "kl_target",
        "kl_plus",
        "kl_minus",
        "strength_evals",
        "strength_seconds",
        "strength_bracket_hit",
    }
    assert strength <= set(summary) and summary["strength_mode"] == "iso_kl"
    assert json.loads((run / "method" / "method.json").read_text())["scale"] == summary["strength_scale"]
    report = (run / "report.md").read_text()
    assert "strength iso_kl (target" in report and "## Steered samples" in report and "| prompt | c = -1 | c = +0 | c = +1 |" in report
    assert (run / "samples.md").read_text().count("\n| ") == 6 + 1  # header + 6 prompts (each row at c = -1, 0, +1)
    logged = wandb_summary(run)
    metrics = logged.get("summary") or logged.get("metrics") or logged
    scalars = {k: v for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert {f"builtin/{k}" for k in ("gain", "effect", "rho", "delta_nll", "n_items", "coverage", "gain_ci_low", "t", "p")} <= set(scalars)
    for key, a in scalars.items():
        b = metrics[key]
        assert (math.isnan(a) and (b is None or math.isnan(float(b)))) or a == pytest.approx(float(b)), key
    assert "S(+1)" in proc.stdout or "S(+1)" in proc.stderr  # the metric table is printed
    assert "strength iso_kl (target" in proc.stdout  # and the strength line


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


def test_two_evals_fit_once_log_both_and_the_sweep_reports_each(tmp_path):
    """evals=[builtin,truthfulqa]: one fit per cell, namespaced keys in summary.json and W&B, one sweep table per task."""
    csv = write_csv(tmp_path / "tqa.csv")
    proc = launch(["-m", *QUICK, "adapter=mean,random", "evals=[builtin,truthfulqa]", f"evals.truthfulqa.path={csv}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = next((tmp_path / "outputs" / "multirun").glob("*/*"))
    assert (proc.stdout + proc.stderr).count("fitted mean") == 1
    for cell in ("0_mean", "1_random"):
        summary = json.loads((sweep / cell / "summary.json").read_text())
        assert summary["tasks"] == ["builtin", "truthfulqa"] and summary["truthfulqa/n_test"] == 4  # 6 questions, 2 held out
        logged = wandb_summary(sweep / cell)
        metrics = logged.get("summary") or logged.get("metrics") or logged
        for key in (
            "builtin/gain",
            "builtin/side_effects",
            "truthfulqa/gain",
            "truthfulqa/MC1(+1)",
            "truthfulqa/MC2(-1)",
            "truthfulqa/val_gain",
        ):
            assert metrics[key] == pytest.approx(summary[key], nan_ok=True), key
        report = (sweep / cell / "report.md").read_text()
        assert "## builtin" in report and "## truthfulqa" in report and "MC1 low" in report
    table = pd.read_csv(sweep / "report" / "sweep.csv")
    assert list(table["task"]) == ["builtin", "builtin", "truthfulqa", "truthfulqa"] and list(table["adapter"]) == ["mean", "random"] * 2
    text = (sweep / "report" / "sweep.md").read_text()
    assert "## builtin" in text and "## truthfulqa" in text and "MC1 (−1 / 0 / +1)" in text
    for kind in ("pareto", "dose_response", "gain"):
        assert (sweep / "report" / f"{kind}_truthfulqa.png").is_file() and (sweep / "report" / f"{kind}_builtin.png").is_file()


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
        assert {f"builtin/{k}" for k in ("gain", "effect", "rho", "delta_nll", "n_items", "coverage")} <= set(summary)
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


# Summaries of the default run's numbers on the tiny model, recorded with the code before iso-KL existed
# (commit 3ae8369): `strength=native` must reproduce them, now under `builtin/` (the dilemma task). S(c), Effect, rho, t, p
# and the calibration are as recorded then. ΔNLL (and Gain, its CI and val Gain through it) moved by < 1.5 % when the prompt
# NLL stopped counting the first real token of left-padded prompts (it was predicted from a pad position, so the NLL
# depended on the batch; tests/tasks/test_truthfulqa.py checks batch-size invariance).
PINNED = {
    "pca": {
        "S(-1)": 0.0006751815478006998,
        "S(+0)": 0.0006493330001831055,
        "S(+1)": 0.0006119807561238607,
        "effect": -3.160039583841956e-05,
        "rho": -0.009821874888065157,
        "delta_nll": 5.557139714529313e-05,
        "gain": 0.0,
        "gain_ci_high": 0.2299934870930238,
        "t": -0.011923904619639368,
        "p": 0.9905891531036668,
        "n_items": 24,
        "val_gain": 7.662671221443511e-05,
        "calibration_separation": 0.02049965551123023,
    },
    "lora": {
        "S(-1)": 7.500251134236653e-05,
        "S(+0)": 0.0006493330001831055,
        "S(+1)": 0.0006510615348815918,
        "effect": 0.0002880295117696126,
        "rho": 0.012277343610081448,
        "delta_nll": 0.011613925298054717,
        "gain": 0.00034956391933786804,
        "gain_ci_high": 0.4125001390510834,
        "t": 0.050243496773929495,
        "p": 0.9603621415114554,
        "n_items": 24,
        "val_gain": 0.0,
        "calibration_separation": -0.062259321101009846,
    },
}


@pytest.mark.parametrize("adapter", sorted(PINNED))
def test_native_strength_reproduces_the_pre_iso_kl_summary(tmp_path, adapter):
    proc = launch(
        [
            *QUICK,
            f"adapter={adapter}",
            "train.steps=3",
            "logger=none",
            "strength=native",
            "evals.builtin.scoring=yes_no",
            f"out_dir={tmp_path}/run",
        ],
        tmp_path,
    )  # pinned on the Yes/No read-out
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["strength_scale"] == 1.0 and summary["strength_mode"] == "native"
    for key, want in PINNED[adapter].items():
        got = summary[key if key.startswith("calibration") else f"builtin/{key}"]
        # float32 models: another CPU's kernels (AVX2 on the machine of 2026-12-02) round differently from where these were
        # pinned: that moves these small log-odds by ~1e-7 absolute (up to 1e-3 relative where they nearly cancel, as in Effect and t)
        assert got == pytest.approx(want, rel=2e-3, abs=1e-5), key
