"""Wall time of a multirun grid with de-duplication vs without (the same grid, run twice in fresh output folders).

    python bench/dedup_grid.py [grid="adapter=ipissa,lora,pca rotate_u=true,false"] [extra="train.steps=10 data.max_pairs=64"]

Each run starts with an empty results index, so only the within-grid duplicates are saved (rotate_u is a
no-op for lora and pca: 2 of the 6 cells). Both runs use the basic launcher on this machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_grid(args: list[str]) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "STEERLAB_OUTPUTS": out, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(REPO / "launch.py"), "-m", *args], env=env, cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        line = next((ln for ln in (proc.stdout + proc.stderr).splitlines() if "sweep of" in ln), "")
    return wall, line.split("] ")[-1]


def main(argv: list[str]) -> None:
    args = dict(a.split("=", 1) for a in argv)
    grid = args.get("grid", "adapter=ipissa,lora,pca rotate_u=true,false").split()
    extra = args.get("extra", "train.steps=10 data.max_pairs=64").split()
    off, off_line = run_grid([*grid, *extra, "reuse=false"])
    on, on_line = run_grid([*grid, *extra])
    print(f"grid: {' '.join(grid + extra)}")
    print(f"without de-duplication: {off:8.1f} s  ({off_line})")
    print(f"with de-duplication:    {on:8.1f} s  ({on_line})")
    print(f"ratio with/without: {on / off:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
