"""The random null band of a sweep: what a seeded random direction at the same KL budget does.

For each context (the swept keys other than the method and the seed, e.g. model or KL target), the band of a
metric is mean ± 2 sd over the `random` cells of that context (one per seed; at least 2 seeds). A setting
*clears* the band when the lower end of its Gain CI lies above the band's upper edge.

The **cone** test (SPEC §9) reads the same random cells as a null distribution of the signed Effect: a setting's
empirical p-value is p = (1 + #{random directions whose Effect ≥ the setting's}) / (N + 1) for each seed; for the mean
Effect over a setting's n seeds, the null is the means of every n of the N directions (drawn without replacement: all
subsets, or 20 000 seeded random ones when there are more); the verdict reads that p and is `beats random` (p < 0.05),
`wrong way` (p > 0.95) or `indistinguishable`. With N directions p cannot fall below 1 / (N + 1): a cone of fewer than
20 can never say `beats random` at 0.05. Gain is not read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from steerlab.record import FINISHED

NULL_METHOD = "random"
BAND_METRICS = ["effect", "gain"]


@dataclass
class Band:
    n: int  # random seeds behind it
    low: dict[str, float]  # metric (effect, gain, S(c) columns) -> mean − 2 sd
    high: dict[str, float]  # mean + 2 sd


def context_keys(keys: list[str]) -> list[str]:
    return [k for k in keys if k not in ("adapter", "seed")]


def as_text(values: pd.Series) -> pd.Series:
    """A column as the text `str(value)` gives per cell, NaN included ('nan'): pandas ≥ 3 keeps NaN through
    astype(str), so a key that a section leaves unset would otherwise match nothing."""
    return values.astype(object).where(values.notna(), "nan").astype(str)


def context_of(row, keys: list[str]) -> tuple:
    return tuple(str(row[k]) for k in context_keys(keys))


def bands(frame: pd.DataFrame, keys: list[str]) -> dict[tuple, Band]:
    """{context: Band} from the finished random cells of each context (contexts with < 2 seeds have none)."""
    done = frame[frame["status"].isin(FINISHED) & frame["gain"].notna() & (frame["method"] == NULL_METHOD)]
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


ALPHA = 0.05


def cone_p(value: float, null) -> float:
    """Empirical one-sided p of `value` against the random directions' Effects `null`: (1 + #{null ≥ value}) / (N + 1)."""
    null = np.asarray(null, dtype=float)
    null = null[np.isfinite(null)]
    if not len(null) or not np.isfinite(value):
        return float("nan")
    return float((1 + np.sum(null >= value)) / (len(null) + 1))


def cone_p_mean(value: float, null, n: int, cap: int = 20_000) -> float:
    """p of a mean over `n` seeds against the means of `n` random directions drawn without replacement from `null`."""
    from itertools import combinations
    from math import comb

    null = np.asarray(null, dtype=float)
    null = null[np.isfinite(null)]
    if n <= 1 or len(null) < n:
        return cone_p(value, null)
    if comb(len(null), n) <= cap:
        means = np.array([null[list(idx)].mean() for idx in combinations(range(len(null)), n)])
    else:
        rng = np.random.default_rng(0)
        means = np.array([rng.choice(null, n, replace=False).mean() for _ in range(cap)])
    return cone_p(value, means)


def cone_verdict(p: float) -> str:
    if not np.isfinite(p):
        return "(no cone)"
    return "beats random" if p < ALPHA else "wrong way" if p > 1 - ALPHA else "indistinguishable"


def cones(frame: pd.DataFrame, keys: list[str]) -> dict[tuple, np.ndarray]:
    """{context: the Effects of its finished random cells} (contexts with < 2 have none)."""
    done = frame[frame["status"].isin(FINISHED) & frame["effect"].notna() & (frame["method"] == NULL_METHOD)]
    contexts = [context_of(row, keys) for _, row in done.iterrows()]
    out = {}
    for ctx in dict.fromkeys(contexts):
        effects = done.loc[[c == ctx for c in contexts], "effect"].astype(float).to_numpy()
        if len(effects) >= 2:
            out[ctx] = effects
    return out


def mark_cone(table: pd.DataFrame, frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Add cone_n, cone_p (of the mean Effect over seeds, against means of as many directions), cone_p_seeds (each seed's
    p against single directions) and vs_random (the verdict, from cone_p)."""
    found = cones(frame, keys)
    group_keys = [k for k in keys if k != "seed"]
    done = frame[frame["status"].isin(FINISHED) & frame["effect"].notna()]
    ns, ps, seeds, verdicts = [], [], [], []
    for _, row in table.iterrows():
        null = found.get(context_of(row, keys))
        ns.append(0 if null is None else len(null))
        if null is None or row.get("method") == NULL_METHOD:
            ps.append(np.nan), seeds.append(""), verdicts.append("(null)" if null is not None else "(no cone)")
            continue
        mine = done[np.logical_and.reduce([as_text(done[k]) == str(row[k]) for k in group_keys])] if group_keys else done
        p = cone_p_mean(float(row["effect_mean"]), null, int(mine["effect"].notna().sum()))
        ps.append(p), verdicts.append(cone_verdict(p))
        seeds.append(" / ".join(f"{cone_p(float(e), null):.3g}" for e in mine["effect"]))
    return table.assign(cone_n=ns, cone_p=ps, cone_p_seeds=seeds, vs_random=verdicts)


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
    return mark_cone(
        table.assign(band_gain_high=highs, band_effect_low=effect_lows, band_effect_high=effect_highs, band_n=ns, clears_band=verdicts),
        frame,
        keys,
    )


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
        ax.fill_between(
            xs,
            [band.low[c] for c in s_cols],
            [band.high[c] for c in s_cols],
            color="grey",
            alpha=0.2,
            label=f"random band ({band.n} seeds, ±2 sd)",
        )
