"""Choose a vector method's norm_fraction on *training/validation pairs only* (never the eval set).

For each fraction: calibration separation at the read-out layer and the mean token NLL of the validation
prompts at c = -1, 0, +1. Pick the largest fraction whose ΔNLL stays under a budget.

    python bench/tune_norm.py adapter=pca fractions=0.005,0.01,0.02,0.05
"""

from __future__ import annotations

import sys

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from steerlab.api import context_for, load_model
from steerlab.batching import Batches
from steerlab.calibrate import calibrate
from steerlab.config import REPO_ROOT
from steerlab.config_store import register_configs
from steerlab.methods.registry import build
from steerlab.models import device_of
from steerlab.steering import steer
from steerlab.tasks.dilemmas import score, yes_no_ids


def main(argv: list[str]) -> None:
    fractions = [0.01, 0.02, 0.05]
    overrides = []
    for a in argv:
        if a.startswith("fractions="):
            fractions = [float(x) for x in a.split("=", 1)[1].split(",")]
        else:
            overrides.append(a)
    register_configs()
    with initialize_config_dir(str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    model, tok = load_model(cfg.model)
    ctx = context_for(cfg, model, tok)
    yes, no = yes_no_ids(tok)
    val = Batches.build(tok, [p.pos for p in ctx.val] + [p.neg for p in ctx.val], cfg.model.batch_size, device_of(model))
    print("fraction  separation  NLL(-1)  NLL(0)  NLL(+1)")
    for f in fractions:
        method = build(OmegaConf.merge(cfg.adapter, {"norm_fraction": f}))
        method.fit(ctx)
        sep = calibrate(ctx, method)["calibration_separation"]
        nll = [float(_nll(model, method, c, val, yes, no)) for c in (-1, 0, 1)]
        print(f"{f:8.3f}  {sep:10.3f}  {nll[0]:7.3f}  {nll[1]:6.3f}  {nll[2]:7.3f}")


def _nll(model, method, c, batches, yes, no):
    with steer(model, method, c):
        return score(model, batches, yes, no)["nll"].mean()


if __name__ == "__main__":
    main(sys.argv[1:])
