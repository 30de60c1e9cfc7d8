"""Train-step time and peak memory of InnerPiSSA vs peft LoRA, and of the cached reference vs recomputing it.

All timings come from one process on one model (fresh copy per adapter), same rank, target modules, pairs and
batches. The "recompute" variant runs the α = 0 reference forward on every micro-batch, as the anchor code did.
Peak memory is the peak RSS of a child process that loads the model and runs the same steps.

    python bench/train_step.py [model=smollm2_135m] [steps=5] [r=32] [batch_pairs=8]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import torch

from steerlab.api import load_model, make_context
from steerlab.methods.registry import build
from steerlab.train import Trainer, forward


class RecomputeTrainer(Trainer):
    """The anchor's way: the reference forward runs again for every micro-batch."""

    def pass_terms(self, batch, loss_fn, idx, alpha, backward_scale):
        with torch.no_grad():
            forward(self.model, batch, self.readouts, self.k)  # the α = 0 pass the cache saves (result unused)
        return super().pass_terms(batch, loss_fn, idx, alpha, backward_scale)


def trainer(args: dict, name: str, cls=Trainer) -> Trainer:
    model, tok = load_model(args["model"])
    train = {"steps": 1000, "batch_pairs": int(args["batch_pairs"]), "val_every": 0}
    ctx = make_context(model, tok, data={"max_pairs": 64}, train=train)
    method = build({"name": name, "r": int(args["r"])})
    method.fit(ctx)  # attach only: steerlab.fitting runs the training loop
    return cls(ctx, method)


def step_time(tr: Trainer, steps: int) -> float:
    tr.step(0)  # warm-up
    t0 = time.perf_counter()
    for s in range(1, steps + 1):
        tr.step(s)
    return (time.perf_counter() - t0) / steps


def child(args: dict) -> None:
    """Peak RSS (MiB) of loading the model and running `steps` training steps of one adapter."""
    tr = trainer(args, args["child"])
    for s in range(int(args["steps"])):
        tr.step(s)
    print(json.dumps({"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def peak(args: dict, name: str) -> float:
    cmd = [sys.executable, __file__, *(f"{k}={v}" for k, v in args.items()), f"child={name}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    return json.loads(out)["peak_mib"]


def main(argv: list[str]) -> None:
    args = {"model": "smollm2_135m", "steps": "5", "r": "32", "batch_pairs": "8"} | dict(a.split("=", 1) for a in argv)
    if "child" in args:
        return child(args)
    steps = int(args["steps"])
    times = {name: step_time(trainer(args, name), steps) for name in ("ipissa", "lora")}
    times["ipissa_recompute"] = step_time(trainer(args, "ipissa", RecomputeTrainer), steps)
    mem = {name: peak(args, name) for name in ("ipissa", "lora")}
    print(f"threads {torch.get_num_threads()}, {args}")
    for k, v in times.items():
        print(f"step time {k:17s} {v:7.3f} s")
    print(f"ratio ipissa / lora step time       {times['ipissa'] / times['lora']:.3f}  (target <= 1.15)")
    print(f"ratio cached / recomputed reference {times['ipissa'] / times['ipissa_recompute']:.3f}  (target <= 0.75)")
    print(f"peak RSS ipissa {mem['ipissa']:.0f} MiB, lora {mem['lora']:.0f} MiB, ratio {mem['ipissa'] / mem['lora']:.3f}  (target <= 1.3)")


if __name__ == "__main__":
    main(sys.argv[1:])
