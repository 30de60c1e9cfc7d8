"""Step 1 of the sweep report: a sweep folder's cells as one table (one row per cell and task, overrides as columns,
each finished cell's metrics from its summary.json)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from steerlab.errors import ConfigError
from steerlab.record import Summary, load_json, read_status

METRICS = [
    "gain",
    "effect",
    "rho",
    "delta_nll",
    "val_gain",
    "n_items",
    "coverage",
    "kl_plus",
    "kl_minus",
    "kl_target",
    "strength_scale",
    "anti_steerable",
    "slope_sd",
    "max_dose",
    "max_dose_kl",
    "effect_at_max_dose",
    "ladder_rungs",
    "kl_larger",
    "kl_smaller",
    "kl_plus_is_larger",
]  # the last three per cell, from kl_plus / kl_minus (see kl_sides)
RUN_WIDE = (
    "kl_plus",
    "kl_minus",
    "kl_target",
    "strength_scale",
    "method",
    "strength_bracket_hit",
)  # summary keys shared by every task of a run
PER_COEFF = ("S(", "NLL(", "MC1(", "MC2(", "kl(", "coherent(")  # per-coefficient columns, averaged over seeds (ladder: KL, coherent share)


def natural(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def parse_overrides(overrides: list[str]) -> dict[str, str]:
    out = {}
    for o in overrides:
        key, _, value = o.lstrip("+~").partition("=")
        out[key] = value
    return out


def task_rows(summary: dict) -> list[dict]:
    """One dict per task of a run's summary: the run-wide keys, then the task's metrics unprefixed (and `task`)."""
    wide = {k: v for k, v in summary.items() if "/" not in k}
    if "tasks" not in summary:  # a run from before several evals per run: its metrics are unprefixed
        return [{"task": "eval", **wide}]
    run = Summary.from_dict(summary)
    return [{**wide, "task": t, **run.task(t)} for t in run.tasks]


def cells(sweep_dir: Path) -> pd.DataFrame:
    """One row per cell folder and task: status, its overrides as columns, and the task's metrics when it finished."""
    rows = []
    for folder in sorted((p for p in sweep_dir.iterdir() if (p / "status.json").is_file()), key=lambda p: natural(p.name)):
        st = read_status(folder)
        overrides = parse_overrides(st.get("overrides", []))
        row = {
            "cell": folder.name,
            "status": st["status"],
            "error": st.get("error"),
            "source": st.get("source"),
            "code": st.get("code"),
            "setting": " ".join(f"{k}={v}" for k, v in sorted(overrides.items())),
            **overrides,
        }
        if not (folder / "summary.json").is_file():
            rows.append({**row, "task": None})
            continue
        for metrics in task_rows(load_json(folder / "summary.json")):
            keep = [*METRICS, "gain_ci_low", "gain_ci_high", "mc1_effect", *RUN_WIDE]
            rows.append(
                {
                    **row,
                    "task": metrics["task"],
                    **{k: metrics.get(k) for k in keep},
                    "ladder_rungs": len(metrics.get("ladder_walked") or []),  # 0: no ladder (prompting, or eval.ladder [])
                    **{k: v for k, v in metrics.items() if k.startswith(PER_COEFF)},
                }
            )
    if not rows:
        raise ConfigError(f"{sweep_dir}: no cell folders with status.json (is this a steerlab multirun folder?)")
    frame = pd.DataFrame(rows)
    frame = frame.reindex(columns=[*frame.columns, *[c for c in ("method", *METRICS) if c not in frame]])  # every cell failed: NaN columns
    return kl_sides(frame)


def kl_sides(frame: pd.DataFrame) -> pd.DataFrame:
    """Per cell: the larger and the smaller of KL(+1), KL(−1), and whether +1 is the larger (1.0 / 0.0).

    Iso-KL binds the larger sign of each cell (SPEC §8), and which sign that is can differ between seeds, so the
    budget is judged on the mean of the per-cell larger KL, not on the larger of the per-sign means."""
    kl = frame[["kl_plus", "kl_minus"]].astype(float)
    return frame.assign(
        kl_larger=kl.max(axis=1, skipna=False),
        kl_smaller=kl.min(axis=1, skipna=False),
        kl_plus_is_larger=(kl["kl_plus"] >= kl["kl_minus"]).astype(float).where(kl.notna().all(axis=1)),
    )


def distinct(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per setting and task: a cell that repeats another cell's overrides (the same cell listed by two grids
    of a union) is one measurement, not another seed."""
    return frame.drop_duplicates(["setting", "task"])


def swept_keys(frame: pd.DataFrame, overrides: list[str]) -> list[str]:
    keys = [k for k in overrides if k in frame and frame[k].fillna("(default)").nunique() > 1]
    return keys or [k for k in overrides if k in frame][:1]


def override_keys(sweep_dir: Path) -> list[str]:
    keys: list[str] = []
    for status in sorted(sweep_dir.glob("*/status.json")):
        for key in parse_overrides(json.loads(status.read_text()).get("overrides", [])):
            keys += [key] if key not in keys else []
    return keys
