"""Dose-response walked to incoherence (SPEC §10–§11).

After iso-KL sets a method's scale k, the ladder's rungs m (`eval.ladder`, in units of k) are walked outward from 0
on each side, c = +m and c = −m. At every rung, on the strength calibration's neutral prompts:
- KL(c): the statistic of per-token KL(p_steered ‖ p_base) over the base continuations (the iso-KL measurement);
- the steered model's greedy continuation of each prompt, and two statistics of it:
  - `nll`: its mean per-token NLL under the *unsteered* model given the plain prompt;
  - `distinct2`: the share of its token bigrams that are distinct (1 = no repetition).

The rule (`Rule`): a rung is incoherent when `nll` exceeds `nll_max` or `distinct2` falls below `distinct_min`.
With `eval.coherence_nll: null` the NLL threshold is measured once per model on the calibration prompts, not on
any eval item: the unsteered model's NLL of a *mismatched* base continuation (prompt i followed by prompt i+1's
greedy answer), i.e. fluent text that does not answer the prompt. Text the unsteered model finds less likely than
a fluent answer to another question has stopped being a reply. The repetition threshold is `coherence_distinct`
times the base continuations' distinct-2. The walk stops at the first incoherent rung on each side; tasks are then
evaluated at the coherent rungs (and always at −1, 0, +1).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from steerlab.data import render
from steerlab.errors import ConfigError

log = logging.getLogger(__name__)


def check(ladder, coeffs: list[float]) -> list[float]:
    """The ladder's rungs, sorted (checked before any model work): positive, finite, containing 1."""
    rungs = [float(m) for m in ladder or []]
    bad = [m for m in rungs if not (math.isfinite(m) and m > 0)]
    if bad:
        raise ConfigError(f"eval.ladder={list(ladder)}: every rung must be a finite number > 0 (got {bad}); the ladder walks ±rung")
    if rungs and 1.0 not in rungs:
        raise ConfigError(f"eval.ladder={list(ladder)} must contain 1 (Effect, Gain and the iso-KL budget are defined at c = ±1)")
    return sorted(set(rungs))


def distinct2(ids: list[int]) -> float:
    """Distinct token bigrams / bigrams of one continuation (1.0 when it has fewer than 2 bigrams' worth of repetition to show)."""
    pairs = list(zip(ids, ids[1:]))
    return len(set(pairs)) / len(pairs) if pairs else 1.0


@dataclass
class Rule:
    nll_max: float  # nats/token: above it the steered continuation is less likely than a mismatched fluent answer
    distinct_min: float  # below it the continuation repeats itself
    nll_source: str  # 'mismatched base continuations' or 'eval.coherence_nll'

    def coherent(self, nll: float, d2: float) -> bool:
        return bool(nll <= self.nll_max and d2 >= self.distinct_min)

    def line(self) -> str:
        return (
            f"incoherent when the unsteered NLL of the steered reply > {self.nll_max:.3f} nats/token ({self.nll_source}) "
            f"or distinct-2 < {self.distinct_min:.3f}"
        )


def continuation_nll(model, tok, users: list[str], conts: list[list[int]], batch_size: int) -> np.ndarray:
    """Per prompt: the mean per-token NLL of `conts[i]` after the plain prompt `users[i]`, under the model as it is."""
    from steerlab.likelihood import Continuations

    prefixes = tok([render(tok, u) for u in users], add_special_tokens=False)["input_ids"]
    total = Continuations(tok, prefixes, conts, np.arange(len(users)), batch_size).score(model, desc="coherence NLL")
    return -total / np.maximum(np.array([len(c) for c in conts]), 1)


def base_rule(probe, model, tok, nll_max: float | None, distinct_ratio: float) -> tuple[Rule, dict]:
    """The rule's thresholds from the base continuations (unsteered model; no eval item is read)."""
    base_nll = continuation_nll(model, tok, probe.users, probe.conts, probe.batch_size)
    shifted = probe.conts[1:] + probe.conts[:1]  # prompt i followed by prompt i+1's answer
    mismatched = continuation_nll(model, tok, probe.users, shifted, probe.batch_size)
    base_d2 = float(np.mean([distinct2(c) for c in probe.conts]))
    source = "eval.coherence_nll" if nll_max is not None else "mismatched base continuations"
    rule = Rule(float(nll_max if nll_max is not None else mismatched.mean()), distinct_ratio * base_d2, source)
    return rule, {
        "coherence_base_nll": float(base_nll.mean()),
        "coherence_mismatched_nll": float(mismatched.mean()),
        "coherence_base_distinct2": base_d2,
        "coherence_nll_max": rule.nll_max,
        "coherence_distinct_min": rule.distinct_min,
        "coherence_rule": rule.line(),
    }


@torch.no_grad()
def rung(probe, model, tok, method, coeff: float, stat, tokens: int) -> dict:
    """KL, and the coherence statistics of the steered greedy continuations, at user coefficient `coeff`."""
    from steerlab.generate import greedy
    from steerlab.steering import steer
    from steerlab.strength import statistic

    kl = statistic(probe.kl(model, tok, method, coeff), stat)
    with steer(model, method, coeff) as prompt:
        conts = greedy(
            model,
            tok,
            [render(tok, prompt(u)) for u in probe.users],
            tokens,
            probe.batch_size,
            desc=f"coherence c={coeff:+g}",
        )
    nll = continuation_nll(model, tok, probe.users, conts, probe.batch_size)
    example = tok.decode(conts[0], skip_special_tokens=True).strip()
    return {
        "coeff": float(coeff),
        "kl": kl,
        "nll": float(nll.mean()),
        "distinct2": float(np.mean([distinct2(c) for c in conts])),
        "example": example,
    }


