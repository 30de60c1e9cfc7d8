"""TruthfulQA scoring throughput (answers/s) as a ratio to a bare batched forward pass over the same token sequences.

The bare pass runs every `question + answer` sequence (chat-rendered, tokenized once, length-sorted, left-padded,
batches of `batch`) through the model and computes nothing else; it is the cost of scoring each answer with one
plain forward pass. The task's scorer (`steerlab.likelihood.Continuations`) runs each question once, reuses its
KV cache for that question's answers and computes the answer log-probs, MC1, MC2 and `y`; both sides run under
the same steering hook (a fitted mean vector at c = 1, or c = 0 for none). Target ratio >= 0.9.

    python bench/truthfulqa_throughput.py [model=smollm2_135m] [questions=100] [batch=16] [repeats=3]
"""

from __future__ import annotations

import sys

from timing import bare, timed  # bench/timing.py (scripts run from bench/)

from steerlab.api import fit, load_model
from steerlab.batching import Batches
from steerlab.config import REPO_ROOT
from steerlab.data import render
from steerlab.models import device_of
from steerlab.steering import steer
from steerlab.tasks.truthfulqa import TruthfulQAConfig, TruthfulQATask

CSV = REPO_ROOT.parent / "shared" / "data" / "truthfulqa" / "TruthfulQA.csv"


def main(argv: list[str]) -> None:
    args = dict(a.split("=", 1) for a in argv)
    name, n, bs, repeats = (
        args.get("model", "smollm2_135m"),
        int(args.get("questions", 100)),
        int(args.get("batch", 16)),
        int(args.get("repeats", 3)),
    )
    model, tok = load_model(name)
    task = TruthfulQATask("truthfulqa", TruthfulQAConfig(path=str(CSV)), n, 0.25)
    items = task.load()
    seqs = [render(tok, q) + a for q, t, f in zip(items["question"], items["true"], items["false"]) for a in [*t, *f]]
    heads = tok([render(tok, q) for q in items["question"]], add_special_tokens=False)["input_ids"]
    answers = tok([a for t, f in zip(items["true"], items["false"]) for a in [*t, *f]], add_special_tokens=False)["input_ids"]
    owner = [i for i, (t, f) in enumerate(zip(items["true"], items["false"])) for _ in [*t, *f]]
    batches = Batches.from_ids(tok, [heads[o] + a for o, a in zip(owner, answers)], bs, device_of(model))
    tokens = sum(len(heads[o]) + len(a) for o, a in zip(owner, answers))
    method = fit("mean", model, tok, data={"max_pairs": 32})
    for c in (0.0, 1.0):

        def plain():
            with steer(model, method, c):
                bare(model, batches)

        t_bare = timed(plain, repeats)
        t_task = timed(lambda: task.evaluate(model, tok, method, items, [c], bs), repeats)
        print(
            f"model={name} questions={len(items)} answers={len(seqs)} tokens={tokens} batch={bs} c={c:g}: "
            f"bare {len(seqs) / t_bare:.1f} answers/s, task {len(seqs) / t_task:.1f} answers/s, ratio {t_bare / t_task:.3f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
