"""What a grid costs on the 2-core machine with and without the fit cache, from measured per-cell phase timings.

    python bench/grid_cost.py [bench/data/headline_phases_issue12.csv]
    python bench/grid_cost.py --headline2 bench/data/headline2_phases.csv     # the issue-25 grid, from its own cells
    python bench/grid_cost.py --headline3 bench/data/headline3_phases.csv     # headline-2 after shared c = 0 rows,
                                                                              # early-exit extraction, grouped passes

The CSV holds, per model × cell type, the median seconds of each phase of a computed cell (`python
bench/headline_timing.py SWEEP... --csv PATH` writes it; the file in bench/data/ holds the issue-12 headline grid's
medians, 2026-11-22, the tables in BENCHMARKS.md). A cell's cost is modelled from them:

  fresh cell     = overhead + fit + strength + Σ_tasks eval × (coefficients / 3) + samples
  cached fit     = overhead + Σ_tasks eval × (new coefficients / 3) + samples      (fit, calibration, old rows reused)
  overhead       = wall − (fit + strength + Σ eval + samples)                        (start-up, model load, outputs)

(the measured evals ran 3 coefficients, so one coefficient costs a third of a task's eval). The grid is the one
issue 25 asks for, as far as its pieces exist today: the headline grid's cells (prompt ×1, mean / pca / svd_delta /
probe / jacobian × 3 seeds, ipissa / lora / dora × 3 seeds) with a 20-direction random cone instead of 5, every
cell on the ladder c ∈ {0, ±0.25, ±0.5, ±1, ±2, ±4} (11 coefficients), on builtin and TruthfulQA, both models. It
is grown from the finished headline grid (3 coefficients, random seeds 0–4): today every cell's identity changes
and everything is recomputed; with the fit cache a finished cell's fit, calibration and rows at −1, 0, 1 are
reused and only its 8 new coefficients are evaluated, while the 15 new random directions per model are computed in
full. Prints hours of wall time (each cell uses both cores) per model and in all.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

TASKS = ("builtin/eval_seconds", "truthfulqa/eval_seconds")
MEASURED_COEFFS = 3
LADDER = 11  # c = 0, ±0.25, ±0.5, ±1, ±2, ±4
HEADLINE = {"prompt": 1, "random": 5, "vector": 15, "trained": 9}  # cells per model (sweeps/headline.yaml)
VALIDITY = {"prompt": 1, "random": 20, "vector": 15, "trained": 9}  # the same with a 20-direction cone


def costs(row: pd.Series) -> dict[str, float]:
    evals = sum(row[t] for t in TASKS)
    overhead = row["wall_seconds"] - (row["fit_seconds"] + row["strength_seconds"] + evals + row["samples_seconds"])
    per_coeff = evals / MEASURED_COEFFS
    return {
        "fresh": overhead + row["fit_seconds"] + row["strength_seconds"] + per_coeff * LADDER + row["samples_seconds"],
        "cached": overhead + per_coeff * (LADDER - MEASURED_COEFFS) + row["samples_seconds"],
    }


def grid(phases: pd.DataFrame) -> pd.DataFrame:
    out = []
    for model, rows in phases.groupby("model", sort=False):
        before = after = 0.0
        for kind, n in VALIDITY.items():
            c = costs(rows.set_index("type").loc[kind])
            old = min(n, HEADLINE[kind])  # cells the finished headline grid already fitted
            before += n * c["fresh"]
            after += old * c["cached"] + (n - old) * c["fresh"]
        out.append(
            {
                "model": model,
                "cells": sum(VALIDITY.values()),
                "before h": before / 3600,
                "after h": after / 3600,
                "after / before": after / before,
            }
        )
    table = pd.DataFrame(out)
    total = {"model": "both", "cells": table["cells"].sum(), "before h": table["before h"].sum(), "after h": table["after h"].sum()}
    total["after / before"] = total["after h"] / total["before h"]
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


# The issue-25 headline grid (sweeps/headline.yaml, code_version headline-2): cells per model by type
HEADLINE2 = {"control vector": 2, "control random": 20, "prompt": 1, "vector": 3, "random": 20, "trained": 6}
GEMMA_OVER_SMOLLM2 = "gemma3_270m", "smollm2_135m"


def headline2(measured: pd.DataFrame, old: pd.DataFrame) -> pd.DataFrame:
    """Hours per model of the headline-2 grid: cells × the measured median wall time of their type. A model not
    measured is modelled from the measured one times the issue-12 ratio of wall times between the models for the
    same cell type (the positive control's types take the ratio of their honesty counterparts)."""
    wall = measured.set_index(["model", "type"])["wall_seconds"]
    ratio = old.set_index(["model", "type"])["wall_seconds"]
    rows = []
    for model in (*dict.fromkeys(measured["model"]), GEMMA_OVER_SMOLLM2[0]):
        hours, how = 0.0, "per type from the CSV (its how column)"
        for kind, n in HEADLINE2.items():
            if (model, kind) in wall:
                hours += n * wall[(model, kind)] / 3600
                continue
            base = kind.replace("control ", "")
            src = GEMMA_OVER_SMOLLM2[1]
            hours += n * wall[(src, kind)] * ratio[(model, base)] / ratio[(src, base)] / 3600
            how = f"modelled from {src} × the issue-12 {model}/{src} ratio"
        rows.append({"model": model, "cells": sum(HEADLINE2.values()), "hours": hours, "how": how})
    table = pd.DataFrame(rows).drop_duplicates("model")
    return pd.concat(
        [table, pd.DataFrame([{"model": "both", "cells": table["cells"].sum(), "hours": table["hours"].sum(), "how": ""}])],
        ignore_index=True,
    )


# The headline-2 grid as sweeps/headline.yaml runs it since session 3 of issue 25: TruthfulQA on SmolLM2 only
HEADLINE3 = {
    "smollm2_135m": {"control vector": 2, "control random": 20, "prompt": 1, "vector": 3, "random": 20, "trained": 6},
    "gemma3_270m": {"control vector": 2, "control random": 20, "prompt": 1, "vector": 3, "random": 20, "trained": 6},
}
IPISSA_FIT = {"smollm2_135m": 425.0}  # s, the issue-24 table (407-443 s)
TRAINED_OVER = ("gemma3_270m", "smollm2_135m", 329 / 262)  # issue-12 median trained fit, Gemma / SmolLM2


def derived(measured: pd.DataFrame) -> pd.DataFrame:
    """Wall seconds per (model, cell type) of the headline-3 grid: the measured types as they are, the others derived
    from them by the rules in `how` (each a difference of measured phases, or the InnerPiSSA fit of issue 24)."""
    m = measured.set_index(["model", "type"])
    get = lambda model, kind, col="wall_seconds": float(m.loc[(model, kind), col])
    small, gemma = "smollm2_135m", "gemma3_270m"
    fit_gap = get(small, "vector") - get(small, "random")  # what a fitted vector adds to a random direction's cell
    evals = lambda model, kind: sum(
        get(model, kind, c) for c in ("builtin/eval_seconds", "truthfulqa/eval_seconds") if pd.notna(m.loc[(model, kind), c])
    )
    rows = [(model, kind, get(model, kind), "measured") for model, kind in m.index if (model, kind) != (gemma, "random")]  # with TruthfulQA
    rows.append((small, "control vector", get(small, "control random") + fit_gap, "control random + (vector − random) on honesty"))
    vector = {small: get(small, "vector")}
    tqa = get(gemma, "random", "truthfulqa/eval_seconds")
    rows.append((gemma, "random", get(gemma, "random") - tqa, "the measured cell less its TruthfulQA eval (builtin only)"))
    vector[gemma] = get(gemma, "random") - tqa + fit_gap
    rows.append((gemma, "vector", vector[gemma], "random (builtin only) + SmolLM2's (vector − random)"))
    rows.append((gemma, "control vector", get(gemma, "control random") + fit_gap, "control random + SmolLM2's (vector − random)"))
    for model in (small, gemma):
        fit, ladder = get(model, "random", "fit_seconds"), get(model, "random", "ladder_seconds")
        steered = get(model, "random", "builtin/eval_seconds") + (evals(model, "random") - get(model, "random", "builtin/eval_seconds")) * (
            model == small
        )
        rows.append(
            (
                model,
                "prompt",
                vector[model] - fit - ladder + 10 - steered / 2,  # c = ±1 of the 4 steered coefficients; c = 0 is shared
                "vector without ladder, a 10 s fit, c = ±1 only",
            )
        )
        ipissa = IPISSA_FIT[small] * (TRAINED_OVER[2] if model == gemma else 1.0)
        rows.append(
            (model, "trained", vector[model] - fit + ipissa, f"vector with the InnerPiSSA fit ({ipissa:.0f} s) instead of a vector's")
        )
    return pd.DataFrame(rows, columns=["model", "type", "wall_seconds", "how"])


def headline3(measured: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(seconds per cell type, hours per model) of the headline-3 grid."""
    types = derived(measured)
    wall = types.set_index(["model", "type"])["wall_seconds"]
    rows = [
        {"model": model, "cells": sum(n.values()), "hours": sum(k * wall[(model, t)] for t, k in n.items()) / 3600}
        for model, n in HEADLINE3.items()
    ]
    hours = pd.DataFrame(rows)
    hours = pd.concat(
        [hours, pd.DataFrame([{"model": "both", "cells": hours["cells"].sum(), "hours": hours["hours"].sum()}])], ignore_index=True
    )
    return types, hours


def main(path: str) -> None:
    phases = pd.read_csv(path)
    print(
        f"phases from {path}; ladder {LADDER} coefficients, cone {VALIDITY['random']} "
        f"directions, tasks {', '.join(t.split('/')[0] for t in TASKS)}"
    )
    print(grid(phases).to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    old = str(Path(__file__).resolve().parent / "data" / "headline_phases_issue12.csv")
    if len(sys.argv) > 2 and sys.argv[1] == "--headline3":
        types, hours = headline3(pd.read_csv(sys.argv[2]))
        print(types.to_markdown(index=False, floatfmt=".0f"))
        print()
        print(hours.to_markdown(index=False, floatfmt=".2f"))
    elif len(sys.argv) > 2 and sys.argv[1] == "--headline2":  # python bench/grid_cost.py --headline2 bench/data/headline2_phases.csv
        print(headline2(pd.read_csv(sys.argv[2]), pd.read_csv(old)).to_markdown(index=False, floatfmt=".2f"))
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else old)
