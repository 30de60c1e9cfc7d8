"""One detached Jacobian on a real model: wall time and peak memory, against a plain forward pass of the same prompt.

    python bench/jacobian.py [model=smollm2_135m] [layer=15] [chunk=32] [repeats=3]

Peak memory is the process's peak RSS growth during the Jacobian (CPU) or torch's peak allocation (CUDA).
"""

from __future__ import annotations

import resource
import sys
import time

import torch

from steerlab.api import load_model
from steerlab.jacobian import embed, layer_jacobian, reconstruction_error

PROMPT = "The concept of honesty means"


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> None:
    args = dict(a.split("=", 1) for a in argv)
    name, layer, chunk, repeats = (
        args.get("model", "smollm2_135m"),
        int(args.get("layer", 15)),
        int(args.get("chunk", 32)),
        int(args.get("repeats", 3)),
    )
    model, tok = load_model(name)
    x = embed(model, tok, PROMPT)
    with torch.no_grad():
        model(inputs_embeds=x[None])
    fwd = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with torch.no_grad():
            model(inputs_embeds=x[None])
        fwd.append(time.perf_counter() - t0)
    before = rss_mib()
    jac, err = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = layer_jacobian(model, tok, PROMPT, layer, chunk=chunk)
        jac.append(time.perf_counter() - t0)
        err = reconstruction_error(result)
    peak = rss_mib() - before
    d, t = x.shape[-1], x.shape[0]
    print(f"model={name} layer={layer} chunk={chunk} tokens={t} d={d} J={tuple(result['J'].shape)} threads={torch.get_num_threads()}")
    print(
        f"forward (no grad, whole model): {min(fwd) * 1000:.1f} ms   Jacobian: "
        f"{min(jac):.2f} s (min of {repeats})   ratio {min(jac) / min(fwd):.0f}x"
    )
    print(f"peak RSS growth during the Jacobians: {peak:.0f} MiB (process peak {rss_mib():.0f} MiB); reconstruction error {err:.2e}")


if __name__ == "__main__":
    main(sys.argv[1:])
