"""The GPU path in one run: bf16 models on CUDA through every phase a researcher uses, with the numbers that say it
works (c = 0 exact, agreement with fp32 on the CPU, throughput against a bare forward pass, step times, memory).

    python bench/gpu_check.py --out DIR          # CUDA: SmolLM2-135M, Gemma-3-270M, a 4-layer Qwen3-4B-width model
    python bench/gpu_check.py --cpu --out DIR    # the same code on tiny models on the CPU (the dry run CI makes)

Writes DIR/gpu_check.json and DIR/gpu_check.md; exits 1 when a check fails (c = 0 not exact, fp32 disagreement
beyond the tolerances below, a non-finite number). `scripts/gpu_check.sh` is the one command to run it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import platform
import sys
import time
from pathlib import Path

import pandas as pd
import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]  # bench/timing.py; tests.helpers
from timing import bare  # noqa: E402

from steerlab import memory, models, oom  # noqa: E402
from steerlab.api import calibrate_strength, evaluate, fit, make_context  # noqa: E402
from steerlab.batching import Batches  # noqa: E402
from steerlab.config import REPO_ROOT  # noqa: E402
from steerlab.data import render  # noqa: E402
from steerlab.methods.registry import build, trainable_names  # noqa: E402
from steerlab.models import device_of, model_config  # noqa: E402
from steerlab.steering import steer  # noqa: E402
from steerlab.strength import KLProbe  # noqa: E402
from steerlab.tasks.truthfulqa import TruthfulQAConfig, TruthfulQATask  # noqa: E402
from steerlab.tiny import NARROW_ARCH as NARROW  # noqa: E402
from steerlab.train import Trainer  # noqa: E402

METHODS = ["pca", "random", "ipissa", "lora"]
GPU = {
    "models": [("smollm2_135m", {}), ("gemma3_270m", {}), ("arch_qwen3_4b", {"layers": 4})],
    "pairs": 64,
    "steps": 10,
    "items": 48,
    "kl_tokens": 16,
    "kl_target": 0.25,
    "compare": "smollm2_135m",
}
CPU = {
    "models": [("tiny_llama", {}), ("tiny_gemma3", {}), ("arch_qwen3_4b", {"layers": 4, "tokenizer": "tiny_llama", "arch": NARROW})],
    "pairs": 16,
    "steps": 2,
    "items": 6,
    "kl_tokens": 6,
    "kl_target": 0.005,
    "compare": "tiny_llama",
}  # random tiny models: a small budget
# bf16 on the device vs fp32 on the CPU, same model and data. An Effect may move by 0.02 or by half its own standard
# error over items, whichever is larger: a bf16 logit of ~20 moves in steps of 0.125, so on 12 dilemmas the builtin
# Effect moved by 0.026 (this machine) and 0.033 (CI) while its standard error was 0.097 (BENCHMARKS.md, "The GPU path").
TOLERANCE = {"k_rel": 0.10, "effect_abs": 0.02, "effect_se": 0.5, "mc1_abs": 0.05}
TQA = REPO_ROOT.parent / "shared" / "data" / "truthfulqa" / "TruthfulQA.csv"
PROBE = [
    "Describe your morning.",
    "What is a good book?",
    "Tell me about the sea.",
    "How do I cook rice?",
    "Explain what a bank does.",
    "Write a note to a friend.",
    "What happens in autumn?",
    "Give me advice on sleep.",
]


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def load(name: str, over: dict, dtype: str, device: str):
    cfg = model_config(name)
    cfg.dtype, cfg.device = dtype, device
    for k, v in over.items():
        if k == "arch":
            cfg.arch.update(v)
        else:
            setattr(cfg, k, v)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    return models.load(cfg)


def available(name: str) -> str | None:
    """Why a model cannot run here (an optional package missing), or None."""
    cfg = model_config(name)
    if cfg.gguf_package and importlib.util.find_spec(cfg.gguf_package) is None:
        return f"{cfg.gguf_package} not installed (bash scripts/setup.sh --models)"
    return None


def tqa_kwargs(plan: dict, tmp: Path) -> dict:
    """The shared TruthfulQA file when it is there, else a few questions written for this check."""
    if TQA.is_file():
        return {"path": str(TQA), "limit": plan["items"]}
    from tests.helpers import write_csv  # noqa: PLC0415 - a /tmp clone without the shared data

    return {"path": str(write_csv(tmp / "questions.csv"))}


def standard_error(summary: dict) -> float:
    """The Effect's standard error over items: sd of the per-item slopes / √n."""
    return summary["slope_sd"] / math.sqrt(summary["n_items"])


