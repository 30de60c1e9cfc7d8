"""Eval harness throughput (items/s) as a ratio to a bare batched forward pass over the same tokenized prompts.

Both sides see identical batches; the harness adds steering hooks (coefficient 0 for the identity, 1 for a
fitted mean vector), last-token Yes/No log-ratios and per-prompt NLL. Target ratio >= 0.9.

    python bench/eval_throughput.py [model=smollm2_135m] [items=64] [repeats=3]
"""

from __future__ import annotations

import sys

from timing import bare, timed  # bench/timing.py (scripts run from bench/)

from steerlab.api import fit, load_model
from steerlab.batching import Batches
from steerlab.data import render
from steerlab.models import device_of
from steerlab.steering import steer
from steerlab.tasks.dilemma_data import load_items
from steerlab.tasks.dilemmas import ANSWER_PREFIX, DilemmaConfig, question, score, yes_no_ids


def main(argv: list[str]) -> None:
    args = dict(a.split("=", 1) for a in argv)
    name, n, repeats = args.get("model", "smollm2_135m"), int(args.get("items", 64)), int(args.get("repeats", 3))
    model, tok = load_model(name)
    items = load_items(DilemmaConfig()).head(n)
    texts = [render(tok, question(s, a), ANSWER_PREFIX) for s, a in zip(items["situation"], items["action"])]
    batches = Batches.build(tok, texts, 16, device_of(model))
    yes, no = yes_no_ids(tok)
    method = fit("mean", model, tok, data={"max_pairs": 32})
    t_bare = timed(lambda: bare(model, batches), repeats)
    for c in (0.0, 1.0):

        def harness():
            with steer(model, method, c):
                score(model, batches, yes, no)

        t_h = timed(harness, repeats)
        print(
            f"model={name} items={len(texts)} c={c:g}: bare {len(texts) / t_bare:.2f} items/s, "
            f"harness {len(texts) / t_h:.2f} items/s, ratio {t_bare / t_h:.3f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
