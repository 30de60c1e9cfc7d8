"""Read hidden states of chosen modules at the last tokens of prompts (no gradients)."""

from __future__ import annotations

import torch

from steerlab import oom
from steerlab.batching import Batches
from steerlab.hooks import capture_outputs, run_captured
from steerlab.models import device_of
from steerlab.progress import progress


@torch.no_grad()
def last_tokens(
    model, tok, texts: list[str], modules: dict, batch_size: int, k: int = 1, inputs: bool = False, desc: str = "extract"
) -> dict:
    """{key: [n_texts, d]} mean over the last `k` tokens of each module's output (and input under (key, 'in')). Each
    pass stops after the last module it reads: the layers above and the LM head never run."""
    return oom.run(model, "extract", batch_size, lambda size: _last_tokens(model, tok, texts, modules, size, k, inputs, desc), len(texts))


def _last_tokens(model, tok, texts, modules, batch_size, k, inputs, desc) -> dict:
    batches = Batches.build(tok, texts, batch_size, device_of(model))
    parts: dict = {}
    with capture_outputs(modules, stop=True) as store:
        for batch in progress(batches.batches, desc=desc):
            run_captured(model, store, **batch)
            for key in modules:
                parts.setdefault(key, []).append(store[key][:, -k:].float().mean(1).cpu())  # left padding: last k are real
                if inputs:
                    parts.setdefault((key, "in"), []).append(store[(key, "in")][:, -k:].float().mean(1).cpu())
    return {key: _unsort(torch.cat(chunks), batches) for key, chunks in parts.items()}


def _unsort(t: torch.Tensor, batches: Batches) -> torch.Tensor:
    out = torch.empty_like(t)
    out[torch.as_tensor(batches.order)] = t
    return out


def pair_states(model, tok, pairs, modules: dict, batch_size: int, k: int = 1, inputs: bool = False) -> tuple[dict, dict]:
    """(positive states, negative states) for a list of Pairs, each {key: [n_pairs, d]}."""
    pos = last_tokens(model, tok, [p.pos for p in pairs], modules, batch_size, k, inputs, "extract +")
    neg = last_tokens(model, tok, [p.neg for p in pairs], modules, batch_size, k, inputs, "extract -")
    return pos, neg
