"""Detached Jacobian (SPEC §7; Golden 2025, "LLMs are locally linear").

Inside `detached(model)` the model's own modules run with their nonlinear factors held constant:
- RMSNorm: its per-element scale `y / x` is detached, so the norm is linear in its input;
- the MLP gate: `act_fn(gate(x))` is detached, so `down(act(gate(x)) * up(x))` is linear in x (via up);
- attention: the model's own SDPA attention gets detached queries and keys, so the softmax weights are
  constants and the output is linear in the values.
Models without additive biases (Llama, Qwen3, Gemma3) are then exactly linear in their input embeddings for
this input: a layer's output at the last token is `y = Σ_t J_t x_t`, with J the Jacobian of the detached
forward. `layer_jacobian` computes J in chunks of output dimensions (a batch of copies of the prompt per chunk),
so memory grows with the chunk, not with d_model.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from typing import Iterator

import torch
from torch import nn

from steerlab.hooks import output_of
from steerlab.layers import decoder_layers

DETACHED = "steerlab_detached"


def _attention(module, query, key, value, *args, **kwargs):
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    return ALL_ATTENTION_FUNCTIONS["sdpa"](module, query.detach(), key.detach(), value, *args, **kwargs)


def register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(DETACHED, _attention)
    AttentionMaskInterface.register(DETACHED, sdpa_mask)


class Constants:
    """The detached factors of one forward pass: recorded on the first pass, replayed (broadcast over a batch) after.

    Replaying makes every Jacobian chunk use exactly the constants of the pass that produced y, even where a
    model rounds inside a norm (Llama and Gemma compute the RMS in fp32), so y = J x holds to the last bit.
    """

    def __init__(self):
        self.values: dict[int, torch.Tensor] = {}
        self.replay = False

    def get(self, module: nn.Module, compute) -> torch.Tensor:
        key = id(module)
        if not self.replay:
            self.values[key] = compute().detach()
        return self.values[key]


class DetachedGate(nn.Module):
    """Stands in for an MLP's `act_fn`: the same values, held constant."""

    def __init__(self, act: nn.Module, constants: Constants):
        super().__init__()
        self.act, self.constants = act, constants

    def forward(self, x):
        return self.constants.get(self, lambda: self.act(x))


def norm_hook(constants: Constants):
    def hook(module, args, output):
        x = args[0]

        def scale():  # y / x elementwise; where x is exactly 0 the output is 0 whatever the scale
            nonzero = x != 0
            return torch.where(nonzero, output / torch.where(nonzero, x, torch.ones_like(x)), torch.zeros_like(x))

        return x * constants.get(module, scale)

    return hook


def is_norm(module: nn.Module) -> bool:
    return type(module).__name__.endswith("RMSNorm")


@contextmanager
def detached(model, constants: Constants | None = None) -> Iterator[Constants]:
    """Run `model` with constant norm scales, gates and attention softmax (values unchanged); restored on exit."""
    register()
    constants = constants or Constants()
    configs = {
        id(m.config): m.config for m in model.modules() if hasattr(m, "config") and hasattr(m.config, "_attn_implementation_internal")
    }
    before = {k: c._attn_implementation_internal for k, c in configs.items()}
    mlps = [m for m in model.modules() if isinstance(getattr(m, "act_fn", None), nn.Module)]
    with ExitStack() as stack:
        for m in model.modules():
            if is_norm(m):
                stack.enter_context(m.register_forward_hook(norm_hook(constants)))
        try:
            for c in configs.values():
                c._attn_implementation_internal = DETACHED
            for m in mlps:
                m.act_fn = DetachedGate(m.act_fn, constants)
            yield constants
        finally:
            for k, c in configs.items():
                c._attn_implementation_internal = before[k]
            for m in mlps:
                if isinstance(m.act_fn, DetachedGate):
                    m.act_fn = m.act_fn.act


def _layer_output(model, layers_path, layer: int, embeds: torch.Tensor) -> torch.Tensor:
    """Output of decoder layer `layer` for `inputs_embeds`; the forward stops there."""
    return output_of(model, decoder_layers(model, layers_path)[layer], inputs_embeds=embeds, use_cache=False)


def embed(model, tok, text: str) -> torch.Tensor:
    """[T, d] input embeddings of `text` as the model sees them (Gemma's embedding scale included)."""
    ids = tok(text, return_tensors="pt", add_special_tokens=True).input_ids.to(model.device)
    with torch.no_grad():
        return model.get_input_embeddings()(ids)[0]


def layer_jacobian(model, tok, text: str, layer: int, layers_path: str | None = None, chunk: int = 32) -> dict:
    """J [d, T, d] of decoder layer `layer`'s last-token output w.r.t. the input embeddings, under `detached`.

    Returns {"J", "x" (the embeddings), "y" (the detached forward's output)}: y = einsum('otd,td->o', J, x).
    """
    x = embed(model, tok, text)
    d = x.shape[-1]
    rows = []
    with detached(model) as constants:
        with torch.no_grad():
            y = _layer_output(model, layers_path, layer, x[None])[0, -1]
        constants.replay = True
        for start in range(0, d, chunk):
            dims = torch.arange(start, min(start + chunk, d), device=x.device)
            xs = x.expand(len(dims), *x.shape).clone().requires_grad_(True)
            h = _layer_output(model, layers_path, layer, xs)[:, -1]  # [chunk, d]
            (grad,) = torch.autograd.grad(h[torch.arange(len(dims)), dims].sum(), xs)
            rows.append(grad.detach())
    return {"J": torch.cat(rows), "x": x, "y": y}


def reconstruction_error(result: dict) -> float:
    """‖y − Σ_t J_t x_t‖ / ‖y‖."""
    recon = torch.einsum("otd,td->o", result["J"], result["x"])
    return float((recon - result["y"]).norm() / result["y"].norm())


def top_directions(J: torch.Tensor, k: int = 1) -> torch.Tensor:
    """[k, d] top left-singular vectors of J flattened to [d_out, T·d_in]: output directions J amplifies most."""
    u, _, _ = torch.linalg.svd(J.reshape(J.shape[0], -1).double(), full_matrices=False)
    return u[:, :k].T.to(J.dtype)
