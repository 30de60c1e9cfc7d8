"""The KL-budget dose-response of a `sweeps/kl_budget.yaml` multirun as two markdown tables.

    python bench/kl_budget_table.py outputs/multirun/<date>/<time>

First the validation dilemmas (what choosing the default target may read), then the reported test dilemmas
(the dose-response of Gain, Effect and ΔNLL against the target, which played no part in the choice).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from steerlab.report.load import task_rows

VAL = ["val_gain", "val_effect", "val_delta_nll", "val_n_items"]
TEST = ["gain", "gain_ci_low", "gain_ci_high", "effect", "delta_nll", "p", "n_items", "coverage"]
STRENGTH = ["strength_scale", "kl_plus", "kl_minus", "strength_evals", "strength_bracket_hit"]


def rows(sweep: Path) -> pd.DataFrame:
    out = []
    for path in sorted(sweep.glob("*/summary.json")):
        for s in task_rows(json.loads(path.read_text())):
            out.append(
                {"task": s["task"], "method": s["method"], "kl_target": s["kl_target"], **{k: s.get(k) for k in STRENGTH + VAL + TEST}}
            )
    return pd.DataFrame(out).sort_values(["task", "method", "kl_target"])


def main(argv: list[str]) -> None:
    frame = rows(Path(argv[0]))
    keys = ["task", "method", "kl_target"]
    print("Validation dilemmas:\n")
    print(frame[keys + STRENGTH + VAL].to_markdown(index=False, floatfmt=".4g"))
    print("\nReported (test) dilemmas:\n")
    print(frame[keys + TEST].to_markdown(index=False, floatfmt=".4g"))


if __name__ == "__main__":
    main(sys.argv[1:])
