"""Strength calibration (SPEC §8, iso-KL): put every method at the same distribution-shift budget.

KL(k) = a statistic (mean or p95) of per-token KL(p_steered(k) ‖ p_base) over the continuation tokens of fixed
neutral calibration prompts; the continuation is the base model's greedy one, generated once, so each KL
evaluation is one teacher-forced forward pass at +k and one at −k. `solve` finds k with
max(KL(+k), KL(−k)) = target by a root finder on log k (scipy's brentq) inside [k_min, k_max]; the method's
`scale` is then k, so coefficient c applies c·k (`steerlab.steering.applied`). Methods without a continuous dose
(`prompt`) keep k = 1 and report their KL at ±1.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy.optimize import brentq

from steerlab import oom
from steerlab.config import KLStat, StrengthConfig, StrengthMode
from steerlab.data import load_strings, render
from steerlab.errors import ConfigError
from steerlab.fields import check_fields
from steerlab.models import device_of

log = logging.getLogger(__name__)
MIN_PROMPTS = 16  # the builtin set has 20; a user file needs at least this many


def load_prompts(spec: str) -> list[str]:
    """The calibration prompts: steerlab's own neutral set ('builtin') or a JSON list of strings."""
    return load_strings(spec, "calibration_prompts.json", "strength.prompts")


def check(cfg: StrengthConfig) -> list[str]:
    """Every check that needs no model; returns the calibration prompts."""
    check_fields("strength.", cfg, StrengthConfig)  # each field's own range (the API path has no launch.py check)
    if not cfg.k_min < cfg.k_max:
        raise ConfigError(f"strength.k_min={cfg.k_min}, k_max={cfg.k_max}: need k_min < k_max")
    prompts = load_prompts(cfg.prompts)
    if len(prompts) < MIN_PROMPTS:
        raise ConfigError(f"strength.prompts: {len(prompts)} prompts; iso-KL needs at least {MIN_PROMPTS} for a stable KL estimate")
    return prompts


@dataclass
class KLProbe:
    """Calibration prompts with their base greedy continuation and the base log-probs at those positions.

    The base log-probs are the ones greedy decoding produced (KV cache); a teacher-forced pass of the
    unsteered model reproduces them up to float rounding (KL ~1e-7 nats/token, tested).
    """

    users: list[str]
    conts: list[list[int]]  # base greedy continuation of each prompt (token ids)
    base: list[torch.Tensor]  # [len(cont), vocab] base log-probs of each prompt's continuation positions
    batch_size: int

    @classmethod
    @torch.no_grad()
    def build(cls, model, tok, users: list[str], tokens: int, batch_size: int = 32) -> "KLProbe":
        from steerlab.generate import greedy

        conts, base = greedy(model, tok, [render(tok, u) for u in users], tokens, batch_size, logprobs=True)
        return cls(users, conts, base, batch_size)  # base log-probs from generation itself: no extra forward pass

    def logprobs(self, model, tok, heads: list[str], batch_size: int | None = None):
        """Yield, per prompt in order, the [len(cont), vocab] log-probs of the continuation given `heads[i]`."""
        dev, size = device_of(model), batch_size or self.batch_size
        prefixes = tok(heads, add_special_tokens=False)["input_ids"]
        for start in range(0, len(heads), size):
            idx = range(start, min(start + size, len(heads)))
            enc = tok.pad([{"input_ids": prefixes[i] + self.conts[i]} for i in idx], return_tensors="pt", padding=True)
            keep = max(len(self.conts[i]) for i in idx) + 1  # left padding: every continuation lies in the last `keep` positions
            logits = model(**{k: v.to(dev) for k, v in enc.items()}, logits_to_keep=keep).logits  # [batch, keep, vocab]
            for row, i in enumerate(idx):
                n = len(self.conts[i])
                yield logits[row, keep - n - 1 : keep - 1].float().log_softmax(-1)  # positions predicting cont tokens

    @torch.no_grad()
    def kl(self, model, tok, method, coeff: float) -> np.ndarray:
        """Per-token KL(p_steered ‖ p_base) over every continuation token, with `method` at user coefficient c."""
        from steerlab.steering import steer

        with steer(model, method, coeff) as prompt:
            heads = [render(tok, prompt(u)) for u in self.users]
            parts = oom.run(
                model,
                "kl",
                self.batch_size,
                lambda size: [
                    (lp.exp() * (lp - base)).sum(-1).clamp_min(0) for lp, base in zip(self.logprobs(model, tok, heads, size), self.base)
                ],
                len(heads),
            )
        return torch.cat(parts).cpu().numpy()