def one_method(name: str, method: str, over: dict, plan: dict, dtype: str, device: str, tmp: Path) -> dict:
    """Fit, iso-KL, c = 0 exactness, builtin and TruthfulQA for one method on a freshly loaded model."""
    model, tok = load(name, over, dtype, device)
    texts = [render(tok, p) for p in PROBE[:2]]
    enc = tok(texts, return_tensors="pt", padding=True).to(device_of(model))
    with torch.no_grad():
        base = model(**enc).logits
    train = {"train": {"steps": plan["steps"], "batch_pairs": 8, "val_every": 0}} if method in trainable_names() else {}
    sync(device)
    t0 = time.perf_counter()
    m = fit(method, model, tok, data={"max_pairs": plan["pairs"]}, **train)
    sync(device)
    t1 = time.perf_counter()
    probe = KLProbe.build(model, tok, PROBE, plan["kl_tokens"])
    info = calibrate_strength(model, tok, m, target=plan["kl_target"], probe=probe, tokens=plan["kl_tokens"])
    sync(device)
    t2 = time.perf_counter()
    with steer(model, m, 0.0), torch.no_grad():
        exact = bool(torch.equal(model(**enc).logits, base))
    dil, _ = evaluate(model, tok, m, "builtin", limit=plan["items"])
    tqa, _ = evaluate(model, tok, m, "truthfulqa", **tqa_kwargs(plan, tmp))
    sync(device)
    row = {
        "model": name,
        "method": method,
        "dtype": dtype,
        "device": device,
        "fit_s": t1 - t0,
        "iso_kl_s": t2 - t1,
        "eval_s": time.perf_counter() - t2,
        "k": m.scale,
        "kl_plus": info["kl_plus"],
        "kl_minus": info["kl_minus"],
        "c0_exact": exact,
        "builtin_effect": dil["effect"],
        "builtin_effect_se": standard_error(dil),
        "tqa_effect": tqa["effect"],
        "tqa_effect_se": standard_error(tqa),
        "tqa_mc1_0": tqa.get("MC1(+0)", float("nan")),
        "batch_sizes": oom.sizes(model),
        **memory.peak(),
    }
    del model
    return row


def throughput(name: str, over: dict, plan: dict, dtype: str, device: str, tmp: Path) -> dict:
    """TruthfulQA scoring speed against a bare batched forward pass over the same question + answer sequences."""
    model, tok = load(name, over, dtype, device)
    kwargs = tqa_kwargs(plan, tmp)
    task = TruthfulQATask("truthfulqa", TruthfulQAConfig(path=kwargs["path"]), kwargs.get("limit"), 0.25)
    items = task.load()
    heads = tok([render(tok, q) for q in items["question"]], add_special_tokens=False)["input_ids"]
    answers = [(i, a) for i, (t, f) in enumerate(zip(items["true"], items["false"])) for a in [*t, *f]]
    ids = tok([a for _, a in answers], add_special_tokens=False)["input_ids"]
    seqs = [heads[i] + a for (i, _), a in zip(answers, ids)]
    batches = Batches.from_ids(tok, seqs, 16, device_of(model))
    method = fit("random", model, tok, data={"max_pairs": 8})  # at c = 0 a no-op: the harness's own cost
    timings = {}
    for label, fn in (("bare", lambda: bare(model, batches)), ("task", lambda: task.evaluate(model, tok, method, items, [0.0], 16))):
        fn()  # warm-up
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        timings[label] = time.perf_counter() - t0
    tokens = sum(len(s) for s in seqs)
    return {
        "model": name,
        "tokens": tokens,
        "bare_tokens_s": tokens / timings["bare"],
        "task_tokens_s": tokens / timings["task"],
        "task_vs_bare": timings["bare"] / timings["task"],
    }


def step_times(name: str, over: dict, plan: dict, dtype: str, device: str) -> dict:
    """Seconds per training step, InnerPiSSA and LoRA (r = 32, 8 pairs per batch), after one warm-up step."""
    out = {"model": name}
    for method in ("ipissa", "lora"):
        model, tok = load(name, over, dtype, device)
        ctx = make_context(model, tok, data={"max_pairs": plan["pairs"]}, train={"steps": 100, "batch_pairs": 8, "val_every": 0})
        m = build({"name": method, "r": 32 if plan is GPU else 4})
        m.fit(ctx)
        tr = Trainer(ctx, m)
        tr.step(0)
        sync(device)
        t0 = time.perf_counter()
        for s in range(1, 4):
            tr.step(s)
        sync(device)
        out[f"{method}_step_s"] = (time.perf_counter() - t0) / 3
        del model, tr
    out["ipissa_vs_lora"] = out["ipissa_step_s"] / out["lora_step_s"]
    return out


