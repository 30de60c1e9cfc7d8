"""Sweeps without a cluster: identity and reuse, failing jobs, the sweep report, submitit_local, preemption."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pandas as pd
import pytest

from steerlab.config import REPO_ROOT
from steerlab.preempt import Deferred
from steerlab.record import Index, write_status
from steerlab.reuse import effective, identity
from tests.helpers import compose_cfg, launch, only_sweep, statuses, wandb_records

QUICK = ["model=tiny_llama", "experiment=quick", "evals.builtin.pmass_min=0", "layers.start=1", "layers.loss=5"]


# --- identity -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("adapter,same", [("pca", True), ("lora", True), ("prompt", True), ("ipissa", False)])
def test_rotate_u_counts_only_for_adapters_that_read_it(adapter, same):
    a, b = (compose_cfg([f"adapter={adapter}", f"rotate_u={v}"]) for v in ("true", "false"))
    assert (identity(a) == identity(b)) is same


def test_logger_launcher_and_training_keys_do_not_change_a_vector_method():
    base = compose_cfg(["adapter=pca"])
    for extra in (["logger=none"], ["out_dir=/tmp/x"], ["train.steps=7"], ["loss_space=u"], ["reuse=false"]):
        assert identity(compose_cfg(["adapter=pca", *extra])) == identity(base), extra
    assert identity(compose_cfg(["adapter=ipissa", "train.steps=7"])) != identity(compose_cfg(["adapter=ipissa"]))


def test_identity_covers_model_data_eval_seed_and_code():
    base = compose_cfg(["adapter=pca"])
    for extra in (["model=tiny_llama"], ["seed=1"], ["eval.limit=3"], ["data.max_pairs=5"], ["layers.start=0.2"]):
        assert identity(compose_cfg(["adapter=pca", *extra])) != identity(base), extra
    assert "+src." in effective(base)["code"]  # package version + source hash


def test_arch_keys_count_only_for_an_arch_model():
    base = compose_cfg(["adapter=pca"])
    for extra in (["model.layers=2"], ["model.tokenizer=gemma3_270m"], ["+model.arch.hidden_size=8"]):
        assert identity(compose_cfg(["adapter=pca", *extra])) == identity(base), extra  # runs from before these keys keep theirs
    arch = compose_cfg(["adapter=pca", "model=arch_qwen3_0_6b"])
    assert identity(compose_cfg(["adapter=pca", "model=arch_qwen3_0_6b", "model.layers=2"])) != identity(arch)


def test_code_version_follows_the_computing_source_only(tmp_path):
    from steerlab.reuse import source_hash

    (tmp_path / "report").mkdir()
    (tmp_path / "metrics.py").write_text("X = 1\n")
    (tmp_path / "report" / "sweep.py").write_text("Y = 1\n")
    (tmp_path / "notes.md").write_text("docs\n")
    before = source_hash(tmp_path)
    (tmp_path / "report" / "sweep.py").write_text("Y = 2\n")  # the report only reads finished runs
    (tmp_path / "notes.md").write_text("other docs\n")
    assert source_hash(tmp_path) == before
    (tmp_path / "metrics.py").write_text("X = 2\n")  # computing code, committed or not
    assert source_hash(tmp_path) != before


def test_index_returns_only_finished_runs_of_the_same_identity(tmp_path):
    index, run = Index(tmp_path / "index"), tmp_path / "run"
    write_status(run, "running", identity="abc")
    index.record("abc", run)
    assert index.find("abc") is None  # not finished
    (run / "summary.json").write_text("{}")
    write_status(run, "computed", identity="abc")
    assert index.find("abc") == run.resolve()
    write_status(run, "computed", identity="other")  # folder overwritten by another config
    assert index.find("abc") is None
    assert index.find("missing") is None


def test_index_survives_moving_the_whole_outputs_tree(tmp_path):
    """A long grid's outputs, committed or copied to another machine as a whole, still resume there."""
    import shutil

    index, run = Index(tmp_path / "a" / "index"), tmp_path / "a" / "multirun" / "0_pca"
    (run).mkdir(parents=True)
    (run / "summary.json").write_text("{}")
    write_status(run, "computed", identity="abc")
    index.record("abc", run)
    assert not json.loads((tmp_path / "a" / "index" / "abc.json").read_text())["run_dir"].startswith("/")
    shutil.move(tmp_path / "a", tmp_path / "b")
    assert Index(tmp_path / "b" / "index").find("abc") == (tmp_path / "b" / "multirun" / "0_pca").resolve()


