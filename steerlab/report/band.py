"""The random null band of a sweep: what a seeded random direction at the same KL budget does.

For each context (the swept keys other than the method and the seed, e.g. model or KL target), the band of a
metric is mean ± 2 sd over the `random` cells of that context (one per seed; at least 2 seeds). A setting
*clears* the band when the lower end of its Gain CI lies above the band's upper edge.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

NULL_METHOD = "random"
BAND_METRICS = ["effect", "gain"]


@dataclass
class Band:
    n: int  # random seeds behind it
    low: dict[str, float]  # metric (effect, gain, S(c) columns) -> mean − 2 sd
    high: dict[str, float]  # mean + 2 sd


def context_keys(keys: list[str]) -> list[str]:
    return [k for k in keys if k not in ("adapter", "seed")]


def context_of(row, keys: list[str]) -> tuple:
    return tuple(str(row[k]) for k in context_keys(keys))


def bands(frame: pd.DataFrame, keys: list[str]) -> dict[tuple, Band]:
    """{context: Band} from the finished random cells of each context (contexts with < 2 seeds have none)."""
    done = frame[frame["status"].isin(["computed", "reused"]) & frame["gain"].notna() & (frame["method"] == NULL_METHOD)]
    out: dict[tuple, Band] = {}
    metrics = BAND_METRICS + [c for c in frame.columns if c.startswith("S(")]
    contexts = [context_of(row, keys) for _, row in done.iterrows()]
    for ctx in dict.fromkeys(contexts):
        g = done[[c == ctx for c in contexts]]
        if len(g) < 2:
            continue
        mean, sd = g[metrics].astype(float).mean(), g[metrics].astype(float).std(ddof=1)
        out[ctx] = Band(len(g), (mean - 2 * sd).to_dict(), (mean + 2 * sd).to_dict())
    return out


def mark(table: pd.DataFrame, frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Add band columns to the aggregated table: band_gain_high, band_effect_low, band_effect_high, band_n and
    clears_band (yes / NO / (null) / (no band))."""
    found = bands(frame, keys)
    table = table.copy()
    highs, effect_lows, effect_highs, ns, verdicts = [], [], [], [], []
    for _, row in table.iterrows():
        band = found.get(context_of(row, keys))
        highs.append(band.high["gain"] if band else np.nan)
        effect_lows.append(band.low["effect"] if band else np.nan)
        effect_highs.append(band.high["effect"] if band else np.nan)
        ns.append(band.n if band else 0)
        if band is None:
            verdicts.append("(no band)")
        elif row.get("method") == NULL_METHOD:
            verdicts.append("(null)")
        else:
            verdicts.append("yes" if float(row["ci_low"]) > band.high["gain"] else "NO")
    return table.assign(band_gain_high=highs, band_effect_low=effect_lows, band_effect_high=effect_highs, band_n=ns,
                        clears_band=verdicts)


def only(found: dict[tuple, Band]) -> Band | None:
    """The band to draw on a plot that mixes contexts: the one band when there is exactly one."""
    return next(iter(found.values())) if len(found) == 1 else None


def draw_hband(ax, band: Band | None, metric: str, label: str) -> None:
    if band is not None:
        ax.axhspan(band.low[metric], band.high[metric], color="grey", alpha=0.2, label=f"{label} (random, {band.n} seeds, ±2 sd)")


def draw_sband(ax, band: Band | None, s_cols: list[str]) -> None:
    """The random band of S(c) at each coefficient, as a shaded area."""
    if band is not None and s_cols:
        xs = [float(c[2:-1]) for c in s_cols]
        ax.fill_between(xs, [band.low[c] for c in s_cols], [band.high[c] for c in s_cols], color="grey", alpha=0.2,
                        label=f"random band ({band.n} seeds, ±2 sd)")
