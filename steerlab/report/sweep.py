"""The sweep report in three steps: load (steerlab.report.load: the cells as one table), aggregate
(steerlab.report.aggregate: seeds, random band and cone, per section, in memory) and render (here: markdown, CSV,
Pareto, dose-response, Gain and Effect-vs-KL plots, and the W&B upload). The README headline
(steerlab.report.headline) renders the same aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from steerlab.plots import saved  # noqa: E402
from steerlab.record import FINISHED, Status  # noqa: E402
from steerlab.report import fmt  # noqa: E402
from steerlab.report.aggregate import Section, SweepTables, sweep_tables  # noqa: E402
from steerlab.report.band import Band, draw_hband, draw_sband  # noqa: E402


@dataclass
class SweepReport:
    markdown: Path
    csv: Path
    plots: list[Path]
    n_cells: int
    failed: list[tuple[Path, str]] = field(default_factory=list)
    figures: dict[tuple[str, str], Path] = field(default_factory=dict)  # (section name, plot kind) -> file


def pm(mean: float, sd: float) -> str:
    """`mean ± sd`, the mean alone for one seed, and "—" where nothing was measured (e.g. prompting has no ladder)."""
    if np.isnan(mean):
        return "—"
    return fmt(float(mean)) if np.isnan(sd) else f"{fmt(float(mean))} ± {fmt(float(sd))}"


def label_of(row: pd.Series, keys: list[str]) -> str:
    return " ".join(f"{k}={row[k]}" for k in keys if k != "seed") or "all"


def varying(table: pd.DataFrame, keys: list[str]) -> list[str]:
    """The keys that tell a plot's settings apart: those with more than one value in it (a key that a union of
    grids sets only elsewhere is NaN here and says nothing), else the first key set in every row."""
    keys = [k for k in keys if k != "seed" and k in table]
    return [k for k in keys if table[k].nunique(dropna=False) > 1] or [k for k in keys if table[k].notna().all()][:1]


def pareto_plot(table: pd.DataFrame, keys: list[str], path: Path, band: Band | None = None) -> Path:
    """Effect against ΔNLL per group (sd over seeds as bars); the Pareto front: no group has more effect for less ΔNLL."""
    keys = varying(table, keys)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    x, y = table["delta_nll_mean"].to_numpy(float), table["effect_mean"].to_numpy(float)
    front = [
        i
        for i in range(len(table))
        if not any((x[j] <= x[i]) and (y[j] >= y[i]) and (x[j] < x[i] or y[j] > y[i]) for j in range(len(table)))
    ]
    ax.errorbar(
        x,
        y,
        xerr=np.nan_to_num(table["delta_nll_sd"].to_numpy(float)),
        yerr=np.nan_to_num(table["effect_sd"].to_numpy(float)),
        fmt="o",
        color="C0",
        alpha=0.6,
        capsize=3,
    )
    order = sorted(front, key=lambda i: x[i])
    ax.plot(x[order], y[order], "-o", color="C3", label="Pareto front")
    labels: dict[tuple[float, float], list[str]] = {}  # settings with the same result (reused cells) share one label
    for i, (_, row) in enumerate(table.iterrows()):
        labels.setdefault((x[i], y[i]), []).append(label_of(row, keys))
    for (px, py), names in labels.items():
        ax.annotate("\n".join(names), (px, py), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.margins(x=0.25, y=0.15)
    ax.axhline(0, color="grey", lw=0.5)
    draw_hband(ax, band, "effect", "Effect band")
    ax.set(xlabel="ΔNLL (coherence cost, nats)", ylabel="Effect (S(+1) − S(−1)) / 2", title="Effect vs coherence cost")
    ax.legend(fontsize=8)
    return saved(fig, path)


def dose_plot(table: pd.DataFrame, keys: list[str], path: Path, band: Band | None = None) -> Path:
    """Target score S(c) and prompt NLL(c) per group (means over seeds)."""
    keys = varying(table, keys)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    s_cols = sorted([c for c in table.columns if c.startswith("S(")], key=lambda c: float(c[2:-1]))
    n_cols = sorted([c for c in table.columns if c.startswith("NLL(")], key=lambda c: float(c[4:-1]))
    for _, row in table.iterrows():
        a.plot([float(c[2:-1]) for c in s_cols], row[s_cols].to_numpy(float), marker="o", label=label_of(row, keys))
        b.plot([float(c[4:-1]) for c in n_cols], row[n_cols].to_numpy(float), marker="o")
    a.axhline(0, color="grey", lw=0.5)
    draw_sband(a, band, s_cols)
    a.set(xlabel="coefficient c", ylabel="target score S(c)", title="dose-response")
    b.set(xlabel="coefficient c", ylabel="mean token NLL", title="coherence")
    a.legend(fontsize=7)
    return saved(fig, path)


def ladder_curve(row, rungs: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """(KL(m), Effect(m)) of one row (a cell or a group's means) at rungs m: KL(m) = max(KL(+m), KL(−m)), Effect(m) = (S(+m) − S(−m))/2."""
    from steerlab.ladder import point

    get = lambda key: float(row[key]) if key in row and pd.notna(row[key]) else np.nan
    points = np.array([point(get, m) for m in rungs]).reshape(-1, 2)
    return points[:, 0], points[:, 1]


def effect_kl_plot(table: pd.DataFrame, frame: pd.DataFrame, keys: list[str], path: Path) -> Path | None:
    """Effect(m) against KL(m) along the ladder per setting (means over seeds), over the random cone's 5–95 % envelope
    of Effect(m) (at the cone's median KL(m)); SPEC §9–§10. None when no setting has a rung with KL > 0 (e.g. a
    section whose only finished method is prompting, which has no ladder): a log axis would have nothing to show."""
    keys = varying(table, keys)
    rungs = sorted({abs(float(c[3:-1])) for c in table.columns if c.startswith("kl(")})
    null = frame[frame["status"].isin(FINISHED) & (frame["method"] == "random")]
    drawn = [ladder_curve(r, rungs)[0] for _, r in [*table.iterrows(), *null.iterrows()]]
    if not any((np.isfinite(kl) & (kl > 0)).any() for kl in drawn):
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    if len(null) >= 2:
        curves = [ladder_curve(r, rungs) for _, r in null.iterrows()]
        kl, eff = np.array([c[0] for c in curves]), np.array([c[1] for c in curves])
        ok = np.isfinite(eff).sum(0) >= 2
        x = np.nanmedian(kl[:, ok], 0)  # only the rungs the cone reached: no all-NaN column, same medians
        lo, hi = np.nanpercentile(eff[:, ok], 5, 0), np.nanpercentile(eff[:, ok], 95, 0)
        ax.fill_between(x, lo, hi, color="grey", alpha=0.3, label=f"random cone 5–95 % (N = {len(null)})")
        ax.vlines(x, lo, hi, color="grey", alpha=0.5, lw=4)  # visible where the cone has one rung (a single KL)
    for i, (_, row) in enumerate(table[table["method"] != "random"].iterrows()):
        kl, eff = ladder_curve(row, rungs)
        ok = np.isfinite(kl) & np.isfinite(eff)
        ax.plot(kl[ok], eff[ok], marker="o", color=f"C{i % 10}", label=label_of(row, keys))
        dose = row.get("max_dose_mean")
        if dose is not None and np.isfinite(dose) and dose in rungs:
            j = rungs.index(dose)
            ax.scatter([kl[j]], [eff[j]], s=120, facecolors="none", edgecolors=f"C{i % 10}")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set(
        xscale="log",
        xlabel="KL at ±m (nats/token, larger side)",
        ylabel="Effect(m) = (S(+m) − S(−m)) / 2",
        title="Effect along the ladder (ring: largest coherent dose)",
    )
    decades(ax)
    ax.legend(fontsize=7)
    return saved(fig, path)


def decades(ax) -> None:
    """A log x axis from the decade below its data to the decade above, labelled at powers of ten only (points at
    nearly one KL, e.g. a ladder that stops at its first rung, otherwise get a sliver of axis with crowded labels)."""
    lo, hi = ax.get_xlim()
    if lo > 0 and np.isfinite(lo) and np.isfinite(hi):
        ax.set_xlim(10 ** np.floor(np.log10(lo)), 10 ** np.ceil(np.log10(hi) + 1e-9))
    ax.xaxis.set_minor_formatter(NullFormatter())


def gain_plot(table: pd.DataFrame, keys: list[str], path: Path, band: Band | None = None) -> Path:
    """Gain per setting with its 95% CI, against the random band."""
    keys = varying(table, keys)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(table) + 2), 4))
    x = np.arange(len(table))
    mean = table["gain_mean"].to_numpy(float)
    lo, hi = mean - table["ci_low"].to_numpy(float), table["ci_high"].to_numpy(float) - mean
    ax.errorbar(x, mean, yerr=[np.nan_to_num(np.clip(lo, 0, None)), np.nan_to_num(np.clip(hi, 0, None))], fmt="o", capsize=4)
    draw_hband(ax, band, "gain", "Gain band")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xticks(x, [label_of(r, keys) for _, r in table.iterrows()], rotation=30, ha="right", fontsize=7)
    ax.set(ylabel="Gain (mean over seeds, 95% CI)", title="Gain against the random null")
    if band is not None:
        ax.legend(fontsize=7)
    return saved(fig, path)


