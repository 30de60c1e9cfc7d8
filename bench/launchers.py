"""Per-job overhead of the submitit launchers: the same job run directly vs through submitit_local vs local SLURM.

    python bench/launchers.py [repeats=3] [slurm=auto|yes|no] [job="adapter=pca model=tiny_llama experiment=quick"]

Each variant is one `python launch.py` process timed end to end (median of `repeats`), with reuse=false so the
job always computes. Overhead = launcher wall time − direct wall time. `slurm=auto` uses the local cluster of
scripts/slurm_local.sh when `status` says it runs.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(args: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(REPO / "launch.py"), *args], env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{proc.stderr[-2000:]}")
    return wall


def slurm_env() -> dict | None:
    script = REPO / "scripts" / "slurm_local.sh"
    if subprocess.run(["bash", str(script), "status"], capture_output=True).returncode != 0:
        return None
    line = subprocess.run(["bash", str(script), "env"], capture_output=True, text=True).stdout.strip()
    return {"SLURM_CONF": line.split("=", 1)[1]}


def main(argv: list[str]) -> None:
    args = dict(a.split("=", 1) for a in argv)
    repeats = int(args.get("repeats", 3))
    job = args.get("job", "adapter=pca model=tiny_llama experiment=quick logger=none").split() + ["reuse=false"]
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "STEERLAB_OUTPUTS": out, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
        variants = {"direct": job, "submitit_local": ["-m", "hydra/launcher=submitit_local", *job]}
        slurm = slurm_env() if args.get("slurm", "auto") != "no" else None
        if args.get("slurm") == "yes" and slurm is None:
            raise SystemExit("slurm=yes but scripts/slurm_local.sh status says the local cluster is not running")
        if slurm:
            env.update(slurm)
            variants["submitit_slurm"] = ["-m", "hydra/launcher=submitit_slurm", "hydra.launcher.mem_gb=4", *job]
        walls = {name: [timed(a, env) for _ in range(repeats)] for name, a in variants.items()}
    base = statistics.median(walls["direct"])
    print(f"job: {' '.join(job)}; median of {repeats} end-to-end wall times")
    for name, w in walls.items():
        med = statistics.median(w)
        extra = "" if name == "direct" else f"  overhead {med - base:+.2f} s per job (target ≤ 10 s)"
        print(f"{name:15s} {med:7.2f} s  (runs: {', '.join(f'{x:.2f}' for x in w)}){extra}")


if __name__ == "__main__":
    main(sys.argv[1:])
