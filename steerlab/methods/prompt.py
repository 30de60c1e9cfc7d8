"""Prompting baseline (SPEC §2.2): +1 / -1 prepend the positive / negative persona instruction; 0 leaves the prompt."""
from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from steerlab.errors import ConfigError
from steerlab.methods.base import FitContext, Method


@dataclass
class PromptConfig:
    name: str = MISSING
    instruction: str = "You are {persona} person."


class PromptMethod(Method):
    name = "prompt"
    scalable = False  # a persona sentence has no dose: strength calibration measures its KL at ±1 instead

    def fit(self, ctx: FitContext) -> None:
        self.meta["personas"] = list(ctx.personas)

    def check_coeffs(self, coeffs):
        bad = [c for c in coeffs if c not in (-1, 0, 1)]
        if bad:
            raise ConfigError(f"adapter=prompt supports coefficients -1, 0, 1 only; got {bad} in eval.coeffs")

    def edit_prompt(self, text: str, coeff: float) -> str:
        if coeff == 0:
            return text
        persona = self.meta["personas"][0 if coeff > 0 else 1]
        return f"{self.cfg.instruction.format(persona=persona)}\n\n{text}"