def statistic(values: np.ndarray, stat: KLStat) -> float:
    return float(np.percentile(values, 95) if KLStat(stat) == KLStat.p95 else values.mean())


class _Stop(Exception):
    """Raised inside the objective to end the search: close enough, or out of evaluations."""


@dataclass
class Solution:
    k: float
    kl_plus: float
    kl_minus: float
    evals: int
    bracket_hit: bool
    converged: bool


def solve(
    kl_pair: Callable[[float], tuple[float, float]], target: float, k_min: float, k_max: float, rtol: float, max_evals: int
) -> Solution:
    """k in [k_min, k_max] with max(KL(+k), KL(−k)) within `rtol` of `target`; root finding on f = log(KL/target) in log k.

    From k = 1 (native), secant steps in log–log space (the first assumes KL ∝ k², the small-dose law) run until
    the target is within tolerance or bracketed; brentq then refines the bracket.
    If the target is not bracketed inside [k_min, k_max], the edge is used and `bracket_hit` is set.
    """
    tol = math.log1p(rtol)
    seen: dict[float, float] = {}
    record: list[tuple[float, float, float]] = []

    def f(x: float) -> float:
        if x in seen:
            return seen[x]
        if len(record) >= max_evals:
            raise _Stop
        k = math.exp(x)
        plus, minus = kl_pair(k)
        record.append((k, plus, minus))
        seen[x] = math.log(max(plus, minus, 1e-12) / target)
        if abs(seen[x]) <= tol:
            raise _Stop
        return seen[x]

    lo, hi = math.log(k_min), math.log(k_max)
    bracket_hit = False
    try:
        found = bracket(f, min(max(0.0, lo), hi), lo, hi)
        if found is None:
            bracket_hit = True
        else:
            brentq(f, *found, xtol=tol / 4, maxiter=max_evals, disp=False)
    except _Stop:
        pass
    k, plus, minus = min(record, key=lambda r: abs(math.log(max(r[1], r[2], 1e-12) / target)))
    converged = abs(math.log(max(plus, minus, 1e-12) / target)) <= tol
    return Solution(k, plus, minus, len(record), bracket_hit and not converged, converged)


def bracket(f: Callable[[float], float], x: float, lo: float, hi: float) -> tuple[float, float] | None:
    """(a, b) with f(a), f(b) of opposite signs, by secant steps from x; None if the edge is reached first."""
    fx, slope = f(x), 2.0  # KL ∝ k² for small k: f rises by 2 per unit of log k
    while True:
        step = -fx / slope  # aim at the root; `f` stops the search when it lands within tolerance
        step = math.copysign(min(max(abs(step), math.log(1.02)), math.log(1e3)), step)
        nx = min(max(x + step, lo), hi)
        if nx == x:
            return None
        fn = f(nx)
        if (fn > 0) != (fx > 0):
            return (min(x, nx), max(x, nx))
        slope = max((fn - fx) / (nx - x), 0.25)  # saturating or non-monotone KL: take longer steps
        x, fx = nx, fn


def kl_at(probe: KLProbe, model, tok, method, stat: KLStat) -> tuple[float, float]:
    """(KL(+1), KL(−1)) of `method` at its current scale."""
    return tuple(statistic(probe.kl(model, tok, method, c), stat) for c in (1.0, -1.0))


