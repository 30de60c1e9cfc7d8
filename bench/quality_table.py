"""Quality table for BENCHMARKS.md: per-method mean ± sd over seeds from run folders' summary.json files.

python bench/quality_table.py outputs/multirun/<date>/<time> [more sweep folders ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import yaml

COLS = ["S(-1)", "S(+0)", "S(+1)", "effect", "rho", "delta_nll", "gain", "gain_ci_low", "gain_ci_high", "t", "p", "calibration_separation"]


def rows(folders: list[str]) -> pd.DataFrame:
    out = []
    for folder in folders:
        for summary in sorted(Path(folder).glob("*/summary.json")):
            s = json.loads(summary.read_text())
            cfg = yaml.safe_load((summary.parent / "config.yaml").read_text())
            out.append({"method": s["method"], "seed": cfg["seed"], "n_items": s["n_items"], **{c: s[c] for c in COLS}})
    return pd.DataFrame(out)


def cell(values: pd.Series) -> str:
    return f"{values.iloc[0]:.4g}" if len(values) == 1 else f"{values.mean():.4g} ± {values.std(ddof=1):.2g}"


def main(folders: list[str]) -> None:
    df = rows(folders)
    groups = df.groupby("method", sort=False)
    table = pd.DataFrame({c: groups[c].apply(cell) for c in COLS})
    table.insert(0, "seeds", groups["seed"].apply(lambda s: ",".join(map(str, sorted(s)))))
    table.insert(1, "n_items", groups["n_items"].apply(lambda s: ",".join(map(str, sorted(set(s))))))
    print(table.to_markdown())
    print()
    print(df.sort_values(["method", "seed"]).to_markdown(index=False, floatfmt=".4g"))


if __name__ == "__main__":
    main(sys.argv[1:])
