"""Adding one task to a finished trained-adapter run, against a fresh run of the two-task config (BENCHMARKS.md, issue 24).

    python bench/add_task.py [adapter=ipissa] [model=smollm2_135m] [task=truthfulqa]

In one fresh output folder, times three `launch.py` processes (logger none, the default config otherwise):
  fresh  `adapter=A 'evals=[builtin,TASK]' fit_cache=false reuse=false`   nothing cached, nothing reused (the peer)
  first  `adapter=A`                                                     the builtin run a researcher already has
  added  `adapter=A 'evals=[builtin,TASK]'`                              the fit, its calibration and builtin reused
and prints each wall time with its phases (from summary.json), the fresh run's fit share, added / fresh, and whether
every builtin number of `added` equals `first`'s exactly (issue 24, acceptance 1). `out=DIR` keeps the run folders.
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
PHASES = ("fit_seconds", "strength_seconds", "builtin/eval_seconds", "{task}/eval_seconds", "samples_seconds")


def run(out: str, name: str, args: list[str]) -> tuple[float, dict]:
    root = f"{out}/fresh_outputs" if name == "fresh" else out  # the peer has its own results index: `added` must not reuse it whole
    env = {**os.environ, "STEERLAB_OUTPUTS": root, "WANDB_MODE": "disabled"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(REPO / "launch.py"), *args, "logger=none", f"out_dir={out}/{name}"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return wall, load_json(Path(out) / name / "summary.json")


def main(argv: list[str]) -> None:
    opts = dict(a.split("=", 1) for a in argv)
    adapter, model, task = opts.get("adapter", "ipissa"), opts.get("model", "smollm2_135m"), opts.get("task", "truthfulqa")
    base = [f"adapter={adapter}", f"model={model}"]
    both = [*base, f"evals=[builtin,{task}]"]
    phases = [p.format(task=task) for p in PHASES]
    with tempfile.TemporaryDirectory() as tmp:
        out = opts.get("out", tmp)
        walls, summaries = {}, {}
        for name, args in (("fresh", [*both, "fit_cache=false", "reuse=false"]), ("first", base), ("added", both)):
            walls[name], s = run(out, name, args)
            summaries[name] = s
            parts = "  ".join(f"{p.removesuffix('_seconds')} {s.get(p, float('nan')):.1f} s" for p in phases)
            print(f"{name}: launch.py {' '.join(args)}: wall {walls[name]:.1f} s | {parts} | fit_reused={s.get('fit_reused')}", flush=True)
            if name == "fresh":
                print(f"fresh: fit share of wall = {s['fit_seconds'] / walls[name]:.3f}")
        first, added = summaries["first"], summaries["added"]
        keys = [k for k in first if k.startswith("builtin/") and k not in ("builtin/eval_seconds", "builtin/reused_coeffs")]
        moved = [k for k in keys if not (first[k] == added[k] or (first[k] != first[k] and added[k] != added[k]))]
        print(f"builtin numbers of added equal first's: {len(keys) - len(moved)} of {len(keys)}" + (f" (moved: {moved})" if moved else ""))
    print(f"added / fresh = {walls['added'] / walls['fresh']:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
