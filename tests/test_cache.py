"""Fit once, evaluate many (steerlab.cache): the fit identity, cached fits, strength and task rows, KL probes, claims."""

import json
import logging
import shutil
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest
import torch

from steerlab.api import context_for
from steerlab.cache import FIT_CODE_SKIP, FitCache, fit_identity
from steerlab.config import REPO_ROOT
from steerlab.fitting import fit
from steerlab.methods.registry import build
from steerlab.probe_store import kl_probe
from steerlab.progress import Lines
from steerlab.record import Claim
from steerlab.reuse import source_hash
from steerlab.strength import KLProbe
from tests.helpers import QUICK, compose_cfg, launch, launch_env, write_csv

# (override, changes a vector method's fit, changes a trained adapter's fit): every group, what a fit reads and what it does not
FIELDS = [
    ("model.dtype=bfloat16", True, True),
    ("model.batch_size=3", True, True),  # pair extraction batches (padding)
    ("model.tiny.hidden_size=32", True, True),
    ("model.cache_dir=/elsewhere", False, False),
    ("data.max_pairs=40", True, True),
    ("data.personas=[a kind,a cruel]", True, True),
    ("data.template='You are {persona} person.'", True, True),
    ("data.val_fraction=0.5", True, True),
    ("layers.start=2", True, True),
    ("layers.loss=4", True, True),
    ("seed=1", True, True),
    ("train.steps=3", False, True),
    ("train.optimizer.lr=0.01", False, True),
    ("loss_space.tokens=2", False, True),
    ("loss_space=u", False, True),
    ("train.resume=false", False, False),
    ("train.checkpoint_every=0", False, False),
    ("rotate_u=true", False, True),  # read by ipissa only
    ("eval.coeffs=[-2,-1,0,1,2]", False, False),
    ("eval.batch_size=4", False, False),
    ("eval.samples=0", False, False),
    ("evals=[builtin,truthfulqa]", False, False),
    ("evals.builtin.pmass_min=0.5", False, False),
    ("strength.target=0.5", False, False),
    ("strength=native", False, False),
    ("metric.n_boot=10", False, False),
    ("logger=none", False, False),
    ("out_dir=/tmp/x", False, False),
    ("reuse=false", False, False),
    ("fit_cache_dir=/tmp/y", False, False),
    ("results_index=/tmp/z", False, False),
    ("code_version=label-1", True, True),  # a pin replaces the code hash
]


@pytest.mark.parametrize("adapter,column", [("pca", 1), ("ipissa", 2)])
def test_the_fit_identity_changes_with_what_a_fit_reads_and_nothing_else(adapter, column):
    base = fit_identity(compose_cfg([*QUICK, f"adapter={adapter}"]))
    for row in FIELDS:
        changed = fit_identity(compose_cfg([*QUICK, f"adapter={adapter}", row[0]])) != base
        assert changed == row[column], f"{adapter}: {row[0]} {'changed' if changed else 'kept'} the fit identity"
    assert fit_identity(compose_cfg([*QUICK, "adapter=pca", "adapter.norm_fraction=0.02"])) != fit_identity(
        compose_cfg([*QUICK, "adapter=pca"])
    )
    assert fit_identity(compose_cfg([*QUICK, "adapter=mean"])) != fit_identity(compose_cfg([*QUICK, "adapter=pca"]))


