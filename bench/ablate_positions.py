"""Why directional ablation misses the KL budget: per-position projection on v̂ and residual norm at one layer.

    python bench/ablate_positions.py RUN_DIR [LAYER]

RUN_DIR: a finished `launch.py adapter=ablate` run on smollm2_135m. Prints μ, |v|, and for one chat prompt the
projection h·v̂ and the norm of h at every position of the steered layer (default: the middle steered layer).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from steerlab.api import load_model
from steerlab.data import render
from steerlab.hooks import capture_outputs
from steerlab.layers import decoder_layers
from steerlab.methods.store import load


def main(run_dir: str, layer: int | None = None) -> None:
    model, tok = load_model("smollm2_135m")
    method = load(Path(run_dir) / "method")
    layers = sorted(method.vector.layers)
    layer = layers[len(layers) // 2] if layer is None else layer
    v = method.vector.layers[layer]
    unit = v / v.norm()
    enc = tok([render(tok, "Describe yourself in three sentences.")], return_tensors="pt", add_special_tokens=False)
    with torch.no_grad(), capture_outputs({layer: decoder_layers(model)[layer]}) as store:
        model(**enc)
    h = store[layer][0]
    print(f"layer {layer}: mu {method.means[layer]:.3f}, |v| {float(v.norm()):.3f}")
    print("projection h·v̂ per position:", [round(float(x), 1) for x in h @ unit])
    print("norm of h per position:", [round(float(x), 1) for x in h.norm(dim=-1)])


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None)
