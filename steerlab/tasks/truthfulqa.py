"""TruthfulQA multiple choice by likelihood (SPEC §5b; Lin, Hilton and Evans, ACL 2022).

Each question is the user turn, each listed answer the assistant's reply. Per answer: the mean per-token
log-prob (MC1 and `y`) and the summed one (MC2), under steering. Per question and coefficient:
MC1 = the best answer's mean log-prob beats every incorrect answer's; MC2 = Σ p(true) / Σ p(all) with
p = exp(summed log-prob); `y` = mean score of the true answers − mean score of the false ones (nats per token);
`nll` = the best answer's mean per-token NLL (ΔNLL). Answers are closed with a period as in the original
release's evaluation code; an answer listed both as correct and as incorrect is dropped from both lists.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import logsumexp

from steerlab.data import render
from steerlab.errors import DataError
from steerlab.likelihood import Continuations
from steerlab.tasks.base import SPLIT_SEED, Task, TaskConfig, registered

log = logging.getLogger(__name__)
COLUMNS = ("Question", "Best Answer", "Correct Answers", "Incorrect Answers")
HF_DATASET = ("truthful_qa", "multiple_choice")


@dataclass
class TruthfulQAConfig(TaskConfig):
    task: str = "truthfulqa"
    path: Optional[str] = None  # TruthfulQA.csv in the original column layout; null = the Hugging Face dataset (online)


def closed(answer: str) -> str:
    answer = answer.strip()
    return answer if answer.endswith((".", "?", "!")) else answer + "."


def split_answers(cell) -> list[str]:
    return [closed(a) for a in str(cell).split(";") if a.strip()] if isinstance(cell, str) else []


def item(question, best, true, false, where: str, **extra) -> dict:
    """One validated question: the best answer among the true ones, answers in both lists dropped."""
    true = list(dict.fromkeys([best, *true]))
    both = set(true) & set(false)
    if best in both:
        raise DataError(f"{where}: the best answer {best!r} is also listed as incorrect")
    return {
        "question": question,
        "best": best,
        "true": [a for a in true if a not in both],
        "false": [a for a in dict.fromkeys(false) if a not in both],
        "ambiguous": len(both),
        **extra,
    }


def from_csv(path: Path) -> pd.DataFrame:
    """The original release's CSV: Question, Best Answer, Correct Answers, Incorrect Answers (answers split at ';')."""
    if not path.is_file():
        raise DataError(f"evals.truthfulqa.path: no such file {path} (point it at TruthfulQA.csv, or null for the Hugging Face dataset)")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise DataError(f"evals.truthfulqa.path: cannot parse {path} ({e})") from None
    missing = [c for c in COLUMNS if c not in frame]
    if missing:
        raise DataError(f"evals.truthfulqa.path: {path} lacks column(s) {missing}; expected the original layout {list(COLUMNS)}")
    if frame.empty:
        raise DataError(f"evals.truthfulqa.path: {path} has no questions (a header and no rows)")
    rows = []
    for i, r in frame.iterrows():
        where = f"{path.name} row {i + 2}"  # header is line 1
        if not r["Question"].strip() or not r["Best Answer"].strip():
            raise DataError(f"{where}: a question needs its text and a best answer")
        if not split_answers(r["Incorrect Answers"]):
            raise DataError(f"{where}: question {r['Question'][:60]!r} has no incorrect answer")
        rows.append(
            item(
                r["Question"].strip(),
                closed(r["Best Answer"]),
                split_answers(r["Correct Answers"]),
                split_answers(r["Incorrect Answers"]),
                where,
                category=r.get("Category", ""),
                type=r.get("Type", ""),
            )
        )
    return pd.DataFrame(rows)


def from_hub_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Hugging Face `truthful_qa/multiple_choice` rows: the best answer is mc1's true choice; true/false from mc2."""
    rows = []
    for i, r in frame.iterrows():
        mc1, mc2 = r["mc1_targets"], r["mc2_targets"]
        best = [c for c, lab in zip(mc1["choices"], mc1["labels"]) if lab == 1]
        false = [closed(c) for c, lab in zip(mc2["choices"], mc2["labels"]) if lab == 0]
        if len(best) != 1 or not false:
            raise DataError(f"{HF_DATASET[0]} row {i}: needs exactly one best answer (mc1) and an incorrect one (mc2)")
        rows.append(
            item(
                r["question"],
                closed(best[0]),
                [closed(c) for c, lab in zip(mc2["choices"], mc2["labels"]) if lab == 1],
                false,
                f"{HF_DATASET[0]} row {i}",
                category="",
                type="",
            )
        )
    return pd.DataFrame(rows)


