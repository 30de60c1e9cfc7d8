"""Sentiment of generated text (the positive control, issue 25): greedy continuations of neutral everyday prompts, scored
by VADER (Hutto & Gilbert 2014; the `vaderSentiment` package, MIT, its lexicon ships in the wheel), a scorer steerlab
did not write.

Per prompt and coefficient: the greedy reply (`tokens` new tokens at most) with the model steered by c; `y` = VADER's
compound score of the reply (−1 most negative … +1 most positive); `nll` = the reply's mean per-token NLL under the
*unsteered* model given the unsteered prompt (how far the text left what the model would say: the coherence cost).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import numpy as np
import pandas as pd

from steerlab.data import load_strings, render
from steerlab.fields import ranged
from steerlab.tasks.base import Task, TaskConfig, registered

log = logging.getLogger(__name__)


@dataclass
class SentimentConfig(TaskConfig):
    task: str = "sentiment"
    prompts: str = "builtin"  # 'builtin' (steerlab/resources/neutral_prompts.json, 72 prompts) or a JSON list of strings
    tokens: int = ranged(32, ">=1")  # new tokens per greedy reply
    limit: Optional[int] = ranged(None, ">=1")


@lru_cache(maxsize=1)
def analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def compound(text: str) -> float:
    """VADER's compound sentiment of `text`, in [−1, 1]."""
    return float(analyzer().polarity_scores(text)["compound"])


@registered(SentimentConfig)
class SentimentTask(Task):
    unit = "prompt"
    y_label = "VADER compound of the reply"

    def describe(self) -> str:
        return (
            f"sentiment of greedy replies ({self.cfg.tokens} tokens) to neutral prompts ({self.cfg.prompts}): y = VADER compound "
            "score of the reply (higher = more positive); NLL = the reply's mean token NLL under the unsteered model."
        )

    def load(self) -> pd.DataFrame:
        prompts = load_strings(self.cfg.prompts, "neutral_prompts.json", f"evals.{self.name}.prompts")[: self.limit]
        items = pd.DataFrame({"prompt": prompts})
        return items.assign(group=items.index)

    def unscored_hint(self) -> str:
        return "no reply was generated"

    def evaluate(self, model, tok, method, items, coeffs, batch_size) -> pd.DataFrame:
        from steerlab.generate import greedy
        from steerlab.likelihood import Continuations
        from steerlab.steering import steer

        prompts = list(items["prompt"])
        plain = tok([render(tok, p) for p in prompts], add_special_tokens=False)["input_ids"]  # what the unsteered model reads
        frames = []
        for c in coeffs:
            t0 = time.perf_counter()
            with steer(model, method, c) as prompt:
                replies = greedy(
                    model,
                    tok,
                    [render(tok, prompt(p)) for p in prompts],
                    self.cfg.tokens,
                    batch_size,
                    desc=f"{self.name} c={c:+g}",
                )
            total = Continuations(tok, plain, replies, np.arange(len(prompts)), batch_size).score(model, desc=f"{self.name} NLL c={c:+g}")
            texts = [tok.decode(r, skip_special_tokens=True).strip() for r in replies]
            frames.append(
                pd.DataFrame(
                    {
                        "item": items.index,
                        "group": items["group"].to_numpy(),
                        "coeff": c,
                        "y": [compound(t) for t in texts],
                        "nll": -total / np.array([len(r) for r in replies]),
                        "tokens": [len(r) for r in replies],
                        "text": texts,
                    }
                )
            )
            log.info(
                "%s c=%+g: %d replies in %.1f s, mean VADER compound %+.3f",
                self.name,
                c,
                len(prompts),
                time.perf_counter() - t0,
                frames[-1]["y"].mean(),
            )
        return pd.concat(frames, ignore_index=True)

    def extras(self, results, items, metric) -> tuple[dict, pd.DataFrame]:
        """Per coefficient: mean compound, share of positive / negative replies (|compound| ≥ 0.05, VADER's own cut), NLL."""
        rows = []
        for c, g in results.groupby("coeff"):
            rows.append(
                {
                    "coeff": c,
                    "n": len(g),
                    "compound": g["y"].mean(),
                    "positive": (g["y"] >= 0.05).mean(),
                    "negative": (g["y"] <= -0.05).mean(),
                    "NLL": g["nll"].mean(),
                    "tokens": g["tokens"].mean(),
                }
            )
        table = pd.DataFrame(rows)
        share = dict(zip(table["coeff"], table["positive"]))
        return {f"positive({c:+g})": float(v) for c, v in share.items()}, table
