"""Peak memory and time per phase of real architectures at full width (random weights, bf16, CPU), at 2 and 3
layers (a steered layer below a read-out layer), and the extrapolation to full depth.

Each (architecture, depth, method) runs in its own process, so its peak resident set is its own: load the model,
then for `pca` fit on 16 pairs (extraction batch 16), build a 4-prompt KL probe (8 tokens), run 2 KL evaluations and
score 4 builtin dilemmas (eval batch 16); for `lora` (r = 32) cache the reference and take one training step of 8
pairs. Per layer = the 3-layer figure minus the 2-layer one; full depth L = 2-layer + (L − 2) × per layer, less the
process's own memory before the model (interpreter and libraries, which a GPU does not hold).

    python bench/arch_memory.py [methods=pca,lora] [arch_qwen3_0_6b arch_qwen3_4b ...]

prints a markdown table and adds its rows to bench/data/arch_memory.json.

bf16 training on a CPU without bf16 instructions is slow mostly in one op: the LM head's input gradient runs as a
bf16 bmm against the expanded vocabulary matrix (47 s per call for Qwen3-0.6B's 151936 × 1024 head with 4 sequences
here), so `methods=pca` measures the forward phases alone on the wider architectures.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

ARCHS = ["arch_qwen3_0_6b", "arch_qwen3_4b", "arch_gemma3_4b", "arch_llama31_8b"]
OUT = Path(__file__).resolve().parent / "data" / "arch_memory.json"


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def child(name: str, layers: int, method: str) -> dict:
    from steerlab import models
    from steerlab.api import calibrate_strength, evaluate, fit, make_context
    from steerlab.methods.registry import build
    from steerlab.models import model_config
    from steerlab.strength import KLProbe
    from steerlab.train import Trainer

    base = rss_gb()
    cfg = model_config(name)
    cfg.layers, cfg.device, cfg.dtype, cfg.batch_size = layers, "cpu", "bfloat16", 16
    t = {}
    t0 = time.perf_counter()
    model, tok = models.load(cfg)
    t["load_s"], params = time.perf_counter() - t0, sum(p.numel() for p in model.parameters())
    after_load = rss_gb()
    lay = {"indices": [0], "loss": layers - 1}  # steer layer 0, read the last: every layer runs
    if method == "pca":
        t0 = time.perf_counter()
        m = fit("pca", model, tok, data={"max_pairs": 16}, layers=lay)
        t["fit_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        probe = KLProbe.build(
            model, tok, ["Describe your morning.", "What is a good book?", "Tell me about the sea.", "How do I cook rice?"], 8
        )
        calibrate_strength(model, tok, m, probe=probe, tokens=8, max_evals=2)
        t["iso_kl_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        evaluate(model, tok, m, "builtin", limit=4)
        t["eval_s"] = time.perf_counter() - t0
    else:
        ctx = make_context(model, tok, data={"max_pairs": 16}, layers=lay, train={"steps": 10, "batch_pairs": 8, "val_every": 0})
        m = build({"name": "lora", "r": 32})
        m.fit(ctx)
        t0 = time.perf_counter()
        tr = Trainer(ctx, m)
        t["reference_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        tr.step(0)
        t["train_step_s"] = time.perf_counter() - t0
    return {
        "arch": name,
        "layers": layers,
        "method": method,
        "params": params,
        "process_gb": base,
        "after_load_gb": after_load,
        "peak_gb": rss_gb(),
        **t,
    }


def run(name: str, layers: int, method: str) -> dict:
    cmd = [sys.executable, __file__, "--child", name, str(layers), method]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    return json.loads(out)


def table(rows: list[dict]) -> str:
    from steerlab.models import depth, model_config

    lines = [
        "| architecture | method | params/layer (M) | peak, 2 layers (GB) | per layer (GB) | "
        "full depth L | estimate at L (GB) | fits on | phase times, 2 layers (s, CPU bf16) |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for name in dict.fromkeys(r["arch"] for r in rows):
        full = depth(model_config(name))
        for method in ("pca", "lora"):
            one, two = ([r for r in rows if r["arch"] == name and r["method"] == method and r["layers"] == n] or [None] for n in (2, 3))
            one, two = one[0], two[0]
            if not (one and two):
                continue
            per = two["peak_gb"] - one["peak_gb"]
            est = one["peak_gb"] - one["process_gb"] + (full - 2) * per  # less the interpreter and libraries, which a GPU does not hold
            fits = ", ".join(f"{g} GB" for g in (24, 40, 80) if est <= 0.9 * g) or "none of 24/40/80 GB"
            phases = ", ".join(f"{k[:-2]} {v:.1f}" for k, v in one.items() if k.endswith("_s"))
            lines.append(
                f"| {name} | {method} | {(two['params'] - one['params']) / 1e6:.0f} | "
                f"{one['peak_gb']:.2f} | {per:.3f} | {full} | {est:.1f} | {fits} | {phases} |"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--child":
        print(json.dumps(child(argv[1], int(argv[2]), argv[3])))
        return
    opts = dict(a.split("=", 1) for a in argv if "=" in a)
    names = [a for a in argv if "=" not in a] or ARCHS
    methods = opts.get("methods", "pca,lora").split(",")
    rows = json.loads(OUT.read_text())["rows"] if OUT.is_file() else []
    for name in names:
        for layers in (2, 3):
            for method in methods:
                rows = [r for r in rows if (r["arch"], r["layers"], r["method"]) != (name, layers, method)] + [run(name, layers, method)]
                print(json.dumps(rows[-1]), flush=True)
                OUT.write_text(json.dumps({"threads": torch.get_num_threads(), "rows": rows}, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