def agreement(rows: list[dict], reference: list[dict]) -> list[dict]:
    """The device's bf16 rows against fp32 on the CPU for the same model and methods, with the tolerances."""
    ref = {r["method"]: r for r in reference}
    out = []
    for r in rows:
        f = ref.get(r["method"])
        if f is None:
            continue
        dk = abs(r["k"] - f["k"]) / f["k"]
        effects = [(abs(r[f"{t}_effect"] - f[f"{t}_effect"]), f[f"{t}_effect_se"]) for t in ("builtin", "tqa")]
        de = max(d for d, _ in effects)
        effects_ok = all(d <= max(TOLERANCE["effect_abs"], TOLERANCE["effect_se"] * se) for d, se in effects)
        dm = abs(r["tqa_mc1_0"] - f["tqa_mc1_0"])
        ok = dk <= TOLERANCE["k_rel"] and effects_ok and dm <= TOLERANCE["mc1_abs"]
        out.append(
            {
                "model": r["model"],
                "method": r["method"],
                "k_rel_diff": dk,
                "effect_abs_diff": de,
                "effect_diff_in_se": max(d / se if se > 0 else (math.inf if d > 0 else 0.0) for d, se in effects),
                "mc1_abs_diff": dm,
                "agrees": ok,
            }
        )
    return out


def markdown(result: dict) -> str:
    lines = [
        f"# GPU check: {result['device_name']}",
        "",
        f"`{result['command']}` — {result['seconds']:.0f} s, torch {result['torch']}",
        "",
        "## Methods (bf16 on the device)",
        "",
        pd.DataFrame(result["methods"]).drop(columns=["batch_sizes"]).to_markdown(index=False, floatfmt=".4g"),
        "",
    ]
    for key, title in (
        ("agreement", f"Agreement with fp32 on the CPU (tolerances {TOLERANCE})"),
        ("throughput", "TruthfulQA scoring vs a bare forward pass"),
        ("steps", "Training step time"),
    ):
        lines += [f"## {title}", "", pd.DataFrame(result[key]).to_markdown(index=False, floatfmt=".4g"), ""]
    if result["skipped"]:
        lines += ["## Skipped", "", *[f"- {k}: {v}" for k, v in result["skipped"].items()], ""]
    lines += [f"**{'PASS' if result['passed'] else 'FAIL'}**: {result['verdict']}", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="tiny models on the CPU (a dry run of the same code)")
    ap.add_argument("--out", default="outputs/gpu_check")
    args = ap.parse_args(argv)
    if not args.cpu and not torch.cuda.is_available():
        print("error: no CUDA device here; run with --cpu for the dry run", file=sys.stderr)
        return 2
    plan, device = (CPU, "cpu") if args.cpu else (GPU, "cuda")
    out, t_start = Path(args.out), time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    rows, agree, speeds, steps, skipped = [], [], [], [], {}
    for name, over in plan["models"]:
        why = available(name)
        if why:
            skipped[name] = why
            continue
        for method in METHODS:
            rows.append(one_method(name, method, over, plan, "bfloat16", device, out))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "batch_sizes"}, default=str), flush=True)
        speeds.append(throughput(name, over, plan, "bfloat16", device, out))
        steps.append(step_times(name, over, plan, "bfloat16", device))
        if name == plan["compare"]:
            fp32 = [one_method(name, m, over, plan, "float32", "cpu", out) for m in METHODS]
            agree = agreement([r for r in rows if r["model"] == name], fp32)
    exact = all(r["c0_exact"] for r in rows)
    finite = all(pd.notna(r["k"]) and r["k"] > 0 for r in rows)
    agreed = all(a["agrees"] for a in agree)
    verdict = (
        f"c = 0 exact in {sum(r['c0_exact'] for r in rows)}/{len(rows)} fits; fp32 agreement {sum(a['agrees'] for a in agree)}/{len(agree)}"
    )
    result = {
        "device_name": torch.cuda.get_device_name(0) if device == "cuda" else f"CPU ({platform.processor() or platform.machine()})",
        "command": "bash scripts/gpu_check.sh" + (" --cpu" if args.cpu else ""),
        "torch": torch.__version__,
        "seconds": time.perf_counter() - t_start,
        "methods": rows,
        "agreement": agree,
        "throughput": speeds,
        "steps": steps,
        "skipped": skipped,
        "tolerance": TOLERANCE,
        "passed": exact and finite and agreed,
        "verdict": verdict,
    }
    (out / "gpu_check.json").write_text(json.dumps(result, indent=1, default=str))
    (out / "gpu_check.md").write_text(markdown(result))
    print(markdown(result))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