def from_hub() -> pd.DataFrame:
    try:
        from datasets import load_dataset
    except ImportError:
        raise DataError(
            "evals.truthfulqa.path=null reads the Hugging Face dataset: `pip install datasets` (or set evals.truthfulqa.path)"
        ) from None
    data = load_dataset(*HF_DATASET)
    return from_hub_rows(data[next(iter(data))].to_pandas())


def mc_scores(mean_lp: np.ndarray, sum_lp: np.ndarray, is_true: np.ndarray, is_best: np.ndarray) -> dict:
    """MC1, MC2, y and the best answer's NLL for one question from its answers' scores."""
    best = mean_lp[is_best][0]
    mc2 = float(np.exp(logsumexp(sum_lp[is_true]) - logsumexp(sum_lp)))
    return {
        "mc1": float(best > mean_lp[~is_true].max()),
        "mc2": mc2,
        "y": float(mean_lp[is_true].mean() - mean_lp[~is_true].mean()),
        "nll": float(-best),
        "lp_best": float(best),
        "lp_true": float(mean_lp[is_true].mean()),
        "lp_false": float(mean_lp[~is_true].mean()),
    }


CATEGORY_MIN = 10  # a category is reported alone from this many reported questions


def by_category(results: pd.DataFrame, items: pd.DataFrame) -> dict:
    """{category: n, MC1 at −1/0/+1, MC1 Effect, y Effect and the per-item slope test's p} for categories with at least
    CATEGORY_MIN reported questions."""
    if "category" not in items or not {-1.0, 0.0, 1.0} <= set(results["coeff"]):
        return {}
    cat = results["item"].map(items["category"])
    out = {}
    for name, g in results.groupby(cat):
        if not name or g["item"].nunique() < CATEGORY_MIN:
            continue
        mc1 = g.groupby("coeff")["mc1"].mean()
        wide = g.pivot(index="item", columns="coeff", values="y")[[-1.0, 1.0]].dropna()
        slopes = (wide[1.0] - wide[-1.0]) / 2
        p = float(stats.ttest_1samp(slopes, 0.0).pvalue) if len(slopes) > 1 and slopes.std() > 0 else float("nan")
        out[str(name)] = {
            "n": int(g["item"].nunique()),
            **{f"mc1({c:+g})": float(mc1[c]) for c in (-1.0, 0.0, 1.0)},
            "mc1_effect": float((mc1[1.0] - mc1[-1.0]) / 2),
            "effect": float(slopes.mean()),
            "p": p,
        }
    return out


def proportion_ci(values: pd.Series, level: float) -> tuple[float, float]:
    """Wilson interval of a 0/1 mean."""
    if len(values) == 0:
        return float("nan"), float("nan")
    ci = stats.binomtest(int(values.sum()), len(values)).proportion_ci(level, method="wilson")
    return float(ci.low), float(ci.high)