def test_the_fit_code_hash_ignores_eval_code_and_follows_fit_code(tmp_path):
    pkg = tmp_path / "steerlab"
    shutil.copytree(REPO_ROOT / "steerlab", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    before = source_hash(pkg, FIT_CODE_SKIP)
    for rel in ("tasks/truthfulqa.py", "metrics.py", "strength.py", "report/headline.py", "run.py"):
        (pkg / rel).write_text((pkg / rel).read_text() + "\n# an edit\n")
    assert source_hash(pkg, FIT_CODE_SKIP) == before
    (pkg / "methods" / "pca.py").write_text((pkg / "methods" / "pca.py").read_text() + "\n# an edit\n")
    assert source_hash(pkg, FIT_CODE_SKIP) != before


def fitter(cfg, model, tok, calls: list):
    def fit_fn(method):
        calls.append(1)
        return fit(method, context_for(cfg, model, tok))

    return fit_fn


def test_a_cached_fit_loads_the_same_tensors_and_a_corrupt_entry_is_refit(tiny, tmp_path, caplog):
    model, tok = tiny
    cfg = compose_cfg([*QUICK, "adapter=mean", f"fit_cache_dir={tmp_path}"])
    calls: list = []
    fit_fn = fitter(cfg, model, tok, calls)
    first = build(cfg.adapter)
    first, info = FitCache(cfg, tmp_path / "run1").fitted(first, lambda: fit_fn(first))
    second, info2 = FitCache(cfg, tmp_path / "run2").fitted(build(cfg.adapter), lambda: pytest.fail("refit a cached identity"))
    assert len(calls) == 1 and not info["fit_reused"] and info2["fit_reused"] and info2["fit_identity"] == info["fit_identity"]
    assert info2["calibration_separation"] == info["calibration_separation"] and second.sign == first.sign and second.scale == 1.0
    for key, t in first.tensors().items():
        assert torch.equal(t, second.tensors()[key]), key
    entry = tmp_path / info["fit_identity"]
    tensors = entry / "method" / "tensors.safetensors"
    tensors.write_bytes(tensors.read_bytes()[: tensors.stat().st_size // 2])  # truncated after it was marked complete
    with caplog.at_level(logging.WARNING, logger="steerlab.cache"):
        third = build(cfg.adapter)
        _, info3 = FitCache(cfg, tmp_path / "run3").fitted(third, lambda: fit_fn(third))
    assert len(calls) == 2 and not info3["fit_reused"] and "is partial" in caplog.text and "fitting again" in caplog.text
    (entry / "COMPLETE").unlink()  # a fit that died while being stored
    fourth = build(cfg.adapter)
    FitCache(cfg, tmp_path / "run4").fitted(fourth, lambda: fit_fn(fourth))
    assert len(calls) == 3 and (entry / "COMPLETE").is_file()
    FitCache(compose_cfg([*QUICK, "adapter=mean", f"fit_cache_dir={tmp_path}", "reuse=false"]), tmp_path / "run5").fitted(
        build(cfg.adapter), lambda: fit_fn(build(cfg.adapter))
    )
    assert len(calls) == 4  # reuse=false fits again


def test_a_pinned_code_version_reuses_an_entry_of_other_code_with_a_warning(tiny, tmp_path, caplog):
    model, tok = tiny
    cfg = compose_cfg([*QUICK, "adapter=mean", f"fit_cache_dir={tmp_path}", "code_version=grid-1"])
    method = build(cfg.adapter)
    _, info = FitCache(cfg, tmp_path / "run1").fitted(method, lambda: fit(method, context_for(cfg, model, tok)))
    record = tmp_path / info["fit_identity"] / "fit.json"
    data = json.loads(record.read_text())
    record.write_text(json.dumps({**data, "source_code": "0.0.0+fit.000000000000"}))
    marker = tmp_path / info["fit_identity"] / "COMPLETE"
    sizes = json.loads(marker.read_text())
    sizes["files"]["fit.json"] = record.stat().st_size
    marker.write_text(json.dumps(sizes))
    with caplog.at_level(logging.WARNING, logger="steerlab.cache"):
        _, again = FitCache(cfg, tmp_path / "run2").fitted(build(cfg.adapter), lambda: pytest.fail("refit"))
    assert again["fit_reused"] and "fitted by code 0.0.0+fit.000000000000" in caplog.text and "pinned" in caplog.text


def test_a_probe_cache_hit_equals_a_fresh_probe_to_the_bit(tiny, tmp_path):
    model, tok = tiny
    cfg = compose_cfg([*QUICK, f"fit_cache_dir={tmp_path}", "strength.tokens=8"])
    stored = kl_probe(cfg, model, tok)
    loaded = kl_probe(cfg, model, tok)
    fresh = KLProbe.build(model, tok, stored.users, 8, cfg.strength.batch_size)
    assert len(list((tmp_path / "probes").iterdir())) == 1
    for probe in (loaded, stored):
        assert probe.conts == fresh.conts and probe.users == fresh.users
        assert all(torch.equal(a, b) for a, b in zip(probe.base, fresh.base))
    other = kl_probe(compose_cfg([*QUICK, f"fit_cache_dir={tmp_path}", "strength.tokens=6"]), model, tok)
    assert len(list((tmp_path / "probes").iterdir())) == 2 and max(map(len, other.conts)) <= 6


def test_rows_of_cached_coefficients_are_reused_and_new_ones_computed(tiny, tmp_path):
    cfg = compose_cfg([*QUICK, "adapter=random", f"fit_cache_dir={tmp_path}"])
    cache = FitCache(cfg, tmp_path / "run")
    cache.entry.folder.mkdir(parents=True)

    class Task:
        name, cfg = "t", {"task": "t"}

    items = pd.DataFrame({"q": ["a", "b"]})
    asked = []

    def evaluate(coeffs):
        asked.append(list(coeffs))
        return pd.concat([pd.DataFrame({"item": [0, 1], "coeff": c, "y": [c, 2 * c]}) for c in coeffs], ignore_index=True)

    rows, reused = cache.rows(Task(), items, [-1.0, 0.0, 1.0], evaluate)
    more, reused_more = cache.rows(Task(), items, [-2.0, -1.0, 0.0, 1.0, 2.0], evaluate)
    assert asked == [[0.0], [-1.0, 1.0], [-2.0, 2.0]] and reused == [] and reused_more == [-1.0, 0.0, 1.0]  # c = 0: its own file
    pd.testing.assert_frame_equal(more, evaluate([-2.0, -1.0, 0.0, 1.0, 2.0]))
    other = FitCache(compose_cfg([*QUICK, "adapter=pca", f"fit_cache_dir={tmp_path}"]), tmp_path / "run2")  # another fit, same model
    other.entry.folder.mkdir(parents=True)
    asked.clear()
    _, shared = other.rows(Task(), items, [-1.0, 0.0, 1.0], evaluate)
    assert shared == [0.0] and asked == [[-1.0, 1.0]]
    _, again = cache.rows(Task(), items.assign(q=["a", "c"]), [-1.0, 0.0, 1.0], evaluate)  # other items: other rows
    assert again == []


def test_a_claim_waits_with_a_line_every_few_seconds_then_returns_the_result(tmp_path, caplog):
    held = Claim(tmp_path, "abc", tmp_path / "first", find=lambda: None)
    assert held.acquire() is None
    result = tmp_path / "done"
    waiter = Claim(
        tmp_path, "abc", tmp_path / "second", poll_s=0.05, every_s=0.2, what="fit", find=lambda: result if result.exists() else None
    )
    threading.Timer(0.7, result.mkdir).start()
    with caplog.at_level(logging.INFO, logger="steerlab.record"):
        assert waiter.acquire() == result
    assert caplog.text.count("fit abc is being computed by") >= 2
    held.release()


def test_progress_off_a_terminal_is_plain_lines(caplog):
    with caplog.at_level(logging.INFO, logger="steerlab.progress"):
        bar = Lines(range(5), "work", None, every_s=0.0)
        for _ in bar:
            time.sleep(0.001)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("work: 1/5 (20 %)") and any(line.startswith("work: 5/5 (100 %)") for line in lines)
    assert not any("\r" in line for line in lines)


def test_a_cache_folder_that_cannot_be_written_fails_before_model_work(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    proc = launch([*QUICK, f"fit_cache_dir={blocker}/fits"], tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr[-2000:]
    assert "fit_cache_dir=" in proc.stderr and "cannot write" in proc.stderr and "loaded tiny_llama" not in proc.stdout + proc.stderr
    assert not (tmp_path / "outputs" / "runs").exists() or not any((tmp_path / "outputs" / "runs").rglob("status.json"))


def summary(folder):
    return json.loads((folder / "summary.json").read_text())


def test_adding_a_task_and_coefficients_reuses_the_fit_and_matches_a_fresh_run_bit_for_bit(tmp_path):
    """ipissa: a builtin run, then truthfulqa with two more coefficients; against a run with no cache at all."""
    csv = write_csv(tmp_path / "tqa.csv")
    args = [*QUICK, "adapter=ipissa", "logger=none", "train.steps=6"]
    first = launch([*args, f"out_dir={tmp_path}/first"], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    more = [*args, "evals=[builtin,truthfulqa]", f"evals.truthfulqa.path={csv}", "eval.coeffs=[-2,-1,0,1,2]"]
    second = launch([*more, f"out_dir={tmp_path}/second"], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    log = second.stdout + second.stderr
    assert "fit reused: identity" in log and "train ipissa" not in log and "strength reused" in log
    fresh = launch([*more, f"out_dir={tmp_path}/fresh", "fit_cache=false", "reuse=false"], tmp_path)  # nothing cached, nothing reused
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    a, b, c = summary(tmp_path / "first"), summary(tmp_path / "second"), summary(tmp_path / "fresh")
    assert (
        b["fit_reused"] and not a["fit_reused"] and b["fit_identity"] == a["fit_identity"] and b["fit_source"].endswith(a["fit_identity"])
    )
    assert b["builtin/reused_coeffs"] == [-1.0, 0.0, 1.0] and b["truthfulqa/reused_coeffs"] == []
    assert {k: v for k, v in a.items() if k.startswith("builtin/S(")} == {k: b[k] for k in a if k.startswith("builtin/S(")}
    for key in c:
        if "seconds" not in key and not key.startswith(("fit_", "strength_reused")) and "reused" not in key:
            assert b[key] == c[key] or (b[key] != b[key] and c[key] != c[key]), key
    for task in ("builtin", "truthfulqa"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "second" / f"results_{task}.parquet"),
            pd.read_parquet(tmp_path / "fresh" / f"results_{task}.parquet"),
        )


def test_rows_at_zero_are_shared_by_every_method_and_equal_a_fresh_run(tmp_path):
    """c = 0 is the unsteered model for every method: a random run after a PCA run reads PCA's c = 0 rows."""
    args = [*QUICK, "logger=none"]
    first = launch([*args, "adapter=pca", f"out_dir={tmp_path}/pca"], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    second = launch([*args, "adapter=random", f"out_dir={tmp_path}/random"], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "c = 0, shared by every method" in second.stdout + second.stderr
    assert summary(tmp_path / "pca")["builtin/reused_coeffs"] == [] and summary(tmp_path / "random")["builtin/reused_coeffs"] == [0.0]
    fresh = launch([*args, "adapter=random", f"out_dir={tmp_path}/fresh", "fit_cache=false", "reuse=false"], tmp_path)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "random" / "results_builtin.parquet"), pd.read_parquet(tmp_path / "fresh" / "results_builtin.parquet")
    )
    b, c = summary(tmp_path / "random"), summary(tmp_path / "fresh")
    assert {k: b[k] for k in b if k.startswith("builtin/S(")} == {k: c[k] for k in c if k.startswith("builtin/S(")}


def test_two_concurrent_jobs_needing_one_fit_fit_it_once(tmp_path):
    """Two launch.py processes with one fit identity and different run identities (coefficients): one fits, one waits."""
    args = [sys.executable, str(REPO_ROOT / "launch.py"), *QUICK, "adapter=ipissa", "logger=none", "train.steps=12"]
    procs = [
        subprocess.Popen(
            [*args, f"out_dir={tmp_path}/job{i}", f"eval.coeffs=[-1,0,1,{i + 2}]"],
            cwd=tmp_path,
            env=launch_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs[0][-2000:] + logs[1][-2000:]
    reused = sorted(summary(tmp_path / f"job{i}")["fit_reused"] for i in range(2))
    assert reused == [False, True]
    assert sum("fit stored in the fit cache" in log for log in logs) == 1
