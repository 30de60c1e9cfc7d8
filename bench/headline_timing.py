"""Wall time per cell of the headline grid, by phase, for BENCHMARKS.md ("Headline grid").

    python bench/headline_timing.py outputs/multirun/<date>/<time> [more sweep folders ...] [--skip CELL ...] [--csv PATH]

Reads every *computed* cell (reused cells cost nothing): the phase timings its summary.json records (fit =
method fit + sign calibration, strength = iso-KL search, one eval per task, samples) and its wall time, from
the first to the last line of its job log (model load and writing outputs included). Prints one row per
model × method (median over seeds, with the range) and one per model × cell type.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd

TRAINED = {"ipissa", "lora", "dora", "pissa", "oft"}
PHASES = [
    "fit_seconds",
    "strength_seconds",
    "ladder_seconds",
    "builtin/eval_seconds",
    "truthfulqa/eval_seconds",
    "sentiment/eval_seconds",
    "samples_seconds",
    "wall_seconds",
]


def log_span(folder: Path) -> float:
    """Seconds between the first and the last timestamped line of the cell's job log."""
    stamps = []
    for log in folder.glob("*.log"):
        for line in log.read_text().splitlines():
            try:
                stamps.append(datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f"))
            except ValueError:
                continue
    return (max(stamps) - min(stamps)).total_seconds() if stamps else float("nan")


def kind(method: str) -> str:
    return "trained" if method in TRAINED else method if method in ("prompt", "random") else "vector"


def rows(folders: list[str], skip: set[str] = frozenset()) -> pd.DataFrame:
    out = []
    for sweep in folders:
        for status in sorted(Path(sweep).glob("*/status.json")):
            if status.parent.name in skip:  # e.g. a cell whose process was paused: its timings include the pause
                continue
            st = json.loads(status.read_text())
            summary = status.parent / "summary.json"
            if st["status"] != "computed" or not summary.is_file():
                continue
            s = json.loads(summary.read_text())
            over = dict(o.split("=", 1) for o in st.get("overrides", []))
            control = "control " if over.get("data") == "sentiment" else ""  # the positive control's cells (issue 25)
            out.append(
                {
                    "model": over.get("model", "?"),
                    "method": s["method"],
                    "type": control + kind(s["method"]),
                    "seed": over.get("seed", "0"),
                    **{p: s.get(p, float("nan")) for p in PHASES[:-1]},
                    "wall_seconds": log_span(status.parent),
                }
            )
    if not out:
        sys.exit("error: no computed cell with a summary.json in " + " ".join(folders))
    return pd.DataFrame(out)


def median_range(values: pd.Series) -> str:
    values = values.dropna()
    if not len(values):
        return "—"
    return f"{values.median():.0f}" if len(values) == 1 else f"{values.median():.0f} ({values.min():.0f}–{values.max():.0f})"


def table(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    groups = df.groupby(by, sort=False)
    out = pd.DataFrame({p.replace("_seconds", " s"): groups[p].apply(median_range) for p in PHASES})
    out.insert(0, "cells", groups.size())
    return out.reset_index()


def medians(df: pd.DataFrame) -> pd.DataFrame:
    """Per model × cell type: the cell count and the median seconds of every phase (what bench/grid_cost.py reads)."""
    out = df.groupby(["model", "type"], sort=False)[PHASES].median()
    out.insert(0, "cells", df.groupby(["model", "type"], sort=False).size())
    return out.reset_index()


def main(folders: list[str], skip: set[str], csv: str | None = None) -> None:
    df = rows(folders, skip)
    if csv:
        medians(df).to_csv(csv, index=False)
    print(table(df, ["model", "type"]).to_markdown(index=False))
    print()
    print(table(df, ["model", "method"]).to_markdown(index=False))
    total = df.groupby("model")["wall_seconds"].sum() / 60
    print()
    print("computed cells' wall time in all: " + ", ".join(f"{m} {v:.0f} min" for m, v in total.items()))
    typical = medians(df).assign(hours=lambda t: t["cells"] * t["wall_seconds"] / 3600).groupby("model")["hours"].sum()
    print(
        "cells × the median wall time of their type (robust to a cell that was paused or shared the CPU): "
        + ", ".join(f"{m} {v:.2f} h" for m, v in typical.items())
        + f", both {typical.sum():.2f} h"
    )


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    skips = {args[i + 1] for i, a in enumerate(args) if a == "--skip" and i + 1 < len(args)}
    csv = next((args[i + 1] for i, a in enumerate(args) if a == "--csv" and i + 1 < len(args)), None)
    flags = ("--skip", "--csv")
    main([a for i, a in enumerate(args) if a not in flags and (i == 0 or args[i - 1] not in flags)], skips, csv)
