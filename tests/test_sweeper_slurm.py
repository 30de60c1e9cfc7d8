"""Sweeps on a real one-node SLURM cluster (scripts/slurm_local.sh): the submitit_slurm grid and preemption.

The cluster is started once for this module and stopped afterwards if this module started it. The tests never
install system packages: where SLURM is not installed (`bash scripts/slurm_local.sh install` does that) or cannot
start, they skip with a one-line reason; CI installs it and sets STEERLAB_REQUIRE_SLURM=1 to fail instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from steerlab.config import REPO_ROOT
from tests.helpers import launch, launch_env

pytestmark = pytest.mark.slurm
SCRIPT = REPO_ROOT / "scripts" / "slurm_local.sh"
QUICK = ["model=tiny_llama", "experiment=quick", "evals.builtin.pmass_min=0", "layers.start=1", "layers.loss=5"]
SMALL_JOBS = [
    "hydra.launcher.mem_gb=4",
    "hydra.launcher.cpus_per_task=1",
]  # two jobs at once on a 2-core node (1 GPU each: it has 2 stand-ins)


@pytest.fixture(scope="module")
def slurm():
    """SLURM_CONF of the local cluster, started here unless it already runs."""
    running = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True, text=True).returncode == 0
    if not running:
        start = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=1200)
        if start.returncode != 0:
            message = f"local SLURM cluster did not start: {(start.stderr or start.stdout).strip().splitlines()[-1][-300:]}"
            if os.environ.get("STEERLAB_REQUIRE_SLURM") == "1":
                pytest.fail(message)
            pytest.skip(message)
    conf = subprocess.run(["bash", str(SCRIPT), "env"], capture_output=True, text=True).stdout.strip().split("=", 1)[1]
    yield {"SLURM_CONF": conf}
    if not running:
        subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, text=True, timeout=300)


def sacct(env: dict, job_ids: list[str], duplicates: bool = False) -> list[tuple[str, str]]:
    """(JobID, State) of each allocation; with duplicates, also the earlier lives of requeued jobs."""
    args = ["sacct", "-X", "-n", "-P", "--format=JobID,State", "-j", ",".join(job_ids)] + (["-D"] if duplicates else [])
    for _ in range(30):  # accounting reaches slurmdbd a moment after the job ends
        out = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **env})
        rows = [tuple(line.split("|")[:2]) for line in out.stdout.split()]
        if rows and all(s not in ("RUNNING", "PENDING", "COMPLETING", "REQUEUED") for _, s in rows[-1:]):
            return rows
        time.sleep(1)
    return rows


def squeue(env: dict, job_id: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T %r"], capture_output=True, text=True, env={**os.environ, **env}).stdout


def submitted(sweep: Path) -> list[str]:
    """SLURM job ids of a sweep: array tasks `<job>_<task>`, or the plain job id when submitit sent a single job."""
    names = [p.name for p in (sweep / ".submitit").iterdir() if p.is_dir()]
    tasks = sorted(n for n in names if "_" in n)
    return tasks or sorted(names)


def test_grid_on_slurm_computes_four_reuses_two_and_jobs_complete(slurm, tmp_path):
    train = ["train.steps=3", "train.val_every=0", "data.max_pairs=16"]
    proc = launch(
        ["-m", "hydra/launcher=submitit_slurm", "adapter=ipissa,lora,pca", "rotate_u=true,false", *QUICK, *train, *SMALL_JOBS],
        tmp_path,
        timeout=900,
        env=slurm,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = next((tmp_path / "outputs" / "multirun").glob("*/*"))
    status = {p.parent.name: json.loads(p.read_text())["status"] for p in sweep.glob("*/status.json")}
    assert sorted(status.values()) == ["computed"] * 4 + ["reused"] * 2, status
    assert status["3_lora"] == status["5_pca"] == "reused"
    for cell in status:
        assert (sweep / cell / "summary.json").is_file()
    jobs = submitted(sweep)
    assert len(jobs) == 4
    states = sacct(slurm, jobs)
    assert [s for _, s in states] == ["COMPLETED"] * 4, states
    report = subprocess.run([sys.executable, "-m", "steerlab.report", str(sweep)], capture_output=True, text=True, cwd=REPO_ROOT)
    assert report.returncode == 0, report.stderr
    assert (sweep / "report" / "pareto_builtin.png").is_file() and (sweep / "report" / "dose_response_builtin.png").is_file()


COMPARED = [
    *(
        f"builtin/{k}"
        for k in ("gain", "effect", "rho", "delta_nll", "val_gain", "S(-1)", "S(+0)", "S(+1)", "NLL(-1)", "NLL(+1)", "n_items", "coverage")
    ),
    "calibration_separation",
    "train_steps",
    "train_best_val_loss",
]


def test_preempted_training_job_requeues_and_resumes_to_the_same_result(slurm, tmp_path):
    """SIGUSR2 (SLURM's preemption/timeout signal) mid-training: checkpoint, requeue, resume; summary as uninterrupted."""
    job = [*QUICK, "adapter=ipissa", "train.steps=300", "train.val_every=100", "train.checkpoint_every=0", "data.max_pairs=16"]
    direct = launch([*job, f"out_dir={tmp_path / 'direct'}"], tmp_path, timeout=600)
    assert direct.returncode == 0, direct.stderr[-3000:]

    # reuse=false: the direct run above recorded a finished result with this very identity
    cmd = [sys.executable, str(REPO_ROOT / "launch.py"), "-m", "hydra/launcher=submitit_slurm", *job, *SMALL_JOBS, "reuse=false"]
    env = launch_env(tmp_path, slurm)
    sweeper = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        sweep = wait_for(lambda: next((tmp_path / "outputs" / "multirun").glob("*/*/.submitit"), None), 120).parent
        log = sweep / "0_ipissa" / "launch.log"
        wait_for(lambda: log.is_file() and "reference cached" in log.read_text(), 300)
        job_id = submitted(sweep)[0]
        time.sleep(2)
        signal = subprocess.run(["scancel", "--signal=USR2", job_id], capture_output=True, text=True, env={**os.environ, **slurm})
        assert signal.returncode == 0, signal.stderr
        # SLURM holds a requeued batch job for ~2 minutes (BeginTime); release it now, as an admin would
        wait_for(lambda: "BeginTime" in squeue(slurm, job_id), 120)
        subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True, env={**os.environ, **slurm})
        output, _ = sweeper.communicate(timeout=900)
    finally:
        sweeper.kill()
    assert sweeper.returncode == 0, output[-3000:]
    states = [s for _, s in sacct(slurm, [job_id], duplicates=True)]
    assert states == ["REQUEUED", "COMPLETED"], states
    summary = json.loads((sweep / "0_ipissa" / "summary.json").read_text())
    expected = json.loads((tmp_path / "direct" / "summary.json").read_text())
    assert 0 < summary["train_resumed_from"] < 300, summary["train_resumed_from"]
    assert expected["train_resumed_from"] is None
    same = lambda d: {k: str(d[k]) for k in COMPARED}  # str() so that nan equals nan
    assert same(summary) == same(expected)


def wait_for(probe, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {seconds} s")
