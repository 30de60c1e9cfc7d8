"""Tokenize prompts once into length-sorted, left-padded batches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Batches:
    """Token sequences sorted by length into padded batches; `order` maps back to input order."""

    batches: list[dict]
    order: np.ndarray

    @classmethod
    def build(cls, tok, texts: list[str], batch_size: int, device) -> "Batches":
        return cls.from_ids(tok, tok(texts, add_special_tokens=False)["input_ids"], batch_size, device)

    @classmethod
    def from_ids(cls, tok, ids: list[list[int]], batch_size: int, device) -> "Batches":
        order = np.argsort([len(x) for x in ids], kind="stable")
        batches = []
        for start in range(0, len(order), batch_size):
            chunk = [{"input_ids": ids[i]} for i in order[start : start + batch_size]]
            enc = tok.pad(chunk, return_tensors="pt", padding=True)
            batches.append({k: v.to(device) for k, v in enc.items()})
        return cls(batches, order)

    def unsort(self, values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[self.order] = values
        return out
