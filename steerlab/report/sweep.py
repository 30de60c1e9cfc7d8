"""A sweep folder as one table (markdown + CSV, grouped by the swept keys), a Pareto plot and dose-response plots.

Every cell folder of a multirun holds `status.json` (computed | reused | failed) and, when it finished,
`summary.json`. Cells that differ only by `seed` form one group: metrics are mean ± sd over seeds (never
the best seed), with a 95% CI that is Student-t over seeds when there are two or more, and the run's own
bootstrap CI over items when there is one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from steerlab.errors import ConfigError  # noqa: E402
from steerlab.plots import saved  # noqa: E402
from steerlab.record import FINISHED, Status, load_json, read_status  # noqa: E402
from steerlab.report import fmt  # noqa: E402
from steerlab.report.band import Band, bands, draw_hband, draw_sband, mark, only  # noqa: E402

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


@dataclass
class SweepReport:
    markdown: Path
    csv: Path
    plots: list[Path]
    n_cells: int
    failed: list[tuple[Path, str]] = field(default_factory=list)


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
    return [{**wide, "task": t, **{k[len(t) + 1 :]: v for k, v in summary.items() if k.startswith(f"{t}/")}} for t in summary["tasks"]]


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


def pm(mean: float, sd: float) -> str:
    return fmt(float(mean)) if np.isnan(sd) else f"{fmt(float(mean))} ± {fmt(float(sd))}"


def label_of(row: pd.Series, keys: list[str]) -> str:
    return " ".join(f"{k}={row[k]}" for k in keys if k != "seed") or "all"


def pareto_plot(table: pd.DataFrame, keys: list[str], path: Path, band: Band | None = None) -> Path:
    """Effect against ΔNLL per group (sd over seeds as bars); the Pareto front: no group has more effect for less ΔNLL."""
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


def effect_kl_plot(table: pd.DataFrame, frame: pd.DataFrame, keys: list[str], path: Path) -> Path:
    """Effect(m) against KL(m) along the ladder per setting (means over seeds), over the random cone's 5–95 % envelope
    of Effect(m) (at the cone's median KL(m)); SPEC §9–§10."""
    rungs = sorted({abs(float(c[3:-1])) for c in table.columns if c.startswith("kl(")})
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    null = frame[frame["status"].isin(FINISHED) & (frame["method"] == "random")]
    if len(null) >= 2:
        curves = [ladder_curve(r, rungs) for _, r in null.iterrows()]
        kl, eff = np.array([c[0] for c in curves]), np.array([c[1] for c in curves])
        ok = np.isfinite(eff).sum(0) >= 2
        x = np.nanmedian(np.where(ok, kl, np.nan), 0)[ok]
        lo, hi = np.nanpercentile(eff[:, ok], 5, 0), np.nanpercentile(eff[:, ok], 95, 0)
        ax.fill_between(x, lo, hi, color="grey", alpha=0.3, label=f"random cone 5–95 % (N = {len(null)})")
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
    ax.legend(fontsize=7)
    return saved(fig, path)


def gain_plot(table: pd.DataFrame, keys: list[str], path: Path, band: Band | None = None) -> Path:
    """Gain per setting with its 95% CI, against the random band."""
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


def override_keys(sweep_dir: Path) -> list[str]:
    keys: list[str] = []
    for status in sorted(sweep_dir.glob("*/status.json")):
        for key in parse_overrides(json.loads(status.read_text()).get("overrides", [])):
            keys += [key] if key not in keys else []
    return keys


def table_markdown(table: pd.DataFrame, keys: list[str]) -> str:
    shown = pd.DataFrame(
        {
            **{k: table[k] for k in keys if k != "seed"},
            "n": table["n"],
            "Gain": [pm(m, s) for m, s in zip(table["gain_mean"], table["gain_sd"])],
            "Gain 95% CI": [
                f"{fmt(float(lo))} to {fmt(float(hi))} ({kind})"
                for lo, hi, kind in zip(table["ci_low"], table["ci_high"], table["ci_kind"])
            ],
            "Effect": [pm(m, s) for m, s in zip(table["effect_mean"], table["effect_sd"])],
            "ΔNLL": [pm(m, s) for m, s in zip(table["delta_nll_mean"], table["delta_nll_sd"])],
            "anti-steerable": [pm(m, s) for m, s in zip(table["anti_steerable_mean"], table["anti_steerable_sd"])],
            "coherent to |c|": [pm(m, s) for m, s in zip(table["max_dose_mean"], table["max_dose_sd"])],
            "Effect there": [pm(m, s) for m, s in zip(table["effect_at_max_dose_mean"], table["effect_at_max_dose_sd"])],
            "val Gain": [pm(m, s) for m, s in zip(table["val_gain_mean"], table["val_gain_sd"])],
            **(
                {"MC1 (−1 / 0 / +1)": [" / ".join(fmt(float(r[f"MC1({c})"])) for c in ("-1", "+0", "+1")) for _, r in table.iterrows()]}
                if "MC1(+1)" in table and table["MC1(+1)"].notna().any()
                else {}
            ),
            "items": table["n_items_mean"].map(lambda v: fmt(float(v))),
            "coverage": table["coverage_mean"].map(lambda v: fmt(float(v))),
            "KL reached (+/−)": [f"{fmt(float(p))} / {fmt(float(m))}" for p, m in zip(table["kl_plus_mean"], table["kl_minus_mean"])],
            "edge hits": table["bracket_hits"],
            "clears random band": table["clears_band"],
            "p vs random cone (N)": [f"{fmt(float(p))} ({n})" if n else "—" for p, n in zip(table["cone_p"], table["cone_n"])],
            "p per seed": table["cone_p_seeds"],
            "verdict (cone)": table["vs_random"],
            "computed/reused": [f"{c}/{r}" for c, r in zip(table["computed"], table["reused"])],
        }
    )
    return shown.to_markdown(index=False)


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


def task_section(frame: pd.DataFrame, keys: list[str], title: str, name: str, out: Path) -> tuple[list[str], list[Path], pd.DataFrame]:
    """The table, band sentence and plots of one section (plots named `<kind>_<name>.png`)."""
    table = mark(aggregate(frame, keys), frame, keys)
    text = [f"## {title}", ""]
    if not len(table):
        return text + ["No cell finished.", ""], [], table
    band = only(bands(frame, keys))
    names = {kind: f"{kind}_{name}.png" for kind in ("pareto", "dose_response", "gain", "effect_kl")}
    plots = [
        pareto_plot(table, keys, out / names["pareto"], band),
        dose_plot(table, keys, out / names["dose_response"], band),
        gain_plot(table, keys, out / names["gain"], band),
    ]
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
        plots.append(effect_kl_plot(table, frame, keys, out / names["effect_kl"]))
        text += [f"![Effect vs KL over the random cone]({names['effect_kl']})", ""]
    fixed = {k: frame[k].iloc[0] for k in SPLIT if k in frame and k not in keys}
    return text, plots, table.assign(task=frame["task"].iloc[0], section=name, **fixed)


def write(sweep_dir: str | Path, wandb: bool = False) -> SweepReport:
    """Write `<sweep_dir>/report/`: sweep.md, sweep.csv (groups per task), cells.csv (every cell and task), plots per task."""
    sweep_dir = Path(sweep_dir).expanduser().resolve()
    if not sweep_dir.is_dir():
        raise ConfigError(f"{sweep_dir}: no such sweep folder")
    frame = cells(sweep_dir)
    keys = swept_keys(frame, override_keys(sweep_dir))
    out = sweep_dir / "report"
    out.mkdir(exist_ok=True)
    frame.to_csv(out / "cells.csv", index=False)
    per_cell = frame.drop_duplicates("cell")
    failed = [(sweep_dir / r.cell, r.error or "unknown error") for r in per_cell.itertuples() if r.status == Status.failed]
    counts = per_cell["status"].value_counts().to_dict()
    parts = sections(distinct(frame), keys)
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
    plots: list[Path] = []
    tables = []
    for title, name, rows, inner in parts:
        lines, task_plots, table = task_section(rows, inner, title, name, out)
        text += lines
        plots += task_plots
        tables.append(table)
    if not parts:
        text += ["No cell finished.", ""]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    table = table[["task", *[c for c in table.columns if c != "task"]]] if len(table) else table
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
    report = SweepReport(out / "sweep.md", out / "sweep.csv", plots, len(per_cell), failed)
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
