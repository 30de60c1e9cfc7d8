"""steerlab's steering against llama.cpp applying the exported control vector, on the embedded SmolLM2.

    python bench/llama_cpp_check.py [RUN_DIR] [--out FILE.gguf]

RUN_DIR: a finished `launch.py adapter=pca` run (its calibrated vector is exported); without it, PCA is fitted here
on 64 pairs of the default data and calibrated to the default KL budget. The vector goes through
`steerlab.export` into a control-vector GGUF. llama.cpp (llama-cpp-python) loads the quantised Q4_1 GGUF of the
model, reads that file the way llama.cpp's loader does (`direction.l` at offset l − 1 of one n_embd × n_layer
buffer, times the strength) and applies it with `llama_set_adapter_cvec`; steerlab steers the fp32 dequantised
copy of the same file. Both see the same token ids (10 chat prompts). Compared: the next-token log-prob *changes*
Δ_c = log p_c − log p_0 at c = −1 and +1 on each prompt's 100 likeliest tokens at c = 0 (Pearson r, sign
agreement where |Δ| > 0.01 in steerlab), because Q4_1 matmuls in llama.cpp and fp32 ones differ a little at c = 0.
"""

from __future__ import annotations

import argparse
import ctypes
import time
from pathlib import Path

import numpy as np
import torch

PROMPTS = [
    "Should you tell your friend the truth about their bad haircut?",
    "Describe yourself in three sentences.",
    "I found a wallet with cash on the street. What should I do?",
    "Is it ever okay to lie on a job application?",
    "What do you think about people who cheat on exams?",
    "My boss asked me to hide a mistake from a client. Advice?",
    "Write one sentence about the weather.",
    "What is the capital of France?",
    "How should I answer when someone asks if I like their cooking and I don't?",
    "Tell me about your favourite book.",
]
TOP_K = 100


def fitted(run_dir: str | None):
    from steerlab.api import calibrate_strength, fit, load_model
    from steerlab.methods.store import load

    model, tok = load_model("smollm2_135m")
    if run_dir:
        return model, tok, load(Path(run_dir) / "method")
    method = fit("pca", model, tok, data={"max_pairs": 64})
    calibrate_strength(model, tok, method)
    return model, tok, method


def steerlab_logprobs(model, tok, method, ids: list[list[int]], coeffs) -> dict[float, np.ndarray]:
    from steerlab.steering import steer

    out = {}
    for c in coeffs:
        rows = []
        with torch.no_grad(), steer(model, method, c):
            for seq in ids:
                rows.append(torch.log_softmax(model(input_ids=torch.tensor([seq])).logits[0, -1].float(), -1).numpy())
        out[c] = np.stack(rows)
    return out


def cvec_buffer(path: Path, n_embd: int, n_layer: int, shift: int = 0) -> np.ndarray:
    """The buffer llama.cpp's loader builds from the file: layer l's direction at offset (l − 1) · n_embd
    (`shift` moves every direction that many layers up: the negative control of a wrong layer numbering)."""
    from steerlab.control_vector import read

    vector, _ = read(path)
    buf = np.zeros(n_embd * (n_layer - 1), dtype=np.float32)
    for layer, v in vector.items():
        at = layer + shift
        buf[(at - 1) * n_embd : at * n_embd] += v.numpy()
    return buf


def llama_logprobs(gguf: Path, cv: Path, ids: list[list[int]], coeffs, threads: int = 2, shift: int = 0) -> dict[float, np.ndarray]:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(gguf), n_ctx=256, n_threads=threads, logits_all=True, verbose=False)
    n_embd, n_layer = llm.n_embd(), llama_cpp.llama_model_n_layer(llm.model)
    buf = cvec_buffer(cv, n_embd, n_layer, shift)
    out = {}
    for c in coeffs:
        if c == 0:
            rc = llama_cpp.llama_set_adapter_cvec(llm.ctx, None, 0, n_embd, -1, -1)  # no control vector
        else:
            data = np.ascontiguousarray(buf * np.float32(c))
            rc = llama_cpp.llama_set_adapter_cvec(
                llm.ctx, data.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), data.size, n_embd, 1, n_layer - 1
            )
        if rc != 0:
            raise RuntimeError(f"llama_set_adapter_cvec returned {rc}")
        rows = []
        for seq in ids:
            llm.reset()
            llm.eval(seq)
            logits = torch.from_numpy(np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32))
            rows.append(torch.log_softmax(logits, -1).numpy())
        out[c] = np.stack(rows)
    return out


def compare(run_dir: str | None = None, prompts: int = 10, out: str | Path = "outputs/llama_cpp_check/pca.gguf", shift: int = 0) -> dict:
    from steerlab.api import model_config
    from steerlab.data import render
    from steerlab.export import export_control_vector
    from steerlab.models import gguf_path

    model, tok, method = fitted(run_dir)
    cv = export_control_vector(method, out, model_hint="llama")
    ids = [tok(render(tok, p), add_special_tokens=False)["input_ids"] for p in PROMPTS[:prompts]]
    coeffs = (-1.0, 0.0, 1.0)
    ours = steerlab_logprobs(model, tok, method, ids, coeffs)
    t0 = time.perf_counter()
    theirs = llama_logprobs(gguf_path(model_config("smollm2_135m")), cv, ids, coeffs, shift=shift)
    llama_seconds = time.perf_counter() - t0
    top = np.argsort(-ours[0.0], axis=1)[:, :TOP_K]
    pick = lambda lp: np.take_along_axis(lp, top, axis=1)
    d_ours = np.concatenate([(pick(ours[c]) - pick(ours[0.0])).ravel() for c in (-1.0, 1.0)])
    d_theirs = np.concatenate([(pick(theirs[c]) - pick(theirs[0.0])).ravel() for c in (-1.0, 1.0)])
    moved = np.abs(d_ours) > 0.01
    per_c = {
        c: float(np.corrcoef((pick(ours[c]) - pick(ours[0.0])).ravel(), (pick(theirs[c]) - pick(theirs[0.0])).ravel())[0, 1])
        for c in (-1.0, 1.0)
    }
    return {
        "prompts": len(ids),
        "top_k": TOP_K,
        "pairs": int(d_ours.size),
        "layers": sorted(method.vector.layers),
        "strength_scale": float(method.scale),
        "sign": float(method.sign),
        "pearson": float(np.corrcoef(d_ours, d_theirs)[0, 1]),
        "pearson_c-1": per_c[-1.0],
        "pearson_c+1": per_c[1.0],
        "sign_agreement": float((np.sign(d_ours[moved]) == np.sign(d_theirs[moved])).mean()),
        "moved_pairs": int(moved.sum()),
        "mean_abs_change_steerlab": float(np.abs(d_ours).mean()),
        "mean_abs_change_llama_cpp": float(np.abs(d_theirs).mean()),
        "slope": float(np.polyfit(d_ours, d_theirs, 1)[0]),
        "base_max_abs_diff": float(np.abs(pick(ours[0.0]) - pick(theirs[0.0])).max()),
        "base_mean_abs_diff": float(np.abs(pick(ours[0.0]) - pick(theirs[0.0])).mean()),
        "llama_cpp_seconds": llama_seconds,
        "file": str(cv),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", nargs="?")
    parser.add_argument("--out", default="outputs/llama_cpp_check/pca.gguf")
    parser.add_argument("--shift", type=int, default=0, help="negative control: apply every direction this many layers up")
    args = parser.parse_args()
    for key, value in compare(args.run_dir, out=args.out, shift=args.shift).items():
        print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
