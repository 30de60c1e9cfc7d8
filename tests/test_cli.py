"""Faults a careful user meets: each ends in one line before model work, repairs itself with a warning, or works;
nothing finished is ever marked failed or running."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time

import pytest

from steerlab.record import Claim, Index, boot_id, load_json
from tests.helpers import QUICK as QUICK_BASE
from tests.helpers import SHARED_DATA, compose_cfg, launch, launch_env, said

QUICK = [*QUICK_BASE, "logger=none", "eval.samples=0"]  # tests.helpers.QUICK, quiet


def one_line(proc) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), proc.stderr[-2000:]
    assert "loaded tiny_llama" not in proc.stdout + proc.stderr
    return lines[0]


def status(folder) -> str:
    return json.loads((folder / "status.json").read_text())["status"]


def test_unwritable_out_dir_and_results_index_fail_before_any_work(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert "out_dir=" in one_line(launch([*QUICK, f"out_dir={blocker}/run"], tmp_path))
    assert "results_index=" in one_line(launch([*QUICK, f"results_index={blocker}/index"], tmp_path))


def test_index_that_fails_at_the_end_leaves_the_run_computed_with_a_warning(tmp_path, monkeypatch, caplog):
    from steerlab import run as run_module

    def refuse(self, ident, folder):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(Index, "record", refuse)
    cfg = compose_cfg([*QUICK, "strength=native", f"out_dir={tmp_path / 'run'}", f"results_index={tmp_path / 'index'}"])
    with caplog.at_level(logging.WARNING):
        run_module.run(cfg)
    assert status(tmp_path / "run") == "computed" and (tmp_path / "run" / "summary.json").is_file()
    assert "not recorded in results_index" in caplog.text


def test_finished_folder_is_reused_refused_or_recomputed_never_flipped(tmp_path):
    run = tmp_path / "run"
    train = ["adapter=ipissa", "train.steps=4", "train.val_every=0", f"out_dir={run}"]
    assert launch([*QUICK, *train], tmp_path).returncode == 0
    again = launch([*QUICK, *train], tmp_path)  # same config, reuse=true: nothing recomputed
    assert again.returncode == 0 and "nothing recomputed" in said(again) and status(run) == "computed"
    assert "holds a finished run of another config" in one_line(launch([*QUICK, "adapter=mean", f"out_dir={run}"], tmp_path))
    state = run / "checkpoint" / "state.pt"
    state.write_bytes(state.read_bytes()[:500])  # a truncated checkpoint
    line = one_line(launch([*QUICK, *train, "reuse=false"], tmp_path))
    assert str(state) in line and "train.resume=false" in line
    assert status(run) == "computed"  # the finished result is untouched
    fresh = launch([*QUICK, *train, "reuse=false", "train.resume=false"], tmp_path)
    assert fresh.returncode == 0 and status(run) == "computed"


def test_diverged_training_stops_like_a_nan(tmp_path):
    proc = launch([*QUICK, "adapter=ipissa", "train.steps=10", "train.optimizer.lr=1e6", f"out_dir={tmp_path / 'run'}"], tmp_path)
    assert proc.returncode == 2 and "training diverged" in proc.stderr and "train.diverge_factor" in proc.stderr
    assert status(tmp_path / "run") == "failed"


def test_rejected_config_leaves_no_run_folder_and_analysis_runs_are_named_after_the_analysis(tmp_path):
    one_line(launch([*QUICK, "eval.limit=0"], tmp_path))
    assert not (tmp_path / "outputs" / "runs").exists() or not any((tmp_path / "outputs" / "runs").rglob("*.yaml"))
    proc = launch([*QUICK, "analysis=alignment"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (folder,) = (tmp_path / "outputs" / "runs").glob("*/*")
    assert folder.name.endswith("_alignment")


def test_coverage_zero_is_said_loudly(tmp_path):  # the Yes/No read-out of a random tiny model is below pmass_min everywhere
    proc = launch([*[q for q in QUICK if "pmass_min" not in q], "evals.builtin.scoring=yes_no", f"out_dir={tmp_path / 'run'}"], tmp_path)
    assert proc.returncode == 0 and "NO ITEM SCORED" in proc.stderr
    report = (tmp_path / "run" / "report.md").read_text()
    assert "No item was scored (coverage 0)" in report and "How to read the tables" in report


def test_report_reads_as_a_note(tmp_path):
    assert launch([*QUICK, "strength=native", f"out_dir={tmp_path / 'run'}"], tmp_path).returncode == 0
    report = (tmp_path / "run" / "report.md").read_text()
    assert "**No measurable effect on builtin: the Gain 95% CI" in report and "t and p test the per-item" in report
    table = report.split("| value | n |")[1].split("\n\n")[0]
    assert all(int(row.split("|")[2]) >= 4 for row in table.strip().splitlines()[2:])  # values below side_min_items are not listed


def test_two_concurrent_multiruns_compute_each_identity_once(tmp_path):
    env = launch_env(tmp_path)
    cmd = [sys.executable, str(__import__("steerlab").config.REPO_ROOT / "launch.py"), "-m", *QUICK]
    first = subprocess.Popen(
        [*cmd, "adapter=pca,mean,random"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    time.sleep(1.5)  # a different sweep folder (Hydra names it by the second)
    second = subprocess.Popen(
        [*cmd, "adapter=mean,random,prompt"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    for proc in (first, second):
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-2000:]
    computed: dict[str, int] = {}
    for path in (tmp_path / "outputs" / "multirun").glob("*/*/*/status.json"):
        info = json.loads(path.read_text())
        assert info["status"] in ("computed", "reused"), info
        computed[info["identity"]] = computed.get(info["identity"], 0) + (info["status"] == "computed")
    assert len(computed) == 4 and set(computed.values()) == {1}, computed
    assert not list((tmp_path / "outputs" / "index").glob("*.claim"))  # every claim released


def test_stale_claims_are_taken_over(tmp_path):
    claim = Claim(tmp_path, "abc", tmp_path / "me")
    claim.path.write_text(
        json.dumps({"pid": 999999999, "host": __import__("socket").gethostname(), "time": time.time(), "folder": "/elsewhere"})
    )
    assert claim.acquire() is None and json.loads(claim.path.read_text())["folder"] == str((tmp_path / "me").resolve())
    claim.release()
    assert not claim.path.exists()


def test_a_claim_from_before_a_restart_is_taken_over_even_if_its_pid_is_alive_again(tmp_path):
    claim = Claim(tmp_path, "abc", tmp_path / "me")
    host = __import__("socket").gethostname()
    claim.path.write_text(
        json.dumps({"pid": os.getpid(), "host": host, "boot": "an-earlier-boot", "time": time.time(), "folder": "/elsewhere"})
    )
    assert claim.acquire() is None and json.loads(claim.path.read_text())["boot"] == boot_id()
    claim.release()


def test_summaries_are_strict_json_with_nonfinite_values_listed(tmp_path):
    assert (
        launch(
            [*[q for q in QUICK if "pmass_min" not in q], "evals.builtin.scoring=yes_no", f"out_dir={tmp_path / 'run'}"], tmp_path
        ).returncode
        == 0
    )
    text = (tmp_path / "run" / "summary.json").read_text()
    raw = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert raw["builtin/effect"] is None and raw["nonfinite"]["builtin/effect"] == "nan"
    assert (
        load_json(tmp_path / "run" / "summary.json")["builtin/effect"] != load_json(tmp_path / "run" / "summary.json")["builtin/effect"]
    )  # NaN back


def test_bad_suffix_json_is_one_line_without_repeating_the_decoder(tmp_path):
    bad = tmp_path / "s.json"
    bad.write_text('["a", "b"] trailing')
    line = one_line(launch([*QUICK, f"data.suffixes={bad}"], tmp_path))
    assert line.count("Extra data") == 1


@pytest.mark.skipif(not (SHARED_DATA / "daily_dilemmas").is_dir(), reason="shared data not present")
def test_small_dilemma_file_says_how_to_keep_its_target_reported(tmp_path):
    from tests.helpers import SHARED_DATA

    path = SHARED_DATA / "daily_dilemmas" / "dilemmas_with_detail_by_action_test.csv"
    args = [
        *[q for q in QUICK if "pmass_min" not in q],
        "evals=daily_dilemmas",
        f"evals.daily_dilemmas.path={path}",
        "evals.daily_dilemmas.pmass_min=0",
    ]
    line = one_line(launch(args, tmp_path))
    assert "set evals.daily_dilemmas.val_fraction=0 for a small file" in line
    works = launch([*args, "evals.daily_dilemmas.val_fraction=0"], tmp_path)
    assert works.returncode == 0, works.stderr[-2000:]


def test_a_slurm_job_uses_as_many_torch_threads_as_it_has_cpus(monkeypatch):
    import torch

    from steerlab.cli import match_allocated_cpus

    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    try:
        monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
        match_allocated_cpus()
        assert torch.get_num_threads() == 1
        torch.set_num_threads(before)
        monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the user's own setting wins
        match_allocated_cpus()
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)
