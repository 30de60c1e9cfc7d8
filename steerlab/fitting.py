"""Fit any method the same way, from launch.py or a notebook: fit (trained adapters: attach), train if it is trained,
then calibrate its sign on the training pairs (SPEC §4)."""

from __future__ import annotations

import logging
import time

from steerlab.calibrate import calibrate
from steerlab.context import FitContext
from steerlab.methods.base import Method
from steerlab.train import train

log = logging.getLogger(__name__)


def fit(method: Method, ctx: FitContext) -> dict:
    """Fit, train (trained adapters) and sign-calibrate `method` on `ctx`; returns what the run summary records."""
    t0 = time.perf_counter()
    method.check_layers(ctx.steer_layers, ctx.loss_layers)
    method.fit(ctx)
    if method.is_trained:
        method.meta["train"] = train(ctx, method)
    info = calibrate(ctx, method)
    log.info(
        "fitted %s on %d train pairs (%d val) in %.1f s; calibration separation %+.3f, flipped=%s",
        method.name,
        len(ctx.train),
        len(ctx.val),
        time.perf_counter() - t0,
        info["calibration_separation"],
        info["calibration_flipped"],
    )
    trained = {f"train_{k}": v for k, v in method.meta.get("train", {}).items()}
    return {**info, **trained, "n_train_pairs": len(ctx.train), "n_val_pairs": len(ctx.val), "fit_seconds": time.perf_counter() - t0}
