"""Step 2 of the sweep report: the loaded cells aggregated, in memory. Cells that differ only by `seed` form one group:
metrics are mean ± sd over seeds (never the best seed), with a 95% CI that is Student-t over seeds when there are two
or more, and the run's own bootstrap CI over items when there is one; each group is then set against the random band
and cone of its context (steerlab.report.band). `sweep_tables` runs steps 1 and 2; the markdown report, the plots,
W&B and the README headline all render what it returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from steerlab.errors import ConfigError
from steerlab.record import FINISHED, Status
from steerlab.report.band import Band, bands, mark, only
from steerlab.report.load import METRICS, PER_COEFF, cells, distinct, override_keys, swept_keys


def t_half(sd, n, level: float = 0.95):
    """Half-width of the t interval of a mean over `n` values with sample sd `sd` (arrays broadcast)."""
    return stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n)


def aggregate(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean ± sd over seeds per group, n, the 95% CI of Gain (t over seeds, or bootstrap over items for n = 1) and
    of Effect (t over seeds; none for n = 1)."""
    done = frame[frame["status"].isin(FINISHED) & frame["gain"].notna()]
    group_keys = [k for k in keys if k != "seed"]
    rows = []
    for label, g in done.groupby(group_keys, sort=False, dropna=False) if group_keys else [((), done)]:
        label = label if isinstance(label, tuple) else (label,)
        row = dict(
            zip(group_keys, label),
            n=len(g),
            computed=int((g.status == Status.computed).sum()),
            reused=int((g.status == Status.reused).sum()),
            method="/".join(sorted(set(g["method"].dropna()))),
            bracket_hits=int(g["strength_bracket_hit"].fillna(False).astype(bool).sum()),
        )
        for m in METRICS:
            vals = g[m].astype(float) if m in g else pd.Series(np.nan, index=g.index)  # a run from before the metric existed
            row[f"{m}_mean"], row[f"{m}_sd"] = vals.mean(), vals.std(ddof=1) if len(vals) > 1 else float("nan")
        if len(g) > 1:
            half, effect_half = t_half(row["gain_sd"], len(g)), t_half(row["effect_sd"], len(g))
            row.update(
                ci_low=row["gain_mean"] - half,
                ci_high=row["gain_mean"] + half,
                ci_kind="t over seeds",
                effect_ci_low=row["effect_mean"] - effect_half,
                effect_ci_high=row["effect_mean"] + effect_half,
            )
        else:  # one seed: Gain's bootstrap over items; Effect has none
            row.update(
                ci_low=g["gain_ci_low"].iloc[0],
                ci_high=g["gain_ci_high"].iloc[0],
                ci_kind="bootstrap over items",
                effect_ci_low=np.nan,
                effect_ci_high=np.nan,
            )
        for c in [c for c in g.columns if c.startswith(PER_COEFF)]:
            row[c] = g[c].astype(float).mean()
        rows.append(row)
    return pd.DataFrame(rows)


SPLIT = ("model",)  # swept keys that get their own section: numbers of different models never share a table or plot


def sections(frame: pd.DataFrame, keys: list[str]) -> list[tuple[str, str, pd.DataFrame, list[str]]]:
    """(title, file suffix, rows, keys inside the section) per task, and per model when the model is swept."""
    split = [k for k in keys if k in SPLIT]
    inner = [k for k in keys if k not in split]
    out = []
    for task in dict.fromkeys(frame["task"].dropna()):
        rows = frame[frame["task"] == task]
        if not split:
            out.append((task, task, rows, inner))
            continue
        for values, part in rows.groupby(split, sort=False):
            values = values if isinstance(values, tuple) else (values,)
            out.append((f"{task} — {', '.join(map(str, values))}", "_".join([task, *map(str, values)]), part, inner))
    return out


@dataclass
class Section:
    """One task (and model, when the model is swept): its cells, the keys that vary inside it, and its aggregate."""

    title: str
    name: str  # file suffix of its plots
    rows: pd.DataFrame  # its cells
    keys: list[str]
    table: pd.DataFrame  # aggregated over seeds, marked against the random band and cone
    band: Band | None


@dataclass
class SweepTables:
    """A sweep, loaded and aggregated: every cell (`frame`), the swept keys, and one Section per task (and model)."""

    sweep_dir: Path
    frame: pd.DataFrame
    keys: list[str]
    sections: list[Section]

    @property
    def table(self) -> pd.DataFrame:
        """Every section's aggregate in one frame, with `task`, `section` and the split keys (what sweep.csv holds)."""
        parts = []
        for s in self.sections:
            if len(s.table):
                fixed = {k: s.rows[k].iloc[0] for k in SPLIT if k in s.rows and k not in s.keys}
                parts.append(s.table.assign(task=s.rows["task"].iloc[0], section=s.name, **fixed))
        table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        return table[["task", *[c for c in table.columns if c != "task"]]] if len(table) else table


def sweep_tables(sweep_dir: str | Path) -> SweepTables:
    """Load a sweep folder's cells and aggregate them per section."""
    sweep_dir = Path(sweep_dir).expanduser().resolve()
    if not sweep_dir.is_dir():
        raise ConfigError(f"{sweep_dir}: no such sweep folder")
    frame = cells(sweep_dir)
    keys = swept_keys(frame, override_keys(sweep_dir))
    found = []
    for title, name, rows, inner in sections(distinct(frame), keys):
        table = mark(aggregate(rows, inner), rows, inner)
        found.append(Section(title, name, rows, inner, table, only(bands(rows, inner)) if len(table) else None))
    return SweepTables(sweep_dir, frame, keys, found)
