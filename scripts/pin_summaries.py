"""Pin run summaries before a refactor and show they are unchanged after it.

    python scripts/pin_summaries.py pin OUT.json [--repo DIR] [--default]   # one tiny-model run per method (+ the default run)
    python scripts/pin_summaries.py compare BEFORE.json AFTER.json          # exit 1 if any number moved

Every run goes through `launch.py` (reuse off, W&B off) in the checkout `--repo`, so the same command pins the code
before and after a change. Timing fields (`*_seconds`) and paths are left out: they are not results.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TINY = ["model=tiny_llama", "experiment=quick", "evals.builtin.pmass_min=0", "layers.start=1", "layers.loss=5"]
SKIP = ("seconds", "path", "dir", "code", "fit_source", "fit_identity")


def launch(repo: Path, out: Path, overrides: list[str]) -> dict:
    env = os.environ | {"WANDB_MODE": "disabled"}
    cmd = [sys.executable, "launch.py", *overrides, f"out_dir={out}", "reuse=false", "logger=none"]
    done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(overrides)} failed:\n{done.stderr[-2000:]}")
    return json.loads((out / "summary.json").read_text())


def numbers(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if not any(s in k for s in SKIP) and isinstance(v, (int, float, str, bool))}


def pin(out_json: Path, repo: Path, methods: list[str], default: bool) -> None:
    pinned = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in methods:
            extra = []
            if name == "control_vector":  # needs a file: the tiny PCA run's vector, exported
                gguf = Path(tmp) / "pca.gguf"
                subprocess.run(
                    [sys.executable, "-m", "steerlab.export", str(Path(tmp) / "pca"), "--to", "gguf", "--out", str(gguf)],
                    cwd=repo,
                    check=True,
                    capture_output=True,
                )
                extra = [f"adapter.path={gguf}"]
            pinned[f"tiny/{name}"] = numbers(launch(repo, Path(tmp) / name, [*TINY, f"adapter={name}", *extra]))
            print(f"pinned tiny/{name}", flush=True)
        if default:
            pinned["default"] = numbers(launch(repo, Path(tmp) / "default", []))
            print("pinned default", flush=True)
    out_json.write_text(json.dumps(pinned, indent=1, sort_keys=True))


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def compare(before: Path, after: Path) -> int:
    a, b = json.loads(before.read_text()), json.loads(after.read_text())
    moved = [
        (run, k, a[run].get(k), b.get(run, {}).get(k))
        for run in a
        for k in sorted(set(a[run]) | set(b.get(run, {})))
        if not same(a[run].get(k), b.get(run, {}).get(k))
    ]
    for run, k, x, y in moved:
        print(f"{run}: {k}: {x!r} -> {y!r}")
    print(f"{len(a)} runs, {sum(len(v) for v in a.values())} values compared; {len(moved)} moved")
    return 1 if moved else 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("pin")
    pp.add_argument("out", type=Path)
    pp.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    pp.add_argument("--default", action="store_true", help="also the default run on the embedded model (minutes)")
    pp.add_argument("--methods", default="mean,pca,random,svd_delta,prompt,probe,jacobian,ablate,control_vector,ipissa,lora,dora,pissa,oft")
    pc = sub.add_parser("compare")
    pc.add_argument("before", type=Path)
    pc.add_argument("after", type=Path)
    args = p.parse_args()
    if args.cmd == "pin":
        pin(args.out, args.repo.resolve(), args.methods.split(","), args.default)
    else:
        raise SystemExit(compare(args.before, args.after))


if __name__ == "__main__":
    main()
