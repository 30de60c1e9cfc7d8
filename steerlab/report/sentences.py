"""The headline's sentences, per model and eval: what the sweep file's `headline:` block compares (Focus), the random
cone's verdicts, where each method breaks, the positive control, the KL budget, coverage and Effect's direction.
`steerlab.report.headline` puts them on the page and in the README summary."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from steerlab.errors import ConfigError
from steerlab.grid import default_data
from steerlab.report import fmt
from steerlab.report.band import ALPHA, NULL_METHOD
from steerlab.report.sweep import pm


@dataclass(frozen=True)
class Focus:
    """What the headline compares, from the sweep file's `headline:` block (sweeps/headline.yaml), and the pairs a
    cell that does not override `data` uses (the sweep's own `data` choice)."""

    method: str  # the method the research claim is about, compared at equal KL with each peer
    peers: tuple[str, ...]
    control_task: str  # the positive control (SPEC §12): this eval ...
    control_methods: tuple[str, ...]  # ... where one of these must beat the random cone
    default_data: str

    @classmethod
    def of(cls, multirun: DictConfig) -> Focus:
        block = multirun.get("headline")
        if block is None:
            raise ConfigError("the sweep has no `headline:` block (method, peers, control); see sweeps/headline.yaml")
        data = default_data(multirun)
        try:
            return cls(str(block.method), tuple(block.peers), str(block.control.task), tuple(block.control.methods), data)
        except Exception as e:  # noqa: BLE001 - a missing key of the block, in one line
            raise ConfigError(f"headline: the sweep's `headline:` block needs method, peers and control.task/methods ({e})") from None


def interval(row: pd.Series) -> str:
    return f"{fmt(float(row['ci_low']))} to {fmt(float(row['ci_high']))}"


def compare(a: pd.Series, b: pd.Series) -> str:
    """`a` against `b` on Gain, by their 95% CIs (a conservative test: overlapping CIs are called indistinguishable),
    with both methods' signed Effect and p against the random cone beside it."""
    head = (
        f"{a['method']} Gain {pm(a['gain_mean'], a['gain_sd'])} (95% CI {interval(a)}) "
        f"vs {b['method']} {pm(b['gain_mean'], b['gain_sd'])} (CI {interval(b)})"
    )
    if all(np.isfinite(float(r.get("cone_p", np.nan))) for r in (a, b)):
        head += f"; against the cone: {p_text(a)} vs {p_text(b)}"
    if float(a["ci_low"]) > float(b["ci_high"]):
        return f"**{a['method']} beats {b['method']}**: {head}."
    if float(a["ci_high"]) < float(b["ci_low"]):
        return f"**{a['method']} loses to {b['method']}**: {head}."
    return f"**{a['method']} and {b['method']} are indistinguishable** (the CIs overlap): {head}."


def verdicts(table: pd.DataFrame, focus: Focus) -> list[str]:
    """Plain sentences on one section (one model, one eval): the cone verdicts first (SPEC §9), then the ladder, Gain and costs."""
    methods = table[table["method"] != NULL_METHOD].sort_values(["gain_mean", "effect_mean"], ascending=False)
    if not len(methods):
        return ["No method finished yet."]
    out = cone_words(table, methods) + ladder_words(methods)
    best = methods.iloc[0]
    tail = "; its CI includes 0." if float(best["ci_low"]) <= 0 else "."
    out.append(
        f"Best by mean Gain (a column, not the verdict): {best['method']}, "
        f"{pm(best['gain_mean'], best['gain_sd'])} (95% CI {interval(best)}, "
        f"{int(best['n'])} seed{'s' if best['n'] > 1 else ''}){tail}"
    )
    by = {r["method"]: r for _, r in table.iterrows()}
    if focus.method in by:
        out += [compare(by[focus.method], by[p]) for p in focus.peers if p in by]
    elif table["task"].iloc[0] != focus.control_task:  # the positive control does not run the focus method
        out.append(f"{focus.method} has not finished here yet.")
    return out + off_budget(table) + low_coverage(table) + effect_direction(methods)


def p_text(r) -> str:
    return f"{r['method']} (p = {fmt(float(r['cone_p']))}, Effect {pm(r['effect_mean'], r['effect_sd'])})"


def cone_words(table: pd.DataFrame, methods: pd.DataFrame) -> list[str]:
    """Which methods beat the random cone, which move the eval the wrong way, which cannot be told from it."""
    null = table[table["method"] == NULL_METHOD]
    n = int(methods["cone_n"].max()) if "cone_n" in methods and methods["cone_n"].notna().any() else 0
    if n < 2:
        return ["No random cone yet (it needs finished random directions in the same sweep)."]
    groups = {
        v: [p_text(r) for _, r in methods.iterrows() if r["vs_random"] == v] for v in ("beats random", "wrong way", "indistinguishable")
    }
    r = null.iloc[0] if len(null) else None
    spread = f" Random directions' Effect: {pm(r['effect_mean'], r['effect_sd'])}." if r is not None else ""
    small = f" (with {n} directions p cannot go below {1 / (n + 1):.3g})" if n < 20 else ""
    return [
        f"Against a cone of {n} random directions at the same KL budget{small}, p on the mean Effect over seeds:{spread}",
        f"**Beat random (p < 0.05):** {'; '.join(groups['beats random']) or 'none'}.",
        f"**Move the eval the wrong way (p > 0.95):** {'; '.join(groups['wrong way']) or 'none'}.",
        f"Indistinguishable from random: {'; '.join(groups['indistinguishable']) or 'none'}.",
    ]


def ladder_words(methods: pd.DataFrame) -> list[str]:
    """Where each method stops being coherent along the ladder, its Effect there, and its anti-steerable share."""
    if "max_dose_mean" not in methods or not any(c.startswith("kl(") for c in methods.columns):  # a sweep without a ladder
        return []
    parts = [
        f"{r['method']} |c| ≤ {fmt(float(r['max_dose_mean']))} (KL {fmt(float(r['max_dose_kl_mean']))}, Effect there "
        f"{fmt(float(r['effect_at_max_dose_mean']))})"
        for _, r in methods.iterrows()
        if np.isfinite(float(r["max_dose_mean"]))
    ]
    walked = methods.get("ladder_rungs_mean", pd.Series(1.0, index=methods.index)).fillna(1.0) > 0  # older runs: assume walked
    broken = [r["method"] for (_, r), w in zip(methods.iterrows(), walked) if w and not np.isfinite(float(r["max_dose_mean"]))]
    unwalked = [r["method"] for (_, r), w in zip(methods.iterrows(), walked) if not w]
    anti = ", ".join(f"{r['method']} {fmt(float(r['anti_steerable_mean']))}" for _, r in methods.iterrows())
    return [
        f"Largest coherent dose (mean over seeds): {'; '.join(parts) or 'none'}"
        + (f"; incoherent already at the smallest rung: {', '.join(broken)}" if broken else "")
        + (f"; no ladder (no dose to scale): {', '.join(unwalked)}" if unwalked else "")
        + ".",
        f"Anti-steerable share (items whose slope over the ladder is against the calibrated sign): {anti}.",
    ]


def control_line(model: str, table: pd.DataFrame, focus: Focus) -> str:
    """Did the positive control pass on this model (SPEC §12): one of its methods beats the random cone on its eval."""
    part = table[(table["task"] == focus.control_task) & table["method"].isin(focus.control_methods)] if len(table) else table
    if not len(part) or not part["cone_n"].fillna(0).max() >= 2:
        return f"**Positive control on {model}: not run yet** (sentiment pairs on the `sentiment` eval with a random cone)."
    passed = part[part["vs_random"] == "beats random"]
    shown = "; ".join(p_text(r) for _, r in part.iterrows())
    n = int(part["cone_n"].max())
    if not len(passed) and 1 / (n + 1) >= ALPHA:  # no p can fall below 1/(N + 1): the control cannot pass yet
        return (
            f"**Positive control on {model}: undecided** — the cone has {n} random directions, so no p can go below "
            f"1/(N + 1) = {fmt(1 / (n + 1))} ≥ {ALPHA} ({shown}); it needs at least {int(np.ceil(1 / ALPHA))} directions."
        )
    if len(passed):
        return (
            f"**Positive control on {model}: passed** — {', '.join(passed['method'])} beat{'s' if len(passed) == 1 else ''} a cone of {n} "
            f"random directions on sentiment ({shown}). The comparison can see a steering effect on this model."
        )
    return (
        f"**Positive control on {model}: FAILED** — neither mean difference nor PCA beats a cone of {n} random directions on sentiment "
        f"({shown}). A null on the honesty evals of this model says little: the instrument did not see an effect known to exist."
    )


def off_budget(table: pd.DataFrame, tolerance: float = 0.25, lopsided: float = 0.5) -> list[str]:
    """Methods off the iso-KL budget, and methods on it that move the model far less on one sign than the other.

    Iso-KL (SPEC §8) sets k so that max(KL(+k), KL(−k)) = target in each cell: a method is off the budget when that
    larger KL (mean over seeds) is more than `tolerance` (relative) from the target. One whose smaller KL is under
    `lopsided` × the larger is at the budget, but only on one sign; which sign can differ between seeds.
    """
    target = table["kl_target_mean"].dropna().median() if "kl_target_mean" in table else float("nan")
    if np.isnan(target):
        return []

    def names(rows) -> str:
        return ", ".join(
            f"{r['method']} (+{fmt(float(r['kl_plus_mean']))} / −{fmt(float(r['kl_minus_mean']))}"
            + (
                ""
                if r["kl_plus_is_larger_mean"] in (0, 1)
                else (
                    f"; per seed the larger {fmt(float(r['kl_larger_mean']))}, the "
                    f"smaller {fmt(float(r['kl_smaller_mean']))}, on either sign"
                )
            )
            + ")"
            for r in rows
        )

    rows = [r for _, r in table.iterrows()]
    is_off = [abs(r["kl_larger_mean"] / target - 1) > tolerance for r in rows]
    off = [r for r, o in zip(rows, is_off) if o]
    one_sided = [r for r, o in zip(rows, is_off) if not o and r["kl_smaller_mean"] < lopsided * r["kl_larger_mean"]]
    if not off:
        out = [f"Every method reached the KL budget (the larger of KL(+1), KL(−1) = {fmt(target)} nats/token) within {tolerance:.0%}."]
    else:
        edge = [r["method"] for r in off if r.get("bracket_hits", 0) > 0]
        out = [
            "Not at equal cost — the larger of KL(+1), KL(−1) is more than "
            f"{tolerance:.0%} away from the {fmt(target)} target: {names(off)}. "
            "A persona prompt has no dose to scale, so its KL is what it is"
            + (f"; {', '.join(edge)} hit the edge of the strength search." if edge else ".")
        ]
    if one_sided:
        out.append(
            f"At the budget on one sign only — the other sign's KL is under {lopsided:.0%} of it: {names(one_sided)}. "
            "Their c = ±1 are equally far in budget terms but not in how much they change the model."
        )
    return out


def low_coverage(table: pd.DataFrame, floor: float = 0.8) -> list[str]:
    """Methods scored on fewer than `floor` of the reported items (the rest fell below the task's `pmass_min`)."""
    low = [r for _, r in table.iterrows() if float(r["coverage_mean"]) < floor]
    if not low:
        return []
    names = ", ".join(f"{r['method']} ({fmt(float(r['coverage_mean']))}, {float(r['n_items_mean']):.0f} items)" for r in low)
    return [
        f"Low coverage — scored on less than {floor:.0%} of the items, because the model puts too little probability on the "
        f"answer tokens (below the task's `pmass_min`): {names}. Their Gain rests on the items the model can answer at all."
    ]


def effect_direction(table: pd.DataFrame) -> list[str]:
    """Methods (2+ seeds) whose Effect has a t 95% CI over seeds (`sweep.aggregate`) that excludes 0, by sign, and whether that Effect
    lies outside the random null's Effect band (`band.mark`'s band_effect_low/high: mean ± 2 sd over random seeds).

    Gain counts a move toward the pole the sign was calibrated to on training pairs (ρ gate), so a method that
    moves the eval reliably the *other* way shows Gain 0, the same as one that does nothing; this says which.
    The seeds of a fitted direction vary its training split, so a tight interval says the direction is stable,
    not that it does more than a random direction: the band says that.
    """
    rows = table[table["n"] >= 2]
    low, high = rows["effect_ci_low"], rows["effect_ci_high"]
    banded = rows[["band_effect_low", "band_effect_high"]].dropna() if "band_effect_low" in rows else pd.DataFrame()
    edges = tuple(banded.iloc[0]) if len(banded) else None  # one section, one context: one band

    def names(mask) -> str:
        return ", ".join(
            f"{r['method']} ({fmt(float(r['effect_mean']))}, CI {fmt(float(lo))} to {fmt(float(hi))}"
            + ("" if edges is None else "; outside" if not edges[0] <= r["effect_mean"] <= edges[1] else "; inside")
            + ")"
            for (_, r), lo, hi in zip(rows[mask].iterrows(), low[mask], high[mask])
        )

    band = (
        ""
        if edges is None
        else (
            f" Random directions' Effect band (mean ± 2 sd): {fmt(float(edges[0]))} to {fmt(float(edges[1]))}; inside/outside it is marked."
        )
    )
    out = []
    if (low > 0).any():
        out.append(
            f"Effect reliably above 0 (t 95% CI over seeds): {names(low > 0)} — toward the pole calibrated on the training pairs.{band}"
        )
    if (high < 0).any():
        out.append(
            f"**Effect reliably below 0** (t 95% CI over seeds): {names(high < 0)} — calibrated on the training pairs, "
            f"these move this eval the other way, which Gain (gated by ρ > 0) shows as 0.{band}"
        )
    return out