def spread(stem: str):
    """A column `mean ± sd` from a table's `<stem>_mean` and `<stem>_sd`."""
    return lambda t: [pm(m, s) for m, s in zip(t[f"{stem}_mean"], t[f"{stem}_sd"])]


def gain_ci(t: pd.DataFrame) -> list[str]:
    return [f"{fmt(float(lo))} to {fmt(float(hi))}" for lo, hi in zip(t["ci_low"], t["ci_high"])]


def mc1_columns(t: pd.DataFrame) -> list[str] | None:
    if "MC1(+1)" not in t or not t["MC1(+1)"].notna().any():
        return None  # not a TruthfulQA section: no column
    return [" / ".join(fmt(float(r[f"MC1({c})"])) for c in ("-1", "+0", "+1")) for _, r in t.iterrows()]


def cone_column(t: pd.DataFrame) -> list[str]:
    return [f"{fmt(float(p))} ({int(n)})" if n and np.isfinite(float(p)) else "—" for p, n in zip(t["cone_p"], t["cone_n"].fillna(0))]


# Every formatted column a sweep table can show, by its header; the sweep report and the headline pick from it.
COLUMNS = {
    "seeds": lambda t: t["n"].astype(int),
    "Gain": spread("gain"),
    "Gain 95% CI": gain_ci,
    "Gain 95% CI (kind)": lambda t: [f"{ci} ({kind})" for ci, kind in zip(gain_ci(t), t["ci_kind"])],
    "Effect": spread("effect"),
    "ΔNLL": spread("delta_nll"),
    "MC1 (−1 / 0 / +1)": mc1_columns,
    "KL reached (+/−)": lambda t: [f"{fmt(float(p))} / {fmt(float(m))}" for p, m in zip(t["kl_plus_mean"], t["kl_minus_mean"])],
    "items": lambda t: t["n_items_mean"].map(lambda v: fmt(float(v))),
    "coverage": lambda t: t["coverage_mean"].map(lambda v: fmt(float(v))),
    "p vs cone (N)": cone_column,
    "p per seed": lambda t: t["cone_p_seeds"],
    "verdict": lambda t: t["vs_random"],
    "anti-steerable": spread("anti_steerable"),
    "largest coherent dose": spread("max_dose"),
    "Effect there": spread("effect_at_max_dose"),
    "val Gain": spread("val_gain"),
    "edge hits": lambda t: t["bracket_hits"],
    "clears random band": lambda t: t["clears_band"],
    "computed/reused": lambda t: [f"{c}/{r}" for c, r in zip(t["computed"], t["reused"])],
}