def walk(probe, model, tok, method, rungs: list[float], rule: Rule, stat, tokens: int, measure=None) -> pd.DataFrame:
    """One row per rung walked (coeff, kl, nll, distinct2, coherent, example), outward from 0 on each side, stopping
    at the first incoherent rung. `measure(coeffs, fn)` may serve rows already measured (steerlab.cache)."""
    rows = []
    measure = measure or (lambda cs, fn: fn(cs))
    for side in (1.0, -1.0):
        for m in rungs:
            t0 = time.perf_counter()
            r = (
                measure([side * m], lambda cs: pd.DataFrame([rung(probe, model, tok, method, c, stat, tokens) for c in cs]))
                .iloc[0]
                .to_dict()
            )
            r["coherent"] = rule.coherent(r["nll"], r["distinct2"])
            rows.append(r)
            log.info(
                "ladder %s c=%+g: KL %.4g, NLL %.3f, distinct-2 %.3f: %s (%.1f s)",
                method.name,
                r["coeff"],
                r["kl"],
                r["nll"],
                r["distinct2"],
                "coherent" if r["coherent"] else "INCOHERENT, side stops",
                time.perf_counter() - t0,
            )
            if not r["coherent"]:
                break
    return pd.DataFrame(rows).sort_values("coeff", ignore_index=True)


def eval_coeffs(coeffs: list[float], walked: pd.DataFrame) -> list[float]:
    """The coefficients tasks are scored at: `eval.coeffs` and every coherent rung."""
    coherent = walked.loc[walked["coherent"], "coeff"].tolist() if len(walked) else []
    return sorted({*coeffs, *coherent})


def max_dose(walked: pd.DataFrame) -> tuple[float, float]:
    """(m, KL) of the largest rung m with every rung up to ±m coherent (NaN when ±smallest rung is not)."""
    best, kl = float("nan"), float("nan")
    by = walked.set_index("coeff") if len(walked) else pd.DataFrame()
    for m in sorted({abs(c) for c in by.index}):
        if not all(c in by.index and by.loc[c, "coherent"] for c in (m, -m)):
            break
        best, kl = m, float(max(by.loc[m, "kl"], by.loc[-m, "kl"]))
    return best, kl


def summary_keys(walked: pd.DataFrame, rule_info: dict) -> dict:
    """The ladder's summary keys: KL and coherence per rung, the largest coherent dose and the rule."""
    keys = dict(rule_info)
    for r in walked.itertuples():
        keys[f"kl({r.coeff:+g})"] = float(r.kl)
        keys[f"coherent({r.coeff:+g})"] = bool(r.coherent)
        keys[f"coherence_nll({r.coeff:+g})"] = float(r.nll)
        keys[f"distinct2({r.coeff:+g})"] = float(r.distinct2)
    m, kl = max_dose(walked)
    keys.update(max_dose=m, max_dose_kl=kl, ladder_walked=[float(c) for c in walked["coeff"]] if len(walked) else [])
    return keys


def point(get, m: float, scores: str = "") -> tuple[float, float]:
    """(KL(m), Effect(m)) at rung m from a lookup `get(key)`: KL(m) = max(KL(+m), KL(−m)), Effect(m) = (S(+m) − S(−m))/2,
    with S under the key prefix `scores` (a run summary's `<task>/`, or none for a sweep row). One definition for the
    run report and the sweep report."""
    return max(get(f"kl({m:+g})"), get(f"kl({-m:+g})")), (get(f"{scores}S({m:+g})") - get(f"{scores}S({-m:+g})")) / 2


def effect_curve(summary: dict, task: str) -> pd.DataFrame:
    """Per rung m with S(±m) and KL(±m) known: Effect(m), KL(m) (`point`) and whether both sides are coherent."""
    rows = []
    for key in summary:
        if key.startswith(f"{task}/S(+") and key != f"{task}/S(+0)":
            m = float(key[len(task) + 4 : -1])
            if any(k not in summary for k in (f"{task}/S({-m:+g})", f"kl({m:+g})", f"kl({-m:+g})")):
                continue
            kl, effect = point(summary.get, m, f"{task}/")
            rows.append(
                {
                    "m": m,
                    "effect": effect,
                    "kl": kl,
                    "coherent": bool(summary.get(f"coherent({m:+g})") and summary.get(f"coherent({-m:+g})")),
                }
            )
    curve = pd.DataFrame(rows, columns=["m", "effect", "kl", "coherent"]).sort_values("m", ignore_index=True)
    finite = np.isfinite(curve["effect"].astype(float)) & (curve["kl"].astype(float) > 0)  # no item scored, or no shift: nothing to plot
    return curve[finite].reset_index(drop=True)


def coherent_line(summary: dict) -> str:
    """One line: the coherent range of c and the KL there."""
    m = summary.get("max_dose", float("nan"))
    if summary.get("ladder_walked") in (None, []):
        return "ladder: not walked (eval.ladder is empty, or the method has no continuous dose)"
    if not math.isfinite(m):
        return f"ladder: incoherent already at the smallest rung ({summary['coherence_rule']})"
    return f"ladder: coherent for |c| ≤ {m:g} (KL {summary['max_dose_kl']:.3g} nats/token there); {summary['coherence_rule']}"
