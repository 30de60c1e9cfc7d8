"""Why bf16 is for GPUs: a SmolLM2-sized linear layer, its input gradient and attention, bf16 vs fp32 on this CPU
(one thread, best of N). The input gradient of `linear(x, w)` is `g @ w` with `w` as stored ([out, in]); the same
product with `w` transposed in memory shows whether the slow part is the layout or bf16 itself.

    python bench/bf16_cpu.py [repeats=20]
"""

from __future__ import annotations

import sys

import torch
from timing import timed  # bench/timing.py (scripts run from bench/)


def main(argv: list[str]) -> None:
    repeats = int(dict(a.split("=", 1) for a in argv).get("repeats", 20))
    torch.set_num_threads(1)
    times = {}
    for dt in (torch.float32, torch.bfloat16):
        x, w = torch.randn(512, 576, dtype=dt), torch.randn(1536, 576, dtype=dt)  # 512 tokens through SmolLM2's up_proj
        q = torch.randn(8, 9, 64, 64, dtype=dt)  # 8 sequences, 9 heads, 64 tokens, head dim 64
        g, wt = torch.randn(512, 1536, dtype=dt), w.t().contiguous()
        times[dt] = (
            timed(lambda: torch.nn.functional.linear(x, w), repeats),
            timed(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True), repeats),
            timed(lambda: g @ w, repeats),  # what autograd computes for the input gradient
            timed(lambda: g @ wt.t(), repeats),
        )  # the same numbers from the transposed layout
    f32, b16 = times[torch.float32], times[torch.bfloat16]
    print(f"torch {torch.__version__}, cpu capability {torch.backends.cpu.get_cpu_capability()}, 1 thread")
    print(f"linear 512x576 @ 576x1536: fp32 {f32[0] * 1e3:.2f} ms, bf16 {b16[0] * 1e3:.2f} ms, bf16/fp32 {b16[0] / f32[0]:.1f}")
    print(f"input gradient g @ w (w as stored): fp32 {f32[2] * 1e3:.2f} ms, bf16 {b16[2] * 1e3:.2f} ms, bf16/fp32 {b16[2] / f32[2]:.1f}")
    print(f"the same from w transposed in memory: fp32 {f32[3] * 1e3:.2f} ms, bf16 {b16[3] * 1e3:.2f} ms, bf16/fp32 {b16[3] / f32[3]:.1f}")
    print(f"causal attention 8x9x64x64: fp32 {f32[1] * 1e3:.2f} ms, bf16 {b16[1] * 1e3:.2f} ms, bf16/fp32 {b16[1] / f32[1]:.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
