"""peft DoRA (SPEC §2.4): LoRA with a learned magnitude, steered by `set_scale(c)`; the magnitude applies at every c != 0."""

from __future__ import annotations

from dataclasses import dataclass

from steerlab.methods.base import registered
from steerlab.methods.peft_base import LoraFamilyConfig, LoraFamilyMethod


@dataclass
class DoRAConfig(LoraFamilyConfig):
    name: str = "dora"


@registered(DoRAConfig)
class DoRAMethod(LoraFamilyMethod):
    name = "dora"
    use_dora = True