def calibrate_strength(model, tok, method, cfg: StrengthConfig, probe: KLProbe | None = None) -> dict:
    """Set `method.scale` (iso_kl: solved; native or unscalable: 1) and return what was measured (summary keys)."""
    t0 = time.perf_counter()
    probe = probe or KLProbe.build(model, tok, check(cfg), cfg.tokens, cfg.batch_size)
    iso = StrengthMode(cfg.mode) == StrengthMode.iso_kl
    if iso and method.scalable:
        seen = []

        def pair(k: float) -> tuple[float, float]:
            method.scale = k
            plus, minus = kl_at(probe, model, tok, method, cfg.stat)
            seen.append(k)
            log.info(
                "strength %s: KL evaluation %d (at most %d), k = %.4g: KL(+k) %.4g, KL(−k) %.4g (target %g), %.0f s",
                method.name,
                len(seen),
                cfg.max_evals,
                k,
                plus,
                minus,
                cfg.target,
                time.perf_counter() - t0,
            )
            return plus, minus

        sol = solve(pair, cfg.target, cfg.k_min, cfg.k_max, cfg.rtol, cfg.max_evals)
    else:
        method.scale = 1.0
        plus, minus = kl_at(probe, model, tok, method, cfg.stat)
        sol = Solution(1.0, plus, minus, 1, False, not iso)
    method.scale = sol.k
    info = {
        "strength_mode": StrengthMode(cfg.mode).value,
        "strength_scale": sol.k,
        "kl_target": cfg.target if iso else float("nan"),
        "kl_stat": KLStat(cfg.stat).value,
        "kl_plus": sol.kl_plus,
        "kl_minus": sol.kl_minus,
        "strength_evals": sol.evals,
        "strength_seconds": time.perf_counter() - t0,
        "strength_bracket_hit": sol.bracket_hit,
        "strength_converged": sol.converged,
        "strength_scalable": bool(method.scalable),
        "strength_tokens": int(sum(len(c) for c in probe.conts)),
    }
    method.meta.update(strength={k: v for k, v in info.items() if k != "strength_seconds"})
    report(method.name, info)
    return info


def report(name: str, info: dict) -> None:
    if info["strength_bracket_hit"]:
        log.warning(
            "strength: %s cannot reach KL %.3g inside the search range; using the edge k = %.4g (KL +%.4g / −%.4g)",
            name,
            info["kl_target"],
            info["strength_scale"],
            info["kl_plus"],
            info["kl_minus"],
        )
    elif info["strength_mode"] == "iso_kl" and not info["strength_scalable"]:
        log.warning(
            "strength: %s has no continuous dose; its KL at ±1 is +%.4g / −%.4g (target %.3g)",
            name,
            info["kl_plus"],
            info["kl_minus"],
            info["kl_target"],
        )
    elif info["strength_mode"] == "iso_kl" and not info["strength_converged"]:
        log.warning(
            "strength: %s did not reach KL %.3g within %d evaluations; closest k = %.4g",
            name,
            info["kl_target"],
            info["strength_evals"],
            info["strength_scale"],
        )


def strength_line(info: dict) -> str:
    """One line for the console and report.md."""
    reached = f"KL(+k) {info['kl_plus']:.3g}, KL(−k) {info['kl_minus']:.3g} nats/token ({info['kl_stat']})"
    if info["strength_mode"] == "native":
        return f"strength native: k = 1 as fitted; {reached} over {info['strength_tokens']} calibration tokens"
    if not info["strength_scalable"]:
        return f"strength iso_kl (target {info['kl_target']:g}): no continuous dose, k = 1; {reached}"
    hit = "; BRACKET EDGE HIT (target out of reach)" if info["strength_bracket_hit"] else ""
    return (
        f"strength iso_kl (target {info['kl_target']:g}): k = {info['strength_scale']:.4g}; {reached}; "
        f"{info['strength_evals']} KL evaluations in {info['strength_seconds']:.1f} s{hit}"
    )
