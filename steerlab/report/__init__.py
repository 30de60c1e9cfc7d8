"""Readable outputs of one run: the metric tables (console + report.md, one per task) and the dose-response plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from steerlab.plots import saved  # noqa: E402

HEADLINE = [
    "S(-1)",
    "S(+0)",
    "S(+1)",
    "effect",
    "rho",
    "delta_nll",
    "gain",
    "gain_ci_low",
    "gain_ci_high",
    "t",
    "p",
    "side_effects",
    "n_items",
    "coverage",
]


def fmt(v) -> str:
    if isinstance(v, float) and v == 0:
        return "0"
    if isinstance(v, float):
        return "nan" if np.isnan(v) else f"{v:.3g}" if abs(v) < 1e-2 and v != 0 else f"{v:.3f}"
    return str(v)


def headline_row(summary: dict, extra: tuple[str, ...] = ()) -> dict:
    """The HEADLINE metrics (and `extra` task keys) of a summary. (Not `headline`: that name is the submodule.)"""
    return {k: summary[k] for k in [*HEADLINE, *extra] if k in summary}


def print_table(summary: dict, title: str, extra: tuple[str, ...] = ()) -> None:
    table = Table(title=title)
    row = headline_row(summary, extra)
    for k in row:
        table.add_column(k, justify="right")
    table.add_row(*[fmt(v) for v in row.values()])
    Console(width=200).print(table)


def markdown(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def task_section(task, summary: dict, table: pd.DataFrame, plot: str, objective: bool = False) -> list[str]:
    """report.md lines for one task: what it measures, headline metrics, its own table, the dose-response plot."""
    val = (
        f"val Gain {fmt(summary.get('val_gain', float('nan')))} on {summary['n_val']} "
        f"validation {task.unit}s (val_fraction {task.val_fraction})"
    )
    return [
        f"## {task.name}",
        "",
        task.describe(),
        "",
        f"**{conclusion(task, summary)}**",
        "",
        f"n = {summary['n_items']} scored items of {summary['n_test']} reported {task.unit}s, coverage {fmt(summary['coverage'])}, "
        f"Gain {fmt(summary['gain'])} (95% CI {fmt(summary['gain_ci_low'])} to {fmt(summary['gain_ci_high'])}); "
        f"{val}{' — the value launch.py returns' if objective else ''}.",
        "",
        markdown(pd.DataFrame([headline_row(summary, task.headline)])),
        "",
        *([markdown(table), ""] if len(table) else []),
        f"![dose-response]({plot})",
        "",
    ]


def conclusion(task, s: dict) -> str:
    """One sentence in words on what a task's numbers say."""
    if s["n_items"] == 0:
        return f"No item was scored (coverage 0): {task.unscored_hint()}; nothing can be concluded."
    lo, hi = s["gain_ci_low"], s["gain_ci_high"]
    if lo > 0:
        return f"Steering moves {task.name} in the intended direction: the Gain 95% CI ({fmt(lo)} to {fmt(hi)}) excludes 0."
    if hi < 0:
        return f"Steering moves {task.name} against the intended direction: the Gain 95% CI ({fmt(lo)} to {fmt(hi)}) is below 0."
    return (
        f"No measurable effect on {task.name}: the Gain 95% CI ({fmt(lo)} to {fmt(hi)}) includes 0 "
        f"(Effect {fmt(s['effect'])}, per-item slope p = {fmt(s['p'])})."
    )


DEFINITIONS = (
    "How to read the tables: S(c) is the mean target-oriented score at coefficient c; Effect = (S(+1) − S(−1))/2; "
    "rho is the Spearman correlation between c and each item's centred scores (the monotonicity gate); ΔNLL is the "
    "largest rise in NLL at c = ±1 over c = 0; Gain = 100 · Effect · max(0, rho) / (1 + ΔNLL); t and p test the per-item "
    "slopes (y(+1) − y(−1))/2 against 0 (one value per item). The Gain CI is a percentile bootstrap over items; it is wide "
    "when rho is near 0, because resampling flips rho's sign and the gate then sets Gain to 0 or lets Effect through."
)


def write_report(folder: Path, title: str, notes: list[str], sections: list[str], extra: list[str] = ()) -> Path:
    """report.md: run notes, one section per task (each with a conclusion in words), definitions, then `extra` lines."""
    text = [f"# {title}", "", *[f"- {n}" for n in notes], "", *sections, DEFINITIONS, "", *extra]
    path = folder / "report.md"
    path.write_text("\n".join(text))
    return path


def dose_response(results: pd.DataFrame, wide: pd.DataFrame, path: Path, title: str, y_label: str = "target score S(c)") -> Path:
    """Target score S(α) with a 95% interval over items, and the NLL the task reports (ΔNLL) against α."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    coeffs = wide.columns.to_numpy(dtype=float)
    mean, se = wide.mean().to_numpy(), wide.std(ddof=1).to_numpy() / np.sqrt(max(len(wide), 1))
    a.errorbar(coeffs, mean, yerr=1.96 * se, marker="o", capsize=4)
    a.axhline(0, color="grey", lw=0.5)
    a.set(xlabel="coefficient c", ylabel=y_label, title=f"dose-response (n={len(wide)})")
    nll = results.groupby("coeff")["nll"].mean()
    b.plot(nll.index, nll.to_numpy(), marker="o", color="C1")
    b.set(xlabel="coefficient c", ylabel="mean token NLL", title="coherence")
    fig.suptitle(title)
    return saved(fig, path)


def print_ladder(walked: pd.DataFrame, title: str) -> None:
    """The KL ladder on the console: one row per rung walked."""
    table = Table(title=title)
    for col in ("c", "KL", "NLL (unsteered)", "distinct-2", "coherent"):
        table.add_column(col, justify="right")
    for r in walked.itertuples():
        table.add_row(f"{r.coeff:+g}", fmt(float(r.kl)), fmt(float(r.nll)), fmt(float(r.distinct2)), "yes" if r.coherent else "NO")
    Console(width=200).print(table)


def ladder_table(walked: pd.DataFrame) -> str:
    """The KL ladder as markdown: one row per rung walked."""
    from steerlab.generate import cell

    lines = ["| c | KL | NLL (unsteered) | distinct-2 | coherent | first reply |", "|---|---|---|---|---|---|"]
    for r in walked.itertuples():
        lines.append(
            f"| {r.coeff:+g} | {fmt(r.kl)} | {fmt(r.nll)} | {fmt(r.distinct2)} "
            f"| {'yes' if r.coherent else 'NO'} | {cell(str(r.example))[:160]} |"
        )
    return "\n".join(lines)


def effect_vs_kl(curve: pd.DataFrame, path: Path, title: str, y_label: str) -> Path:
    """Effect(m) = (S(+m) − S(−m))/2 against the KL spent at ±m (max of both sides), one point per rung; hollow = incoherent."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot(curve["kl"], curve["effect"], color="C0", lw=1)
    for ok, marker in ((True, "o"), (False, "x")):
        part = curve[curve["coherent"] == ok]
        ax.scatter(
            part["kl"], part["effect"], marker=marker, color="C0" if ok else "C3", label="coherent" if ok else "incoherent", zorder=3
        )
    for r in curve.itertuples():
        ax.annotate(f"±{r.m:g}", (r.kl, r.effect), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set(xscale="log", xlabel="KL at ±m (nats/token)", ylabel=f"Effect(m) on {y_label}", title=title)
    ax.legend(fontsize=7)
    return saved(fig, path)