def formatted(table: pd.DataFrame, keys: list[str], names: list[str]) -> pd.DataFrame:
    """The table's `keys` columns as they are, then the formatted `names` (a column that does not apply is left out)."""
    shown = {k: table[k].to_numpy() for k in keys}
    for name in names:
        values = COLUMNS[name](table)
        if values is not None:
            shown[name] = list(values)
    return pd.DataFrame(shown)


SWEEP_COLUMNS = [
    "seeds", "Gain", "Gain 95% CI (kind)", "Effect", "ΔNLL", "anti-steerable", "largest coherent dose", "Effect there", "val Gain",
    "MC1 (−1 / 0 / +1)", "items", "coverage", "KL reached (+/−)", "edge hits", "clears random band", "p vs cone (N)",
    "p per seed", "verdict", "computed/reused",
]  # fmt: skip


def table_markdown(table: pd.DataFrame, keys: list[str]) -> str:
    return formatted(table, [k for k in keys if k != "seed"], SWEEP_COLUMNS).to_markdown(index=False)


def band_text(table: pd.DataFrame, keys: list[str]) -> list[str]:
    """Plain words on the random band: which settings clear it and which do not."""
    if not table["clears_band"].isin(["yes", "NO"]).any():
        return ["No random band: run `adapter=random` with at least 2 seeds in the same sweep (e.g. `sweeps/baselines.yaml`)."]
    names = lambda col, verdict: ", ".join(f"`{label_of(r, keys)}`" for _, r in table.iterrows() if r[col] == verdict) or "none"
    n = int(table["cone_n"].max())
    small = f" With {n} directions p cannot go below {1 / (n + 1):.3g}: run at least 20." if n < 20 else ""
    return [
        f"**Random cone** ({n} random directions at the same KL budget): p = (1 + #directions with Effect ≥ the setting's) / "
        f"(N + 1), on the mean Effect over seeds. Beats random (p < 0.05): {names('vs_random', 'beats random')}. Moves the eval "
        f"the wrong way (p > 0.95): {names('vs_random', 'wrong way')}. "
        f"Indistinguishable: {names('vs_random', 'indistinguishable')}.{small}",
        "",
        f"**Random band** (mean ± 2 sd over random seeds at the same KL budget): a setting clears it when the lower end of its "
        "Gain 95% CI is above the band's upper edge. Clears: "
        f"{names('clears_band', 'yes')}. Does **not** clear: {names('clears_band', 'NO')}.",
    ]


