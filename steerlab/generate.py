"""Greedy generation under steering: the base continuations strength calibration teacher-forces, and the
steered text samples (`samples.md`) a researcher reads first to see what a direction does to the model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from steerlab import oom
from steerlab.batching import Batches
from steerlab.data import render
from steerlab.models import device_of
from steerlab.progress import progress

SAMPLE_COEFFS = (-1.0, 0.0, 1.0)


def stop_ids(model, tok) -> set[int]:
    """Token ids that end a continuation: the tokenizer's EOS and the generation config's."""
    ids = model.generation_config.eos_token_id if model.generation_config is not None else None
    ids = set(ids if isinstance(ids, list) else [] if ids is None else [ids])
    return ids | ({tok.eos_token_id} if tok.eos_token_id is not None else set())


def trim(ids: list[int], stops: set[int]) -> list[int]:
    """Keep tokens up to and including the first stop token (generate pads finished rows after it)."""
    for i, t in enumerate(ids):
        if t in stops:
            return ids[: i + 1]
    return ids


@torch.no_grad()
def greedy(model, tok, texts: list[str], tokens: int, batch_size: int = 16, logprobs: bool = False, desc: str = "generate"):
    """The greedy continuation (new token ids, at most `tokens`) of each text, under whatever hooks are active.

    `logprobs=True` also returns, per text, the [len(continuation), vocab] log-probs the model gave at each
    generated position (the distributions greedy decoding took its argmax of).
    """
    return oom.run(model, "generate", batch_size, lambda size: _greedy(model, tok, texts, tokens, size, logprobs, desc), len(texts))


def _greedy(model, tok, texts, tokens, batch_size, logprobs, desc):
    batches = Batches.build(tok, texts, batch_size, device_of(model))
    stops = stop_ids(model, tok)
    rows: list[list[int]] = []
    dists: list[torch.Tensor] = []
    for batch in progress(batches.batches, desc=desc):
        out = model.generate(
            **batch,
            max_new_tokens=tokens,
            min_new_tokens=1,
            do_sample=False,
            num_beams=1,
            pad_token_id=tok.pad_token_id,
            top_p=None,
            top_k=None,
            temperature=None,
            return_dict_in_generate=True,
            output_logits=logprobs,
        )
        new = [trim(r, stops) for r in out.sequences[:, batch["input_ids"].shape[1] :].tolist()]
        rows += new
        if logprobs:
            steps = torch.stack(out.logits, 1)  # [batch, steps, vocab]
            dists += [steps[i, : len(ids)].float().log_softmax(-1) for i, ids in enumerate(new)]
    ids = unsort(batches, rows)
    return (ids, unsort(batches, dists)) if logprobs else ids


def unsort(batches: Batches, values: list) -> list:
    ordered = np.empty(len(values), dtype=object)
    ordered[:] = values
    return list(batches.unsort(ordered))


def generate(model, tok, method, prompts: list[str], coeffs=SAMPLE_COEFFS, tokens: int = 48, batch_size: int = 16) -> pd.DataFrame:
    """One row per prompt × coefficient: the greedy reply to `prompt` (a user turn) with the model steered by c."""
    from steerlab.steering import steer

    rows = []
    for c in coeffs:
        with steer(model, method, c) as prompt:
            ids = greedy(model, tok, [render(tok, prompt(p)) for p in prompts], tokens, batch_size, desc=f"samples c={c:+g}")
        rows += [{"prompt": p, "coeff": float(c), "text": tok.decode(i, skip_special_tokens=True).strip()} for p, i in zip(prompts, ids)]
    return pd.DataFrame(rows)


def cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\r", "").replace("\n", "<br>") or "(empty)"


def samples_markdown(frame: pd.DataFrame) -> str:
    """Per prompt, one table row with the continuations at each coefficient side by side."""
    coeffs = sorted(frame["coeff"].unique())
    head = ["| prompt | " + " | ".join(f"c = {c:+g}" for c in coeffs) + " |", "|---" * (len(coeffs) + 1) + "|"]
    rows = []
    for prompt, g in frame.groupby("prompt", sort=False):
        texts = g.set_index("coeff")["text"]
        rows.append(f"| {cell(prompt)} | " + " | ".join(cell(texts.get(c, "")) for c in coeffs) + " |")
    return "\n".join(head + rows)
