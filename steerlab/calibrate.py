"""Sign calibration (SPEC §4): on held-out *training* pairs, c = +1 must move towards the positive persona."""

from __future__ import annotations

import torch

from steerlab.activations import last_tokens
from steerlab.context import FitContext
from steerlab.data import persona_prompt, render
from steerlab.layers import readout, readout_index
from steerlab.methods.base import Method
from steerlab.steering import steer

NEUTRAL_PERSONA = "a"  # the template with no trait: "Pretend you are a person ..."


def readout_direction(ctx: FitContext) -> torch.Tensor:
    """Unit mean difference (pos - neg) of unsteered states at the read-out layer, on training pairs."""
    out = readout_index(ctx.loss_layer)
    pos, neg = ctx.layer_states([out])
    d = (pos[out] - neg[out]).mean(0)
    return d / d.norm().clamp_min(1e-12)


def projection(ctx: FitContext, method: Method, coeff: float, direction: torch.Tensor) -> float:
    """Mean read-out projection on `direction` of neutral-persona prompts with the validation suffixes, steered by coeff."""
    layer = readout(ctx.placement.decoder(ctx.model), ctx.loss_layer)
    with steer(ctx.model, method, coeff) as prompt:
        user = prompt(persona_prompt(ctx.template, NEUTRAL_PERSONA))
        texts = [render(ctx.tok, user, part) for part in sorted({p.part for p in ctx.val})]
        states = last_tokens(ctx.model, ctx.tok, texts, {"r": layer}, ctx.batch_size, ctx.readout_tokens, desc="calibrate")["r"]
    return float((states @ direction).mean())


def calibrate(ctx: FitContext, method: Method) -> dict:
    """Flip `method.sign` if +1 moves away from the positive persona; return what was measured."""
    d = readout_direction(ctx)
    sep = projection(ctx, method, 1.0, d) - projection(ctx, method, -1.0, d)
    flipped = sep < 0
    if flipped:
        method.sign = -method.sign
    info = {"calibration_separation": sep, "calibration_flipped": bool(flipped), "calibration_layer": ctx.loss_layer}
    method.meta.update(info)
    return info