# --- multiruns ------------------------------------------------------------------------------------------


def test_grid_computes_each_identity_once_then_reuses_finished_results(tmp_path):
    grid = ["-m", *QUICK, "train.steps=2", "train.val_every=0", "data.max_pairs=16", "adapter=ipissa,lora,pca", "rotate_u=true,false"]
    first = launch(grid, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    sweep = only_sweep(tmp_path)
    assert statuses(sweep) == {
        "0_ipissa": "computed",
        "1_ipissa": "computed",
        "2_lora": "computed",
        "3_lora": "reused",
        "4_pca": "computed",
        "5_pca": "reused",
    }
    assert "6 cells: 4 to compute" in first.stdout + first.stderr
    reused = json.loads((sweep / "3_lora" / "status.json").read_text())
    assert reused["source"] == str((sweep / "2_lora").resolve())
    assert json.loads((sweep / "3_lora" / "summary.json").read_text()) == json.loads((sweep / "2_lora" / "summary.json").read_text())
    table = pd.read_csv(sweep / "report" / "sweep.csv")
    assert len(table) == 6 and table["reused"].sum() == 2

    second = launch(grid, tmp_path)  # the same grid again: every cell has a finished result
    assert second.returncode == 0, second.stderr[-3000:]
    assert "6 cells: 0 to compute, 6 reuse a finished run" in second.stdout + second.stderr
    assert set(statuses(only_sweep(tmp_path))) == set(statuses(sweep)) and set(statuses(only_sweep(tmp_path)).values()) == {"reused"}

    third = launch([*grid, "reuse=false"], tmp_path)
    assert "6 cells: 6 to compute" in third.stdout + third.stderr


def test_one_failing_job_does_not_stop_the_sweep_and_is_reported(tmp_path):
    proc = launch(["-m", *QUICK, "adapter=pca", "evals.builtin.target=honesty,no_such_value"], tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    sweep = only_sweep(tmp_path)
    assert statuses(sweep) == {"0_pca": "computed", "1_pca": "failed"}
    error = json.loads((sweep / "1_pca" / "status.json").read_text())["error"]
    assert "no_such_value" in error
    report = (sweep / "report" / "sweep.md").read_text()
    assert "## Failed jobs" in report and "1_pca" in report and "no_such_value" in report
    assert "1 of 2 jobs failed" in proc.stdout + proc.stderr


def test_report_aggregates_seeds_as_mean_and_sd_with_t_interval_and_draws_the_random_band(tmp_path):
    proc = launch(["-m", *QUICK, "adapter=pca,mean,random", "seed=0,1,2", "strength.target=0.005", "strength.tokens=8"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = only_sweep(tmp_path)
    out = subprocess.run([sys.executable, "-m", "steerlab.report", str(sweep)], capture_output=True, text=True, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr
    table = pd.read_csv(sweep / "report" / "sweep.csv")
    assert list(table["adapter"]) == ["pca", "mean", "random"] and list(table["n"]) == [3, 3, 3]
    cells = pd.read_csv(sweep / "report" / "cells.csv")
    for row in table.itertuples():
        gains = cells.loc[cells["adapter"] == row.adapter, "gain"]
        assert row.gain_mean == pytest.approx(gains.mean()) and row.gain_sd == pytest.approx(gains.std(ddof=1))
        assert row.ci_kind == "t over seeds" and row.ci_low <= row.gain_mean <= row.ci_high
    assert list(table["task"]) == ["builtin"] * 3
    for name in ("sweep.md", "pareto_builtin.png", "dose_response_builtin.png", "gain_builtin.png", "cells.csv"):
        assert (sweep / "report" / name).stat().st_size > 0
    assert "| adapter" in out.stdout and "seed" not in out.stdout.split("|")[1]
    null = cells.loc[cells["adapter"] == "random", "gain"]
    assert table["band_gain_high"].to_numpy() == pytest.approx([null.mean() + 2 * null.std(ddof=1)] * 3)
    effects = cells.loc[cells["adapter"] == "random", "effect"]
    assert table["band_effect_low"].to_numpy() == pytest.approx([effects.mean() - 2 * effects.std(ddof=1)] * 3)
    assert table["band_effect_high"].to_numpy() == pytest.approx([effects.mean() + 2 * effects.std(ddof=1)] * 3)
    assert list(table["clears_band"][2:]) == ["(null)"] and set(table["clears_band"][:2]) <= {"yes", "NO"}
    for row in table.itertuples():
        assert (row.clears_band == "yes") == (row.adapter != "random" and row.ci_low > row.band_gain_high)
    assert "**Random band**" in (sweep / "report" / "sweep.md").read_text()


def test_report_of_a_folder_that_is_not_a_sweep_is_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "steerlab.report", str(tmp_path)], capture_output=True, text=True, cwd=REPO_ROOT)
    assert out.returncode == 2 and out.stderr.startswith("error:") and len(out.stderr.strip().splitlines()) == 1


def test_submitit_local_launcher_runs_jobs_in_their_own_folders(tmp_path):
    proc = launch(["-m", "hydra/launcher=submitit_local", *QUICK, "adapter=pca,mean"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = only_sweep(tmp_path)
    assert statuses(sweep) == {"0_pca": "computed", "1_mean": "computed"}
    assert list(sweep.glob(".submitit/*/*_result.pkl")), "jobs ran through submitit"
    for cell in ("0_pca", "1_mean"):
        assert (sweep / cell / "summary.json").is_file() and (sweep / cell / "wandb").is_dir()


def test_wandb_runs_of_a_sweep_share_its_group(tmp_path):
    """Grouped by sweep, job type by method, flat config with the identity; the report is a run of the same group."""
    proc = launch(["-m", *QUICK, "adapter=pca,mean"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = only_sweep(tmp_path)
    group = f"sweep-{sweep.parent.name}_{sweep.name}"
    for cell, method in (("0_pca", "pca"), ("1_mean", "mean")):
        run = wandb_records(sweep / cell, "run")[0]
        assert run["run_group"] == group and run["job_type"] == method
        config = run["config"]["update"]
        assert config["adapter.name"] == method and len(config["identity"]) == 16
        assert any("builtin/gain" in r["update"] for r in wandb_records(sweep / cell, "summary"))
    report = wandb_records(sweep / "report", "run")[0]
    assert report["run_group"] == group and report["job_type"] == "sweep-report"


# --- preemption -----------------------------------------------------------------------------------------


def test_deferred_is_inert_without_a_handler():
    previous = signal.signal(signal.SIGUSR2, signal.SIG_DFL)
    try:
        with Deferred() as d:
            assert not d.active
    finally:
        signal.signal(signal.SIGUSR2, previous)


def test_optuna_sweep_optimises_the_validation_gain(tmp_path):
    """The sweeps/optuna.yaml objective is what launch.py returns: val_gain, never the reported gain."""
    import yaml

    args = [
        "--config-dir",
        str(REPO_ROOT / "sweeps"),
        "--config-name",
        "optuna",
        *QUICK,
        "train.steps=2",
        "train.val_every=0",
        "data.max_pairs=16",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.n_jobs=1",
    ]
    proc = launch(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = only_sweep(tmp_path)
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    summaries = [json.loads(p.read_text()) for p in sweep.glob("*/summary.json")]
    assert len(summaries) == 2
    assert best["best_value"] == pytest.approx(max(s["builtin/val_gain"] for s in summaries))
    assert set(best["best_params"]) == {"train.optimizer.lr", "adapter.r"}


def test_launcher_defaults_and_site_file_merge(tmp_path):
    """conf/hydra/launcher/submitit_slurm.yaml defaults; a conf/local/slurm.yaml on the search path overrides them."""
    from hydra import compose, initialize_config_dir

    site = tmp_path / "local"
    site.mkdir()
    (site / "slurm.yaml").write_text("partition: gpu\naccount: my-lab\nsetup: ['module load cuda']\n")
    with initialize_config_dir(str(REPO_ROOT / "conf"), version_base="1.3"):
        plain = compose("config", overrides=["hydra/launcher=submitit_slurm"], return_hydra_config=True).hydra.launcher
        sited = compose(
            "config", overrides=["hydra/launcher=submitit_slurm", f"hydra.searchpath=[file://{tmp_path}]"], return_hydra_config=True
        ).hydra.launcher
    assert plain.partition is None and plain.max_num_timeout == 3 and plain.gpus_per_node == 1
    assert plain._target_.endswith("SlurmLauncher")
    assert sited.partition == "gpu" and sited.account == "my-lab" and list(sited.setup) == ["module load cuda"]
    assert sited.timeout_min == plain.timeout_min  # untouched keys keep steerlab's defaults


def test_a_pinned_code_version_replaces_the_source_hash_in_the_identity(monkeypatch):
    from steerlab import reuse

    base, pinned = compose_cfg(["adapter=pca"]), compose_cfg(["adapter=pca", "code_version=headline-1"])
    assert effective(pinned)["code"] == "pinned:headline-1" and "code_version" not in effective(pinned)
    before = identity(base), identity(pinned)
    monkeypatch.setattr(reuse, "code_version", lambda: "0.1.0+src.changed")  # an edit to the computing source
    assert identity(base) != before[0] and identity(pinned) == before[1]
    assert identity(compose_cfg(["adapter=pca", "code_version=headline-2"])) != before[1]  # a bumped label recomputes


def test_a_command_line_value_the_file_lists_selects_grids_and_another_replaces_it():
    """`model=smollm2_135m` on a file whose grids set the model runs only that model's cells (a grid for another model
    is left out, never turned into a twin with that grid's settings); an unlisted value applies to every grid."""
    from steerlab.grid import expand

    params = {"model": "smollm2_135m,gemma3_270m"}
    grids = [
        {"adapter": "random", "seed": "range(0,3)"},
        {"model": "smollm2_135m", "evals": "[builtin,truthfulqa]", "adapter": "pca", "seed": "0,1"},
        {"model": "gemma3_270m", "evals": "[builtin]", "adapter": "pca"},
    ]
    cells = lambda args: [dict(o.split("=", 1) for o in c) for c in expand(params, grids, args)]
    assert len(cells([])) == 6 + 2 + 1
    small = cells(["model=smollm2_135m"])
    assert {c["model"] for c in small} == {"smollm2_135m"} and len(small) == 3 + 2
    assert not [c for c in small if c.get("evals") == "[builtin]"]  # the Gemma grid is left out, not run on SmolLM2
    gemma = cells(["model=gemma3_270m"])
    assert len(gemma) == 3 + 1 and [c["evals"] for c in gemma if c["adapter"] == "pca"] == ["[builtin]"]
    other = cells(["model=qwen3_0_6b"])
    assert {c["model"] for c in other} == {"qwen3_0_6b"} and len(other) == 3 + 2 + 1
    assert sorted(c["seed"] for c in cells(["seed=1"])) == ["1"] * 4  # a grid without the key takes the override


IDENTITY_PINS = {  # (overrides, run identity, fit identity), each hashed with the checkout path replaced
    "default": ([], "15bffd831184adc6", "fae030313db4adb1"),
    "ipissa": (["adapter=ipissa", "rotate_u=true", "train.resume=false"], "11b30d1787ac0e0b", "0bc2d342c008bc6d"),
    "lora_tiny": (["adapter=lora", "model=tiny_llama", "train.checkpoint_every=3"], "4e3c36dbd60f40e0", "ad6b6a238e4d9bcc"),
    "arch": (
        ["model=arch_qwen3_4b", "model.layers=4", "model.dtype=bfloat16", "adapter=lora", "experiment=smoke"],
        "7b163d7b75f20912",
        "8f42399736bd7505",
    ),
    "control": (
        ["data=sentiment", "evals=[sentiment]", "evals.sentiment.limit=64", "adapter=random", "seed=3", "cone_min=20"],
        "6220caa1d1b7f856",
        "746941ccbdbbaa75",
    ),
    "truthfulqa": (
        ["evals=[builtin,truthfulqa]", "evals.truthfulqa.limit=100", "adapter=pca", "seed=1", "logger=none"],
        "5e4e5592df525b79",
        "1da0eeea51f5cd68",
    ),
}


def pin_of(data: dict) -> str:
    import hashlib

    text = json.dumps(data, sort_keys=True, default=str).replace(str(REPO_ROOT), "<repo>")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", IDENTITY_PINS)
def test_what_enters_an_identity_is_pinned(name):
    """A refactor of the configs, of `effective` or of the fit cache's inputs must not move finished cells or fits (the
    headline grid resumes from them). If this fails on purpose (a new key that changes results), bump `code_version` in
    the long sweeps and re-pin."""
    from steerlab.cache import fit_inputs

    overrides, run_pin, fit_pin = IDENTITY_PINS[name]
    cfg = compose_cfg([*overrides, "code_version=pin"])
    assert (pin_of(effective(cfg)), pin_of(fit_inputs(cfg))) == (run_pin, fit_pin)
