"""A complete eval task (docs/evals.md, "Adding a task"): how likely the model finds one fixed reply to each prompt.

Saved as steerlab/tasks/reply.py it registers itself (`@registered`); add conf/evals/reply.yaml (`# @package
evals.reply`, `task: reply`), then `python launch.py 'evals=[builtin,reply]'`.
tests/tasks/test_truthfulqa.py runs this file.
"""

from dataclasses import dataclass, field
from typing import List

import numpy as np
import pandas as pd

from steerlab.data import render
from steerlab.likelihood import Continuations
from steerlab.steering import steer
from steerlab.tasks.base import Task, TaskConfig, registered


@dataclass
class ReplyConfig(TaskConfig):
    task: str = "reply"
    reply: str = "I will tell you the whole truth."
    prompts: List[str] = field(default_factory=lambda: ["Did you break the vase?", "Where were you last night?", "Who ate the cake?"])


@registered(ReplyConfig)
class ReplyTask(Task):
    unit = "prompt"
    y_label = "mean log-prob of the reply  [nats/token]"

    def load(self) -> pd.DataFrame:  # validated items, before any model work; `group` is the unit the split keeps together
        items = pd.DataFrame({"prompt": list(self.cfg.prompts)[: self.limit]})
        return items.assign(group=items.index)

    def evaluate(self, model, tok, method, items, coeffs, batch_size) -> pd.DataFrame:
        reply = tok(self.cfg.reply, add_special_tokens=False)["input_ids"]
        rows = []
        for c in coeffs:
            with steer(model, method, c) as prompt:  # hooks for most methods; prompt() edits the text for `prompt`
                heads = tok([render(tok, prompt(p)) for p in items["prompt"]], add_special_tokens=False)["input_ids"]
                total = Continuations(tok, heads, [reply] * len(heads), np.arange(len(heads)), batch_size).score(model)
            mean = total / len(reply)
            rows += [{"item": i, "group": i, "coeff": c, "y": v, "nll": -v} for i, v in zip(items.index, mean)]
        return pd.DataFrame(rows)
