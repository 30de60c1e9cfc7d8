"""Cost of iso-KL strength calibration as a fraction of a whole default run (target ≤ 15 %).

    python bench/strength_cost.py [adapter=pca] [extra="..."] [repeats=1]

Runs `python launch.py adapter=<adapter> logger=none reuse=false` (the default config otherwise: SmolLM2-135M,
iso-KL at the default target) in a fresh output folder, times the whole process, and reads from its
summary.json the seconds spent in each phase and the KL evaluations the solver used. The peer is the run
itself: calibration seconds / whole-run wall seconds, in the same process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from steerlab.record import load_json

REPO = Path(__file__).resolve().parents[1]
PHASES = ("fit_seconds", "strength_seconds", "eval_seconds", "samples_seconds")


def one_run(adapter: str, extra: list[str]) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "STEERLAB_OUTPUTS": out, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
        args = [f"adapter={adapter}", "logger=none", "reuse=false", f"out_dir={out}/run", *extra]
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(REPO / "launch.py"), *args], env=env, cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        return wall, load_json(Path(out) / "run" / "summary.json")


def main(argv: list[str]) -> None:
    args = dict(a.split("=", 1) for a in argv)
    adapter, extra, repeats = args.get("adapter", "pca"), args.get("extra", "").split(), int(args.get("repeats", 1))
    print(f"python launch.py adapter={adapter} logger=none reuse=false {' '.join(extra)}")
    for i in range(repeats):
        wall, s = one_run(adapter, extra)
        phases = "  ".join(f"{p.removesuffix('_seconds')} {s.get(p, float('nan')):.1f} s" for p in PHASES)
        print(
            f"run {i}: wall {wall:.1f} s  |  {phases}  |  KL evaluations {s['strength_evals']}, k = {s['strength_scale']:.4g}, "
            f"KL +{s['kl_plus']:.3g} / −{s['kl_minus']:.3g}  |  calibration / wall = {s['strength_seconds'] / wall:.3f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