def render_section(section: Section, out: Path) -> tuple[list[str], dict[str, Path]]:
    """The markdown and the plots of one section ({kind: path}; files named `<kind>_<section name>.png`)."""
    table, keys = section.table, section.keys
    text = [f"## {section.title}", ""]
    if not len(table):
        return text + ["No cell finished.", ""], {}
    names = {kind: f"{kind}_{section.name}.png" for kind in ("pareto", "dose_response", "gain", "effect_kl")}
    plots = {
        "pareto": pareto_plot(table, keys, out / names["pareto"], section.band),
        "dose_response": dose_plot(table, keys, out / names["dose_response"], section.band),
        "gain": gain_plot(table, keys, out / names["gain"], section.band),
    }
    text += [
        table_markdown(table, keys),
        "",
        *band_text(table, keys),
        "",
        f"![Pareto: Effect vs ΔNLL]({names['pareto']})",
        "",
        f"![dose-response]({names['dose_response']})",
        "",
        f"![Gain vs the random band]({names['gain']})",
        "",
    ]
    if any(c.startswith("kl(") for c in table.columns):
        plot = effect_kl_plot(table, section.rows, keys, out / names["effect_kl"])
        if plot is not None:
            plots["effect_kl"] = plot
            text += [f"![Effect vs KL over the random cone]({names['effect_kl']})", ""]
    return text, plots


