"""Prompting baseline (SPEC §2.2): +1 / -1 prepend the positive / negative persona instruction; 0 leaves the prompt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from omegaconf import MISSING

from steerlab.errors import ConfigError
from steerlab.methods.base import Method, registered

if TYPE_CHECKING:
    from steerlab.context import FitContext


@dataclass
class PromptConfig:
    name: str = MISSING
    instruction: str = "You are {persona} person."


@registered(PromptConfig)
class PromptMethod(Method):
    name = "prompt"
    scalable = False  # a persona sentence has no dose: strength calibration measures its KL at ±1 instead
    has_direction = False
    cannot_export = "a persona prompt has no vector: prepend the instruction to the prompt in llama.cpp"
    saved = ("personas",)

    def __init__(self, cfg):
        super().__init__(cfg)
        self.personas: list[str] = []  # (positive, negative) persona phrases, from the run's data config

    def fit(self, ctx: FitContext) -> None:
        super().fit(ctx)
        self.personas = list(ctx.personas)

    def check_coeffs(self, coeffs):
        bad = [c for c in coeffs if c not in (-1, 0, 1)]
        if bad:
            raise ConfigError(f"adapter=prompt supports coefficients -1, 0, 1 only; got {bad} in eval.coeffs")

    def edit_prompt(self, text: str, coeff: float) -> str:
        if coeff == 0:
            return text
        persona = self.personas[0 if coeff > 0 else 1]
        return f"{self.cfg.instruction.format(persona=persona)}\n\n{text}"
