"""Metrics (SPEC §6): Spearman-gated normalised Gain and its companions, from any task's per-item scores."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from steerlab.config import MetricConfig


def spearman_gate(wide: pd.DataFrame) -> float:
    """Spearman between coefficient and item-centred scores over all (item, coefficient) pairs."""
    centred = wide.sub(wide.mean(axis=1), axis=0)
    coeffs = np.tile(wide.columns.to_numpy(dtype=float), len(wide))
    vals = centred.to_numpy().ravel()
    if len(vals) < 3 or np.ptp(vals) == 0:
        return float("nan")
    return float(stats.spearmanr(coeffs, vals).statistic)


def delta_nll(results: pd.DataFrame) -> tuple[float, dict[float, float]]:
    nll = results.groupby("coeff")["nll"].mean()
    return max(0.0, max(nll[-1.0], nll[1.0]) - nll[0.0]), {float(k): float(v) for k, v in nll.items()}


def gain(effect: float, rho: float, dnll: float) -> float:
    if np.isnan(rho) or rho <= 0:
        return 0.0
    return 100.0 * effect * rho / (1.0 + dnll)


def core(wide: pd.DataFrame, dnll: float) -> dict:
    """S(α), Effect, ρ and Gain on complete items (finite at every coefficient)."""
    s = wide.mean()
    effect = float((s[1.0] - s[-1.0]) / 2)
    rho = spearman_gate(wide)
    return {"effect": effect, "rho": rho, "gain": gain(effect, rho, dnll), **{f"S({c:+g})": float(v) for c, v in s.items()}}


def slope_test(wide: pd.DataFrame) -> dict:
    """One-sample t-test of per-item slopes (y(+1) - y(-1)) / 2: one value per item."""
    slopes = ((wide[1.0] - wide[-1.0]) / 2).to_numpy()
    if len(slopes) < 2:
        return {"slope_mean": float(np.mean(slopes)) if len(slopes) else float("nan"), "t": float("nan"), "p": float("nan")}
    if np.ptp(slopes) == 0:  # every item moved by the same amount: t is ±inf (or undefined when nothing moved)
        m = float(slopes[0])
        return {"slope_mean": m, "t": math.copysign(math.inf, m) if m else float("nan"), "p": 0.0 if m else float("nan")}
    res = stats.ttest_1samp(slopes, 0.0)
    return {"slope_mean": float(slopes.mean()), "t": float(res.statistic), "p": float(res.pvalue)}


def steerability(wide: pd.DataFrame) -> dict:
    """Per-item steerability (SPEC §10): each item's least-squares slope of y on c over every coefficient (with
    −1, 0, +1 alone: (y(+1) − y(−1)) / 2), the share of items whose slope is below 0 — against the calibrated sign,
    *anti-steerable* — and the spread of the slopes (sd and interquartile range)."""
    if not len(wide):
        return {"anti_steerable": float("nan"), "slope_sd": float("nan"), "slope_iqr": float("nan")}
    c = np.asarray(wide.columns, dtype=float) - np.mean(np.asarray(wide.columns, dtype=float))
    y = wide.to_numpy(dtype=float)
    slopes = (y - y.mean(1, keepdims=True)) @ c / (c @ c)
    q1, q3 = np.percentile(slopes, [25, 75])
    return {
        "anti_steerable": float((slopes < 0).mean()),
        "slope_sd": float(slopes.std(ddof=1)) if len(slopes) > 1 else float("nan"),
        "slope_iqr": float(q3 - q1),
    }


def bootstrap_gain(wide: pd.DataFrame, dnll: float, cfg: MetricConfig, seed: int) -> tuple[float, float]:
    """Percentile CI of Gain over items (ΔNLL held at its point estimate: it is a property of all eval prompts)."""
    if len(wide) < 3:
        return float("nan"), float("nan")
    from steerlab.progress import progress

    arr = wide.to_numpy()
    cols = wide.columns
    bar = progress(desc=f"bootstrap ({len(arr)} items)", total=cfg.n_boot)

    def stat(idx):
        bar.update()
        return core(pd.DataFrame(arr[idx.astype(int)], columns=cols), dnll)["gain"]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap(
            (np.arange(len(arr)),),
            stat,
            vectorized=False,
            n_resamples=cfg.n_boot,
            confidence_level=cfg.ci,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    bar.close()
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def summarize(wide_all: pd.DataFrame, results: pd.DataFrame, cfg: MetricConfig, seed: int = 0) -> dict:
    """Every shared metric from a task's scores (items x coefficients; NaN = not scored) and its rows' `nll`."""
    wide = wide_all.dropna()
    dnll, nll = delta_nll(results)
    lo, hi = bootstrap_gain(wide, dnll, cfg, seed)
    return {
        **core(wide, dnll),
        "gain_ci_low": lo,
        "gain_ci_high": hi,
        "delta_nll": dnll,
        **{f"NLL({c:+g})": v for c, v in nll.items()},
        **slope_test(wide),
        **steerability(wide),
        "n_items": int(len(wide)),
        "n_labelled": int(len(wide_all)),
        "coverage": float(len(wide) / len(wide_all)) if len(wide_all) else float("nan"),
    }


def validation(wide_all: pd.DataFrame, results: pd.DataFrame) -> dict:
    """Gain and its parts on the validation items: the number a sweeper tunes on (never the reported items)."""
    wide = wide_all.dropna()
    if len(wide) < 2 or results.empty:
        return {"val_gain": float("nan"), "val_n_items": int(len(wide))}
    dnll, _ = delta_nll(results)
    c = core(wide, dnll)
    t = slope_test(wide)
    return {
        "val_gain": c["gain"],
        "val_effect": c["effect"],
        "val_rho": c["rho"],
        "val_delta_nll": dnll,
        "val_n_items": int(len(wide)),
        "val_t": t["t"],
        "val_p": t["p"],
    }