def write(sweep_dir: str | Path, wandb: bool = False, tables: SweepTables | None = None) -> SweepReport:
    """Step 3 of the sweep report: render `<sweep_dir>/report/` (sweep.md, sweep.csv with the groups per task, cells.csv
    with every cell and task, plots per section) from the loaded and aggregated sweep (computed here unless given)."""
    tables = tables or sweep_tables(sweep_dir)
    sweep_dir, frame, keys = tables.sweep_dir, tables.frame, tables.keys
    out = sweep_dir / "report"
    out.mkdir(exist_ok=True)
    frame.to_csv(out / "cells.csv", index=False)
    per_cell = frame.drop_duplicates("cell")
    failed = [(sweep_dir / r.cell, r.error or "unknown error") for r in per_cell.itertuples() if r.status == Status.failed]
    counts = per_cell["status"].value_counts().to_dict()
    text = [
        f"# Sweep {sweep_dir.parent.name}/{sweep_dir.name}",
        "",
        f"`{sweep_dir}`: {len(per_cell)} cells — "
        + ", ".join(f"{n} {s}" for s, n in counts.items())
        + f". Grouped by {', '.join(k for k in keys if k != 'seed') or '(nothing)'}; "
        "metrics are mean ± sd over seeds (never best-of-N), one table per "
        "eval task (and per model). Gain, Effect and ΔNLL are on each task's "
        "reported (test) items; val Gain is on the validation items that tuning may read.",
        "",
    ]
    figures: dict[tuple[str, str], Path] = {}
    for section in tables.sections:
        lines, plots = render_section(section, out)
        text += lines
        figures.update({(section.name, kind): path for kind, path in plots.items()})
    if not tables.sections:
        text += ["No cell finished.", ""]
    table = tables.table
    table.to_csv(out / "sweep.csv", index=False)
    codes = per_cell.loc[per_cell["status"].isin(FINISHED), "code"].fillna("(not recorded)").value_counts()
    if len(codes) > 1:
        text += [
            "## Code versions",
            "",
            "The finished cells were computed with more than one version of the computing source "
            "(a sweep that pins `code_version` reuses cells across code changes):",
            "",
            *[f"- `{code}`: {n} cells" for code, n in codes.items()],
            "",
        ]
    if failed:
        text += ["## Failed jobs", "", *[f"- `{f.name}`: {err}" for f, err in failed], ""]
    reused = per_cell[per_cell["status"] == Status.reused]
    if len(reused):
        text += ["## Reused cells", "", *[f"- `{r.cell}` reuses `{r.source}` (same effective config)" for r in reused.itertuples()], ""]
    (out / "sweep.md").write_text("\n".join(text))
    report = SweepReport(out / "sweep.md", out / "sweep.csv", list(figures.values()), len(per_cell), failed, figures)
    if wandb and len(table):
        upload(report, sweep_dir, table)
    return report


def upload(report: SweepReport, sweep_dir: Path, table: pd.DataFrame) -> None:
    """One W&B run per sweep (job type `sweep-report`, in the sweep's group) holding the table and plots."""
    import wandb
    from omegaconf import OmegaConf

    from steerlab.log import start_run, sweep_group

    lc = OmegaConf.load(sweep_dir / "multirun.yaml").logger
    run = start_run(lc, lc.group or sweep_group(sweep_dir), "sweep-report", f"report-{sweep_group(sweep_dir)}", report.markdown.parent)
    run.log(
        {
            "sweep_table": wandb.Table(dataframe=table.astype({c: str for c in table.columns if table[c].dtype == object})),
            **{p.stem: wandb.Image(str(p)) for p in report.plots},
        }
    )
    run.finish()