def mean_ci(values: pd.Series, level: float) -> tuple[float, float]:
    """Student-t interval of a mean."""
    if len(values) < 2 or values.std() == 0:
        return float(values.mean()), float(values.mean())
    lo, hi = stats.t.interval(level, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    return float(lo), float(hi)


@registered(TruthfulQAConfig)
class TruthfulQATask(Task):
    unit = "question"
    y_label = "y = mean log-prob true − false  [nats/token]"
    headline = ("MC1(-1)", "MC1(+0)", "MC1(+1)", "MC2(-1)", "MC2(+0)", "MC2(+1)")

    def describe(self) -> str:
        src = os.path.normpath(self.cfg.path) if self.cfg.path else f"Hugging Face {'/'.join(HF_DATASET)}"
        return (
            "TruthfulQA multiple choice by likelihood (" + src + "): y = mean per-token log-prob of the true answers − of the false ones "
            "(nats/token); MC1 = the best answer beats every incorrect one; MC2 = probability mass on the true answers. "
            "ΔNLL from the best answers' NLL."
        )

    def load(self) -> pd.DataFrame:
        items = from_csv(Path(self.cfg.path).expanduser()) if self.cfg.path else from_hub()
        if items["ambiguous"].sum():
            log.info("%s: %d answer(s) listed as both correct and incorrect were dropped", self.name, int(items["ambiguous"].sum()))
        if self.limit:  # a fixed shuffle (not the file's category order), so a limit keeps a mix of categories
            order = np.random.default_rng(SPLIT_SEED).permutation(len(items))
            items = items.iloc[np.sort(order[: self.limit])]
        return items.reset_index(drop=True).assign(group=lambda f: f.index)

    def evaluate(self, model, tok, method, items, coeffs, batch_size) -> pd.DataFrame:
        from steerlab.steering import steer

        owner, texts, is_true, is_best = [], [], [], []
        for pos, (best, true, false) in enumerate(zip(items["best"], items["true"], items["false"])):
            for a in [*true, *false]:
                owner.append(pos), texts.append(a), is_true.append(a in true), is_best.append(a == best)
        owner, is_true, is_best = np.array(owner), np.array(is_true), np.array(is_best)
        ans_ids = tok(texts, add_special_tokens=False)["input_ids"]
        lengths = np.array([len(x) for x in ans_ids])
        cache: dict[tuple, Continuations] = {}
        frames = []
        for c in coeffs:
            t0 = time.perf_counter()
            with steer(model, method, c) as prompt:
                heads = [render(tok, prompt(q)) for q in items["question"]]
                if tuple(heads) not in cache:
                    cache[tuple(heads)] = Continuations(tok, tok(heads, add_special_tokens=False)["input_ids"], ans_ids, owner, batch_size)
                total = cache[tuple(heads)].score(model, desc=f"{self.name} c={c:+g}")
            mean = total / lengths
            rows = [
                {
                    "item": i,
                    "group": i,
                    "coeff": c,
                    **mc_scores(mean[owner == pos], total[owner == pos], is_true[owner == pos], is_best[owner == pos]),
                }
                for pos, i in enumerate(items.index)
            ]
            frames.append(pd.DataFrame(rows))
            log.info("%s c=%+g: %d answers to %d questions in %.1f s", self.name, c, len(texts), len(items), time.perf_counter() - t0)
        return pd.concat(frames, ignore_index=True)

    def extras(self, results, items, metric) -> tuple[dict, pd.DataFrame]:
        """MC1 and MC2 per coefficient with 95% intervals (Wilson for MC1, t for MC2), and the mean y and best-answer NLL."""
        rows = []
        for c, g in results.groupby("coeff"):
            mc1_lo, mc1_hi = proportion_ci(g["mc1"], metric.ci)
            mc2_lo, mc2_hi = mean_ci(g["mc2"], metric.ci)
            rows.append(
                {
                    "coeff": c,
                    "n": len(g),
                    "MC1": g["mc1"].mean(),
                    "MC1 low": mc1_lo,
                    "MC1 high": mc1_hi,
                    "MC2": g["mc2"].mean(),
                    "MC2 low": mc2_lo,
                    "MC2 high": mc2_hi,
                    "y": g["y"].mean(),
                    "NLL(best)": g["nll"].mean(),
                }
            )
        table = pd.DataFrame(rows)
        out = {f"MC1({c:+g})": float(v) for c, v in zip(table["coeff"], table["MC1"])}
        out.update({f"MC2({c:+g})": float(v) for c, v in zip(table["coeff"], table["MC2"])})
        mc1 = dict(zip(table["coeff"], table["MC1"]))
        out["mc1_effect"] = float((mc1[1.0] - mc1[-1.0]) / 2)
        y = dict(zip(table["coeff"], table["y"]))
        out["y_effect_all"] = float((y[1.0] - y[-1.0]) / 2)  # on every reported question (Effect itself reads complete items)
        flat = out["mc1_effect"] == 0 or out["y_effect_all"] == 0  # no sign to compare (MC1 moves in steps of 1/n)
        out["mc1_agrees"] = None if flat else bool(np.sign(out["mc1_effect"]) == np.sign(out["y_effect_all"]))
        out["by_category"] = by_category(results, items)
        return out, table

    def more(self, summary: dict) -> list[str]:
        """Per category (≥ CATEGORY_MIN reported questions): MC1 and Effect, so opposite movements are not averaged away."""
        cats = summary.get("by_category") or {}
        agrees = summary.get("mc1_agrees")
        agree = "cannot be compared in sign (one of them is flat)" if agrees is None else ("agree" if agrees else "DISAGREE") + " in sign"
        lines = [
            f"MC1 view (best answer against the incorrect ones) and y view (all true against all false) {agree}: "
            f"MC1 Effect {summary.get('mc1_effect', float('nan')):+.4f}, y Effect {summary.get('y_effect_all', float('nan')):+.4f}.",
            "",
        ]
        if not cats:
            return lines + [f"No category has {CATEGORY_MIN} or more reported questions (the file may lack a Category column).", ""]
        lines += [
            f"Per category (categories with at least {CATEGORY_MIN} reported questions):",
            "",
            "| category | n | MC1 (−1 / 0 / +1) | MC1 Effect | y Effect | slope p |",
            "|---|---|---|---|---|---|",
        ]
        for name, c in sorted(cats.items(), key=lambda kv: -kv[1]["n"]):
            lines.append(
                f"| {name} | {c['n']} | {c['mc1(-1)']:.3f} / {c['mc1(+0)']:.3f} / {c['mc1(+1)']:.3f} | {c['mc1_effect']:+.4f} | "
                f"{c['effect']:+.4f} | {c['p']:.3g} |"
            )
        return lines + [""]
