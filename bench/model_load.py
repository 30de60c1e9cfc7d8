"""Model load time: cold (GGUF dequantised and converted) vs cached safetensors folder.

python bench/model_load.py [model=smollm2_135m] [repeats=3]
"""

from __future__ import annotations

import sys
import tempfile
import time

from steerlab.api import load_model, model_config


def main(argv: list[str]) -> None:
    args = dict(a.split("=", 1) for a in argv)
    name, repeats = args.get("model", "smollm2_135m"), int(args.get("repeats", 3))
    with tempfile.TemporaryDirectory() as cache:
        cfg = model_config(name)
        cfg.cache_dir = cache
        t0 = time.perf_counter()
        load_model(cfg)
        cold = time.perf_counter() - t0
        warm = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            load_model(cfg)
            warm.append(time.perf_counter() - t0)
    best = min(warm)
    print(f"model={name} cold={cold:.2f}s cached(min of {repeats})={best:.2f}s ratio cold/cached={cold / best:.1f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
