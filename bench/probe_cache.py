"""Strength calibration with a warm KL-probe cache against a cold one, in one process (BENCHMARKS.md, issue 24).

    python bench/probe_cache.py [model=smollm2_135m] [adapter=pca] [repeats=3]

Loads the model, fits the method once, then alternates: cold (build the probe: a greedy generation of the base
continuations, store it) + the iso-KL search, and warm (read the stored probe) + the same search. Each pair runs
back to back, so the ratio warm / cold is taken against a peer measured under the same machine load. Prints every
pair and the median ratio; the solved k must be equal in both (the probe is bit-identical).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.helpers.compose_cfg

from steerlab.api import fit, load_model
from steerlab.config_store import register_configs
from steerlab.probe_store import kl_probe
from steerlab.strength import calibrate_strength
from tests.helpers import compose_cfg


def timed_calibration(cfg, model, tok, method) -> tuple[float, float]:
    t0 = time.perf_counter()
    method.scale = 1.0
    info = calibrate_strength(model, tok, method, cfg.strength, kl_probe(cfg, model, tok))
    return time.perf_counter() - t0, info["strength_scale"]


def main(argv: list[str]) -> None:
    args = dict(a.split("=", 1) for a in argv)
    name, adapter, repeats = args.get("model", "smollm2_135m"), args.get("adapter", "pca"), int(args.get("repeats", 3))
    register_configs()
    cache = tempfile.mkdtemp(prefix="probe-bench-")
    cfg = compose_cfg([f"model={name}", f"adapter={adapter}", f"fit_cache_dir={cache}"])
    model, tok = load_model(name)
    method = fit(adapter, model, tok, cfg.data, cfg.layers)
    ratios = []
    for i in range(repeats):
        shutil.rmtree(f"{cache}/probes", ignore_errors=True)
        cold, k_cold = timed_calibration(cfg, model, tok, method)
        warm, k_warm = timed_calibration(cfg, model, tok, method)
        assert k_cold == k_warm, (k_cold, k_warm)
        ratios.append(warm / cold)
        print(f"pair {i}: cold {cold:.2f} s, warm {warm:.2f} s, warm / cold {warm / cold:.3f} (k = {k_warm:.6g} both)", flush=True)
    print(f"{name} {adapter}: median warm / cold = {statistics.median(ratios):.3f} over {repeats} pairs")
    shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
