"""Log-likelihood of continuations given shared prefixes (a question's answers), each prefix run once.

A chunk of prefixes runs as one left-padded forward pass that keeps its KV cache and the next-token
distribution after each prefix; the cache rows are then repeated for every continuation of that prefix,
and all continuations run as one right-padded pass on top. The first continuation token is scored by the
prefix's last position, the rest by the continuation pass. Rotary position embeddings make the left-padding
offset irrelevant, so the scores equal those of full prefix + continuation sequences up to float rounding
(tested to 1e-5), at the cost of the continuation tokens plus one pass over each distinct prefix.
"""

from __future__ import annotations

import copy
import inspect

import numpy as np
import torch

from steerlab.models import device_of
from steerlab.progress import progress


def cache_of(output):
    """The KV cache of a forward pass: `cache` (transformers ≥ 5.2x), else the older `past_key_values`."""
    return output["cache"] if "cache" in output else output.past_key_values


def cache_arg(model) -> str:
    """The forward keyword that takes a KV cache: `cache` where the model has it (`past_key_values` is deprecated
    there and goes in transformers 5.40), else `past_key_values`."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


class Continuations:
    """Token ids of prefixes and of continuations (`owner[j]` = the prefix of continuation j), in chunks."""

    def __init__(self, tok, prefixes: list[list[int]], conts: list[list[int]], owner: np.ndarray, batch_size: int):
        if tok.padding_side != "left":
            raise ValueError("Continuations needs a left-padding tokenizer (steerlab.models.load sets it)")
        if any(len(c) == 0 for c in conts) or any(len(p) == 0 for p in prefixes):
            raise ValueError("every prefix and continuation needs at least one token")
        self.tok, self.prefixes, self.conts, self.owner = tok, prefixes, conts, np.asarray(owner)
        order = np.argsort([len(p) for p in prefixes], kind="stable")  # similar prefix lengths share a chunk: little padding
        self.chunks, rows = [], 0
        for i in order:
            n = int((self.owner == i).sum())
            if not self.chunks or len(self.chunks[-1]) >= batch_size or rows + n > 4 * batch_size:
                self.chunks.append([])
                rows = 0
            self.chunks[-1].append(int(i))
            rows += n

    @torch.no_grad()
    def score(self, model, desc: str = "score") -> np.ndarray:
        """Summed log-prob of every continuation, in input order."""
        dev = device_of(model)
        out = np.empty(len(self.conts))
        for chunk in progress(self.chunks, desc=desc):
            idx = np.flatnonzero(np.isin(self.owner, chunk))
            out[idx] = self._chunk(model, chunk, idx, dev)
        return out

    def _chunk(self, model, chunk: list[int], idx: np.ndarray, dev) -> np.ndarray:
        head = self.tok.pad([{"input_ids": self.prefixes[i]} for i in chunk], return_tensors="pt", padding=True)
        head = {k: v.to(dev) for k, v in head.items()}
        first = model(**head, use_cache=True, logits_to_keep=1)
        start = first.logits[:, -1].float().log_softmax(-1)
        prefix_cache = cache_of(first)
        out = np.empty(len(idx))
        groups = length_groups([len(self.conts[j]) for j in idx])
        for g, part in enumerate(groups):
            cache = prefix_cache if g == len(groups) - 1 else copy.deepcopy(prefix_cache)  # reorder_cache works in place
            out[part] = self._continuations(model, chunk, idx[part], head["attention_mask"], start, cache, dev)
        return out

    def _continuations(self, model, chunk: list[int], idx: np.ndarray, head_mask, start_lp, cache, dev) -> np.ndarray:
        """Summed log-probs of continuations `idx` (of this chunk's prefixes) on top of the prefix KV cache."""
        rows = torch.as_tensor([chunk.index(int(self.owner[j])) for j in idx], device=dev)  # prefix row of each continuation
        cache.reorder_cache(rows)
        lens = torch.as_tensor([len(self.conts[j]) for j in idx], device=dev)
        width = int(lens.max())
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        ids = torch.full((len(idx), width), pad, dtype=torch.long, device=dev)
        for r, j in enumerate(idx):
            ids[r, : len(self.conts[j])] = torch.as_tensor(self.conts[j], device=dev)
        cont_mask = (torch.arange(width, device=dev) < lens[:, None]).long()
        mask = torch.cat([head_mask[rows], cont_mask], 1)
        start = start_lp[rows].gather(1, ids[:, :1]).squeeze(1)  # first token, from the prefix
        if width == 1:
            return start.cpu().numpy()
        logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=width, **{cache_arg(model): cache}).logits[:, :-1].float()
        lp = logits.gather(-1, ids[:, 1:, None]).squeeze(-1) - logits.logsumexp(-1)  # [rows, width - 1]
        return (start + (lp * cont_mask[:, 1:]).sum(1)).cpu().numpy()


def length_groups(lengths: list[int], most: int = 3, per_pass: int = 64) -> list[np.ndarray]:
    """Positions split into at most `most` passes of similar length, which minimises the padded tokens computed
    (rows × longest, plus `per_pass` tokens for each extra pass); answers of 3 and of 30 tokens then do not share
    a width. Exact dynamic programme over the positions sorted by length."""
    order = np.argsort(lengths, kind="stable")
    ln = np.asarray(lengths)[order]
    n = len(ln)
    cost = {(0, 0): (0.0, [])}  # (groups used, positions covered) -> (padded tokens, cut points)
    best = (float(n * ln[-1]), [n]) if n else (0.0, [])
    for k in range(1, most + 1):
        for end in range(1, n + 1):
            options = [
                (c + (end - start) * ln[end - 1] + (k - 1 and per_pass), cuts + [end])
                for (used, start), (c, cuts) in cost.items()
                if used == k - 1 and start < end
            ]
            if options:
                cost[(k, end)] = min(options, key=lambda o: o[0])
        if (k, n) in cost and cost[(k, n)][0] < best[0]:
            best = cost[(k, n)]
    bounds = [0, *best[1]]
    return [order[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]
